"""Shared dashboard plumbing: the run catalogue, cached data, the run picker, side-by-side layout.

Pages lay out; the work is done by ``core``. Runs are listed from their JSON files (no torch
needed for the first page); a model's weights are loaded the first time a page uses it, once per
process and shared by every session (``core.runs.catalog.RunInfo.model``). Big arrays shared between
sessions (the test set, codes, projections) are cached as resources, never copied per session.
"""

from __future__ import annotations

import logging
import os
import re
import threading

import numpy as np
import streamlit as st

from core.data.mnist import DataError, ensure_mnist, file_status
from core.paths import checkpoint_root
from core.runs.catalog import RunInfo, is_judge, list_runs
from core.runs.format import CheckpointError

RUNS_KEY = "runs"          # the sidebar picker's widget key
CHOSEN_KEY = "chosen_runs"  # the choice itself, kept across pages (the picker writes it on change)
DRAWN_KEY = "drawn_digit"   # the latest digit drawn or uploaded on the Draw page (see drawn_digit())
ARCHIVE_KEY = "archive"     # this session's archive until the browser says its id (see session_archive())
BROWSER_KEY = "browser_id"  # this browser's id, once known (see session_archive())
SHARED_KEY = "shared_tokens"  # the share tokens this session opened by link (see shared_runs())
SHARED_PARAM = "shared"     # the address's share token(s): ?shared=<token>
SHARE_PROBLEMS_KEY = "share_problems"  # sentences about links that led nowhere, until the sidebar shows them
SHARE_PAGE = "loss_curves"  # the page a share link opens (its url_path)
DEFAULT_RUNS = ("cae-z32-s0", "cvae-z32-s0")
DIGITS = list(range(10))
#: the dashboard's one palette: Tableau 10 (made for categories), its light grey #bab0ac replaced by
#: the darker #79706e so that the tenth colour (digit 9) stays visible on white
TABLEAU_10 = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
              "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#79706e")
#: digit d is drawn in DIGIT_COLOURS[d] on every page (and in the latent scatter component)
DIGIT_COLOURS = TABLEAU_10

log = logging.getLogger("digitlab.dashboard")


@st.cache_resource(show_spinner=False)
def _catalog(root: str, stamp: tuple) -> tuple[dict[str, RunInfo], dict[str, CheckpointError]]:
    return list_runs(root)


def _stamp(root: str) -> tuple:
    """Names and modification times of the run folders: a new or rewritten run is listed again.
    (One ``stat`` per file, about 0.2 ms for 14 runs: called on every rerun.)"""
    try:
        entries = os.scandir(root)
    except OSError:
        return ()
    stamp = []
    with entries:
        for entry in entries:
            if not entry.is_dir():
                continue
            times = []
            for name in ("config.json", "weights.pt"):
                try:
                    times.append(os.stat(os.path.join(entry.path, name)).st_mtime)
                except OSError:
                    times.append(0.0)
            stamp.append((entry.name, *times))
    return tuple(sorted(stamp))


def all_runs() -> tuple[dict[str, RunInfo], dict[str, CheckpointError]]:
    """Every run folder (the judge included) and the folders that could not be listed."""
    root = str(checkpoint_root())
    return _catalog(root, _stamp(root))


def runs_and_errors() -> tuple[dict[str, RunInfo], dict[str, CheckpointError]]:
    """Compared runs (every role but the judge) and the unreadable run folders: the shipped runs, then the
    runs this browser trained on the Train page (:func:`user_runs`), then those shared with it by link
    (:func:`shared_runs`)."""
    runs, errors = all_runs()
    runs = {name: run for name, run in runs.items() if not is_judge(run)}
    mine, _ = user_runs()
    for more in (mine, shared_runs()):
        runs.update({name: run for name, run in more.items() if name not in runs and not is_judge(run)})
    return runs, errors


def browser() -> str | None:
    """This browser's id once known (:func:`dashboard.components.browser_store.browser_id`), else None."""
    known = st.session_state.get(BROWSER_KEY)
    if known is None:
        from dashboard.components.browser_store import cookie_id

        known = cookie_id()
        if known is not None:
            st.session_state[BROWSER_KEY] = known
    return known


@st.cache_resource(show_spinner=False)
def _user_catalog(root: str, stamp: tuple, tag: str) -> tuple[dict[str, RunInfo], dict[str, CheckpointError]]:
    runs, errors = list_runs(root)
    for run in runs.values():
        run.tag = tag
    return runs, errors


def user_runs() -> tuple[dict[str, RunInfo], dict[str, CheckpointError]]:
    """The finished runs this browser trained from the dashboard (visible to it alone), and those that
    could not be listed."""
    from core.paths import browser_folder, user_runs_root

    owner = browser()
    if owner is None:
        return {}, {}
    root = str(browser_folder(user_runs_root(), owner))
    return _user_catalog(root, _stamp(root), "yours")


def shared_runs() -> dict[str, RunInfo]:
    """The runs other browsers shared with this session by link (``?shared=<token>``, remembered for the
    session under :data:`SHARED_KEY`; see :mod:`core.training.sharing`). A token that leads nowhere is
    dropped, with a sentence saying why under :data:`SHARE_PROBLEMS_KEY` (the sidebar shows it)."""
    from core.paths import user_runs_root
    from core.training.sharing import ShareError, resolve

    tokens = st.session_state.setdefault(SHARED_KEY, [])
    for value in st.query_params.get_all(SHARED_PARAM):
        tokens.extend(t.strip().lower() for t in value.split(",") if t.strip() and t.strip().lower() not in tokens)
    root, owner = user_runs_root(), browser()
    found, kept = {}, []
    for token in tokens:
        try:
            path = resolve(root, token)
        except ShareError as exc:
            st.session_state.setdefault(SHARE_PROBLEMS_KEY, []).append(str(exc))
            continue
        kept.append(token)
        if path.parent.name == owner:
            continue  # the owner sees it among their own runs
        runs, _ = _user_catalog(str(path.parent), _stamp(str(path.parent)), "shared")
        if path.name in runs:
            found[path.name] = runs[path.name]
    st.session_state[SHARED_KEY] = kept
    return found


def share_link(token: str, run: str) -> str:
    """The address that opens the dashboard with the shared run ``run`` chosen (``?shared=…&runs=…``), on the
    Loss curves page of this server (the address the browser used: :attr:`st.context.url`)."""
    from urllib.parse import urlencode, urlsplit, urlunsplit

    parts = urlsplit(st.context.url or "http://localhost:8501/")
    path = parts.path.rstrip("/")
    path = path[:path.rfind("/")] if path.count("/") > 0 else ""  # the app's root: this page's path less its name
    return urlunsplit((parts.scheme, parts.netloc, f"{path}/{SHARE_PAGE}",
                       urlencode({SHARED_PARAM: token, "runs": run}), ""))


@st.cache_resource(show_spinner=False)
def _training_manager(root: str):
    from core.training.jobs import TrainingManager

    return TrainingManager(root).start()


def training_manager():
    """The server's :class:`core.training.jobs.TrainingManager` (one per process and user-runs folder),
    started on first use: its loop runs, and a warm worker waits for the first training."""
    from core.paths import user_runs_root

    return _training_manager(str(user_runs_root()))


def judge_run() -> RunInfo | None:
    """The judge classifier's run (the first one whose weights load), or None when none is usable."""
    for run in all_runs()[0].values():
        if is_judge(run) and usable(run):
            return run
    return None


def usable(run: RunInfo) -> bool:
    """Load the run's model if needed; False (and one warning naming the run) when it cannot be."""
    try:
        run.model
    except CheckpointError as exc:
        st.warning(f"Run {plain(run.name)} is left out: {plain(exc.kind)}. The server log has the details.")
        return False
    return True


def _one_line_unlinked(text: object) -> str:
    """``str(text)`` on one line (line breaks as spaces), with a zero-width space inside what
    Streamlit's markdown would turn into a link by itself (``://``, ``www.``, ``@``): it finds
    those in the text after parsing, so escaping their characters is not enough."""
    text = re.sub(r"\r\n?|\n", " ", str(text))
    return re.sub(r"(?i)(://|www\.|@)", lambda m: m.group(1)[0] + "\u200b" + m.group(1)[1:], text)


def plain(text: object) -> str:
    """``text`` made safe to show inside Streamlit markdown as plain words (st.markdown, st.caption,
    alerts, widget labels, radio options): every ASCII punctuation character is backslash-escaped
    (CommonMark), so text from the address bar or a file can never become a link, an image, HTML, a
    colour, an icon or a formula; a zero-width space breaks what the renderer would turn into a
    link by itself (``://``, ``www.``, ``@``); line breaks become spaces (a blank line would split
    the paragraph, and the bold around a name with it). For text inside HTML use :func:`html_text`."""
    return re.sub(r"([\\`*_{}\[\]()<>#+\-.!|:$~=\"'&;/@^%,?])", r"\\\1", _one_line_unlinked(text))


def ensure_data() -> bool:
    """Make sure MNIST is present (checked once per process); fetch it with a visible status if
    not. False if impossible."""
    if _data_ok(_data_stamp()):
        return True
    with st.status("MNIST files are missing: fetching them now (about a minute)…", expanded=True) as status:
        try:
            ensure_mnist(log=status.write)
        except DataError as exc:
            status.update(label="Could not get MNIST", state="error")
            # files named relative to the project (core.data.mnist); the sources' own words escaped, one per line
            st.error("  \n".join(plain(line.strip()) for line in str(exc).splitlines() if line.strip()))
            return False
        status.update(label="MNIST fetched and verified", state="complete", expanded=False)
    _data_ok.clear()
    return True


def _data_stamp() -> tuple:
    from core.data.mnist import MNIST_MD5, raw_dir

    folder = raw_dir()
    return tuple((name, (folder / name).stat().st_mtime if (folder / name).exists() else None) for name in MNIST_MD5)


@st.cache_resource(show_spinner=False)
def _data_ok(stamp: tuple) -> bool:
    return all(state == "ok" for state in file_status().values())


def test_set():
    """The 10,000 MNIST test images (float32 (N, 1, 28, 28) in [0, 1]) and labels (int64 (N,)),
    read once per process and shared by every session (do not modify in place)."""
    from core.data.mnist import shared_mnist

    return shared_mnist(train=False)


def test_labels() -> np.ndarray:
    """The 10,000 test digits, int64 (N,), read once per process (no torch needed)."""
    from core.data.mnist import shared_mnist_arrays

    return shared_mnist_arrays(train=False)[1]


def thumbnails(n: int) -> np.ndarray:
    """uint8 (n, 28, 28) pictures of the fixed test subset ``seeded_indices(10000, n, 0)``, for the
    latent scatters' hover tooltips; made once per process (no torch needed)."""
    return _thumbnails(n)


@st.cache_resource(max_entries=16, show_spinner=False)
def _thumbnails(n: int) -> np.ndarray:
    from core.data.mnist import shared_mnist_arrays

    images = shared_mnist_arrays(train=False)[0]
    return images[seeded_indices(len(images), n, 0)]


def archive_store():
    """The server's store of every browser's archive (:class:`core.explore.archive.ArchiveStore`,
    under ``core.paths.cache_root()/archives``), one per process and cache folder."""
    from core.paths import cache_root

    return _archive_store(str(cache_root() / "archives"))


@st.cache_resource(show_spinner=False)
def _archive_store(root: str):
    from core.explore.archive import ArchiveStore

    return ArchiveStore(root)


def session_archive(ask_browser: bool = True):
    """This browser's archive of classified digits (:class:`core.explore.archive.Archive`), kept on
    the server under the browser's random id (:func:`dashboard.components.browser_store.browser_id`):
    it survives reloads and browser restarts, and no other browser sees it.

    Until the browser has said its id (the first run of its first visit), the digits go to an archive
    of this session only, moved into the browser's archive once the id is known. ``ask_browser``:
    mount the id component when the id is not known yet (False inside fragments: the component must
    sit outside them, at the same place on every run, for its answer to rerun the page).
    """
    from core.explore.archive import Archive

    browser = st.session_state.get(BROWSER_KEY)
    if browser is None and ask_browser:
        from dashboard.components.browser_store import browser_id

        browser = browser_id()
        if browser is not None:
            st.session_state[BROWSER_KEY] = browser
    if browser is None:
        if ARCHIVE_KEY not in st.session_state:
            st.session_state[ARCHIVE_KEY] = Archive()
        return st.session_state[ARCHIVE_KEY]
    archive = archive_store().open(browser)
    pending = st.session_state.pop(ARCHIVE_KEY, None)
    for _, entry in pending.numbered() if pending is not None else ():
        archive.record(entry)
    return archive


def archive_key(page: str, drawing: bool, has_input: bool, upload_id: str = "") -> str:
    """The archive key of a page's current input: one drawing (or upload) is one archive entry.

    A drawing keeps its key until the canvas is emptied (Clear canvas, or Undo of the last stroke);
    switching the page's input away from the canvas and back (the canvas then reports "empty" once,
    before it sends its drawing again), a noise change or a rerun keep it. Keys hold a random token
    of this session, so that a drawing of a later visit never replaces one of an earlier visit.

    Args:
        page: the page's key prefix (its state is ``st.session_state[f"{page}_archive_key"]``).
        drawing: the input is the canvas (else an upload).
        has_input: there is a drawing (or picture) now.
        upload_id: the uploaded file's id (uploads only).
    """
    import secrets

    state = st.session_state.setdefault(f"{page}_archive_key",
                                        {"token": secrets.token_hex(8), "seq": 0, "open": False, "was_drawing": False})
    if drawing:
        if state["was_drawing"] or has_input:  # not the remount after switching back to the canvas
            if not has_input and state["open"]:
                state["seq"] += 1
            state["open"] = has_input
        key = f"drawn:{state['token']}:{state['seq']}"
    else:
        key = f"upload:{state['token']}:{upload_id}"
    state["was_drawing"] = drawing
    return key


def drawn_digit() -> np.ndarray | None:
    """The digit last drawn or uploaded on the Draw page in this session: float32 (28, 28) in
    [0, 1] after MNIST preprocessing, or None."""
    return st.session_state.get(DRAWN_KEY)


def drawn_code(run: RunInfo, mode: str) -> np.ndarray | None:
    """The drawn digit's latent code in ``run``: float32 (latent_dim,), encoded with input ``mode``
    (the digit, when the mode takes one, is the judge's reading). None when nothing is drawn, or the
    mode needs a digit and no judge can read it."""
    import torch

    from core.explore import latents as explore
    from core.models.capabilities import IMAGE_ONLY

    drawn = drawn_digit()
    if drawn is None:
        return None
    x = torch.from_numpy(np.asarray(drawn, dtype=np.float32)).reshape(1, 1, 28, 28)
    y = torch.zeros(1, dtype=torch.long)
    if mode != IMAGE_ONLY:
        judge = judge_run()
        if judge is None:
            return None
        y = torch.tensor([int(explore.class_probabilities(judge.model, x).argmax())])
    return np.asarray(explore.encode_dataset(run.model, x, y, mode)[0], dtype=np.float32)


def chosen_names() -> list[str]:
    """Names of the runs chosen in the sidebar, in the picker's order."""
    return list(st.session_state.get(CHOSEN_KEY, []))


def selected_runs(min_runs: int = 1, load: bool = True) -> list[RunInfo]:
    """The runs picked in the sidebar, with their models loaded (``load``; a run whose weights
    cannot be loaded is left out with a warning). With ``load=False`` the page works from the
    runs' cards and loads (:func:`usable`) only what it needs. Stops the page if fewer than
    ``min_runs`` remain."""
    runs, _ = runs_and_errors()
    chosen = [runs[name] for name in chosen_names() if name in runs]
    if load:
        chosen = [run for run in chosen if usable(run)]
    if len(chosen) < min_runs:
        st.info("Pick at least one run in the sidebar (**Runs to compare**).")
        st.stop()
    return chosen


def add_runs(names: list[str]) -> None:
    """Add runs to the sidebar choice (kept in the address as ``?runs=``)."""
    chosen = chosen_names()
    st.session_state[CHOSEN_KEY] = chosen + [n for n in names if n not in chosen]


def runs_that_can(test, what: str, key: str, runs: list[RunInfo] | None = None, cannot: str | None = None) -> list[RunInfo]:
    """The chosen runs that can serve a view (``test(run) -> bool`` on a listed run), so that a view
    never opens empty nor shows an empty column: the runs that cannot are named once, in one line
    (``cannot`` completes "… cannot …"; say why), and when none of them can, the first shipped run
    that can is shown instead, with a sentence saying so (``what`` completes "None of the chosen runs
    …") and a button that adds it to the comparison. Returns [] (after saying so) only when no shipped
    run can either; runs whose weights cannot be loaded are left out with a warning (:func:`usable`).

    Args:
        test: ``test(run) -> bool`` on a :class:`core.runs.catalog.RunInfo` (its card; no weights needed).
        what: e.g. "has a 2-D latent".
        key: widget key prefix of the add button.
        runs: the runs to pick from (default: the sidebar's choice, loaded).
        cannot: e.g. "reconstruct: they have no encoder"; default: "serve this view".
    """
    runs = selected_runs() if runs is None else runs
    chosen = [run for run in runs if test(run)]
    if chosen:
        left = [run for run in runs if not test(run)]
        if left:
            names = [f"**{plain(run.label)}**" for run in left]
            listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            st.caption(f"Not shown here: {listed} cannot {plain(cannot or 'serve this view')}.")
        return chosen
    catalog, _ = runs_and_errors()
    for run in catalog.values():
        if test(run) and run.name not in chosen_names() and usable(run):
            st.info(f"None of the chosen runs {what}: shown here with **{plain(run.label)}**, a shipped run that can.",
                    icon=":material/swap_horiz:")
            st.button(f"Add {plain(run.label)} to the comparison", key=f"{key}_add_{run.name}", on_click=add_runs,
                      args=([run.name],), icon=":material/add:")
            return [run]
    st.info(f"None of the chosen runs {what}, and no shipped run can.")
    return []


def noise_control(key: str, kinds=None):
    """A row of controls to corrupt the input (seed 002's noise test): kind, level and seed.

    Args:
        key: widget key prefix (``{key}_noise_kind``, ``{key}_noise_{kind name}``, ``{key}_noise_seed``).
        kinds: the :class:`core.data.corruptions.NoiseKind` objects offered (default the study's
            ``NOISE_KINDS``; the Draw page offers ``DRAWING_NOISE_KINDS``, whose noise shows on a drawing).

    Returns:
        a :class:`NoiseChoice` (call it on float (N, 1, 28, 28) images in [0, 1]), or None when no
        noise is chosen (level 0 included).
    """
    from core.data.corruptions import NOISE_KINDS

    kinds = tuple(NOISE_KINDS if kinds is None else kinds)
    c1, c2, c3 = st.columns([2, 3, 1])
    names = ["none"] + [kind.name for kind in kinds]
    labels = {"none": "No noise", **{kind.name: kind.label for kind in kinds}}
    choice = c1.selectbox("Noise on the input", names, format_func=labels.get, key=f"{key}_noise_kind",
                          help="Seed 002 adds noise to the input to test the models' stability. The full "
                               "study over the test set is on the Noise robustness page.")
    if choice == "none":
        return None
    kind = next(k for k in kinds if k.name == choice)
    top = float(kind.levels[-1])
    level = c2.slider(kind.level_name, 0.0, top, float(kind.levels[2]), float(kind.step), key=f"{key}_noise_{choice}",
                      help=kind.description)
    seed = int(c3.number_input("Noise seed", 0, 9999, 0, key=f"{key}_noise_seed"))
    if level == 0:
        return None
    return NoiseChoice(kind, float(level), seed)


class NoiseChoice:
    """A noise chosen with :func:`noise_control`: call it on images; ``text`` says what it is, e.g.
    "Gaussian noise, σ 0.2 (seed 0)"."""

    def __init__(self, kind, level: float, seed: int):
        self.kind, self.level, self.seed = kind, level, seed
        self.text = f"{kind.label}, {kind.level_name.split(' (')[0]} {level:g} (seed {seed})"

    def __call__(self, x):
        """``x`` (float (N, 1, 28, 28) in [0, 1]) with the noise (a new tensor, same shape)."""
        return self.kind(x, self.level, self.seed)


#: uploads larger than this are refused with a sentence (Streamlit's own limit, larger, only shows a chip)
MAX_UPLOAD_MB = 5


@st.cache_data(max_entries=8, show_spinner=False)
def decode_upload(data: bytes, invert: bool) -> np.ndarray:
    """:func:`core.data.preprocess.image_from_bytes`, once per picture (a phone photo takes ~0.5 s)."""
    from core.data.preprocess import image_from_bytes

    return image_from_bytes(data, invert=invert)


def read_upload(key: str, label: str) -> np.ndarray | None:
    """An uploader (widget keys ``{key}_upload``, ``{key}_invert``): the picture as ink (H, W) in
    [0, 1], or None. When a picture was uploaded but cannot be used, the reason and what to do are
    shown here and :func:`upload_failed` says so for the rest of the run (the page then shows no
    "upload a picture" prompt beside the error). The upload's id and name are kept in
    ``st.session_state[f"{key}_upload_id"]``."""
    from core.data.preprocess import UploadError

    st.session_state[f"{key}_upload_failed"] = False
    upload = st.file_uploader(label, type=["png", "jpg", "jpeg", "bmp"], key=f"{key}_upload",
                              max_upload_size=10 * MAX_UPLOAD_MB)
    invert = st.checkbox("Dark digits on a light background", value=True, key=f"{key}_invert",
                         help="Photos and scans of paper. The paper's background and uneven lighting are "
                              "removed; a clearly light-on-dark picture is recognised by itself.")
    if upload is None:
        return None
    st.session_state[f"{key}_upload_id"] = (upload.file_id, upload.name)
    st.session_state[f"{key}_upload_failed"] = True  # until the picture is read
    if upload.size > MAX_UPLOAD_MB * 1024 * 1024:
        st.error(f"{plain(upload.name)} is {upload.size / 1024 / 1024:.1f} MB; Digit Lab reads pictures up to "
                 f"{MAX_UPLOAD_MB} MB. Shrink it and upload it again.")
        return None
    try:
        ink = decode_upload(upload.getvalue(), bool(invert))
    except UploadError as exc:
        st.error(f"{plain(upload.name)}: {plain(exc)}")
        return None
    if not ink.any():
        st.warning(f"No ink stands out from the background of {plain(upload.name)}. Try a picture with darker "
                   "ink, or untick *Dark digits on a light background* for light digits on a dark background.")
        return None
    st.session_state[f"{key}_upload_failed"] = False
    return ink


def upload_failed(key: str) -> bool:
    """True when, in this run, :func:`read_upload` (same ``key``) got a picture it could not use and
    said why."""
    return bool(st.session_state.get(f"{key}_upload_failed"))


def side_by_side(items: list, render, max_cols: int = 4) -> None:
    """Call ``render(item)`` for each item in columns, ``max_cols`` per row."""
    for start in range(0, len(items), max_cols):
        chunk = items[start:start + max_cols]
        for col, item in zip(st.columns(len(chunk)), chunk):
            with col:
                render(item)


def skip_note(run: RunInfo, capability: str) -> None:
    """Say that a run cannot serve this view instead of failing."""
    st.caption(f"**{plain(run.label)}** cannot {plain(capability)}: not shown here.")


def input_mode_for(run: RunInfo, mode: str) -> str:
    """The input mode a run is shown with: ``mode`` when it accepts it, else the one it encodes with
    (:func:`core.models.capabilities.encoder_input`), with a caption saying so (an unsupervised model
    never takes the digit)."""
    from core.models.capabilities import IMAGE_ONLY, encoder_input

    if mode in run.input_modes:
        return mode
    served = encoder_input(run)
    if served == IMAGE_ONLY:
        st.caption(f"From the image only: {plain(run.display_name)} does not take the digit.")
    else:
        st.caption(f"From the image and its digit: {plain(run.display_name)} does not take the image alone.")
    return served


def show_images(images, nrow: int, caption: str | None = None, scale: int = 3) -> None:
    """Tile and show images (N, 1, 28, 28) in [0, 1], inline (drawn with the page's own message, no
    separate image request), with an optional caption below."""
    st.markdown(images_html(images, nrow=nrow, scale=scale, title=caption or ""), unsafe_allow_html=True)
    if caption:
        st.caption(caption)


def fmt_metric(run: RunInfo, key: str, digits: int = 2, percent: bool = False) -> str:
    """A test metric of a run as text, or an em dash when the run has none."""
    entry = run.metrics.get(key)
    if not entry:
        return "—"
    value = entry["value"]
    return f"{100 * value:.{digits}f} %" if percent else f"{value:.{digits}f}"


def seeded_indices(n_total: int, count: int, seed: int) -> np.ndarray:
    """``count`` distinct test indices drawn with ``seed`` (sorted for readability)."""
    rng = np.random.default_rng(int(seed))
    return np.sort(rng.choice(n_total, size=min(count, n_total), replace=False))


def results_table():
    """The shipped results table: ``(DataFrame or None, path, error message or None)``; re-read
    when the file changes. The error message is Markdown: the file's name (relative to the
    project) and every cell it quotes are escaped with :func:`plain`."""
    from core.evaluation.table import TABLE_NAME, TableError

    path = checkpoint_root() / TABLE_NAME
    try:
        return _read_results(str(path), path.stat().st_mtime if path.exists() else 0.0), path, None
    except TableError as exc:
        return None, path, exc.render(plain)


@st.cache_data(show_spinner=False)
def _read_results(path: str, mtime: float):
    from core.evaluation.table import read_table

    return read_table(path)


_warm_lock = threading.Lock()
_warmed: set[str] = set()


def warm_up(names: list[str]) -> None:
    """After a page is drawn: load, in a background thread, what the next gesture will need (torch,
    the chosen runs' and the judge's weights, the test set), so it does not wait for them.
    Each run is warmed once per process; errors are left for the page that uses the run."""
    runs, _ = all_runs()
    todo = [runs[n] for n in names if n in runs] + [r for r in runs.values() if is_judge(r)]
    with _warm_lock:
        todo = [run for run in todo if run.name not in _warmed]
        first = not _warmed
        _warmed.update(run.name for run in todo)
    if not todo:
        return

    def work():
        try:
            if first:
                # torch before scikit-learn: scikit-learn's array-API support can import torch, and a page
                # importing torch while this thread held scikit-learn's import lock met a half-imported torch
                import importlib

                for module in ("torch", "core.explore", "sklearn.decomposition"):  # the last: PCA on the latent pages
                    importlib.import_module(module)

                test_set()
            for run in todo:
                try:
                    run.model
                except CheckpointError:
                    pass
        except Exception:  # a warm-up never breaks the app; the page that needs it reports
            log.exception("warm-up failed")

    threading.Thread(target=work, name="digitlab-warm-up", daemon=True).start()


def png_data_uri(image: np.ndarray, scale: int = 1) -> str:
    """A picture as an inline PNG ``data:`` URI (drawn with the page, no extra request).

    Args:
        image: grey float (H, W) in [0, 1] or uint8 (H, W); or colour uint8 (H, W, 3).
        scale: nearest-neighbour upscaling factor (pixels stay crisp).
    """
    import base64
    import io

    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    if scale > 1:
        arr = arr.repeat(scale, 0).repeat(scale, 1)
    buffer = io.BytesIO()
    Image.fromarray(arr).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def images_html(images, nrow: int, scale: int = 2, title: str = "") -> str:
    """Tiled images (N, 1, 28, 28) in [0, 1] as one inline ``<img>`` (see :func:`png_data_uri`)."""
    from core.explore import latents as explore

    tiled = explore.tile(images, nrow=nrow)
    alt = html_text(title or "images")
    return (f'<img class="dl-img" alt="{alt}" width="{tiled.shape[1] * scale}" height="{tiled.shape[0] * scale}" '
            f'src="{png_data_uri(tiled)}">')


#: what :func:`html_text` writes for each character: HTML's own (& < > " ') as references, and
#: markdown's active punctuation as numeric references, which a markdown parser shows as the
#: character but never reads as syntax (CommonMark: "entity and numeric character references
#: cannot be used in place of symbols indicating structure")
_HTML_TEXT = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;",
              **{c: f"&#{ord(c)};" for c in "\\`*_[]!|:$~#@"}}
_HTML_TEXT_TABLE = str.maketrans(_HTML_TEXT)


def html_text(text: object) -> str:
    """``text`` made safe to show as plain words inside HTML, wherever that HTML goes.

    For the text of an element or a quoted attribute in ``st.html``, in an ``st.markdown(...,
    unsafe_allow_html=True)`` block, and in Plotly's labels (legend, hover, titles: Plotly reads
    ``&lt; &gt; &amp;`` and numeric references). Besides HTML's ``& < > " '``, markdown's active
    punctuation is written as numeric references (shown as the character, never read as a link,
    emphasis, code, formula, colour or icon), a zero-width space breaks what markdown would link
    by itself (``://``, ``www.``, ``@``), and line breaks become spaces: a blank line would end an
    HTML block inside markdown and let what follows be read as markdown. In markdown without HTML
    use :func:`plain`.
    """
    return _one_line_unlinked(text).translate(_HTML_TEXT_TABLE)
