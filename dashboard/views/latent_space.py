"""Latent space: test-set latent codes projected to 2-D (PCA or UMAP), coloured by digit.

Each run's scatter is drawn on a canvas (fast for 10,000 points): hover a point to see its image,
drag a box to select points. The selection is one set of test images for the whole page: a box on
one run's scatter highlights the same images in every other run's scatter, and lists them below.
The digit drawn on the Draw page is marked in every run that can encode it. UMAP projections of
every size the page offers are shipped in the run folders (``scripts/project.py``); other runs and
settings are computed live behind a progress bar that counts the runs and the seconds left.
Runs trained with snapshots add a *Replay* section (:mod:`dashboard.replay`): their probe's codes at any
epoch, projections aligned from epoch to epoch so that the points move instead of jumping.
"""

import functools
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import streamlit as st

from core.explore.projections import (
    UMAP_CLOCK,
    live_progress,
    place_codes,
    project,
    read_shipped,
    shipped_key,
    timed_umap,
    weights_digest,
)
from core.explore.replay import UMAP_REPLAY_MAX_CODES
from core.models.capabilities import ENCODE, IMAGE_AND_DIGIT, IMAGE_ONLY, encoder_input
from dashboard.common import (
    drawn_code,
    drawn_digit,
    html_text,
    images_html,
    input_mode_for,
    plain,
    runs_that_can,
    seeded_indices,
    selected_runs,
    side_by_side,
    test_labels,
    test_set,
    thumbnails,
    usable,
)
from dashboard.components.latent_scatter import latent_scatter
from dashboard.replay import all_epochs, positions_of, replay_fragment, replay_heading, scatter_figure, shown_epoch

#: the page's selection, shared by its scatters: ``{"ids": sorted test indices, "source": run name}`` or None
SELECTION_KEY = "lat_selection"
#: set by a scatter's selection callback when the shared selection changed: the whole page reruns
_RELINK_KEY = "_lat_relink"

st.title("Latent space")
# the runs' cards are enough for the shipped views: a model (and torch) is loaded only when codes are needed
runs = runs_that_can(lambda run: run.can(ENCODE) and bool(run.input_modes), "encodes images", key="lat",
                     runs=selected_runs(load=False), cannot="encode images: they have no encoder")
if not runs:
    st.stop()
test_y = test_labels()

c1, c2, c3 = st.columns([1, 2, 2])
method = c1.radio("Projection", ["PCA", "UMAP"], horizontal=True, key="lat_method")
n_points = c2.select_slider("Test images", [1000, 2000, 5000, 10000], value=2000, key="lat_n",
                            help="A fixed random subset of the test set (seed 0). The shipped runs come with "
                                 "their UMAPs of every size; other runs are projected here (tens of seconds).")
mode = c3.radio("Encoder input", [IMAGE_AND_DIGIT, IMAGE_ONLY], horizontal=True, key="lat_mode",
                format_func={IMAGE_AND_DIGIT: "image + digit", IMAGE_ONLY: "image only"}.get)
indices = seeded_indices(len(test_y), n_points, 0)
drawn = drawn_digit()
st.caption("Hover a point to see its image; drag a box over points to select them: the same test images light up "
           "in every run's scatter and are listed below (double-click clears)."
           + (" ★ marks the digit you drew on the Draw page (encoded from the image alone, or with the digit "
              "the judge reads)." if drawn is not None else " Draw a digit on the Draw page to see where it lands."))


@st.cache_resource(max_entries=64, show_spinner=False)
def codes_of(run_name: str, mode: str, n: int) -> np.ndarray:
    """Codes (n, d) of the fixed test subset, shared by every session."""
    import torch

    from core.explore import latents as explore

    run = next(r for r in runs if r.name == run_name)
    test_x, test_y = test_set()
    idx = torch.as_tensor(seeded_indices(len(test_x), n, 0))
    return explore.encode_dataset(run.model, test_x[idx], test_y[idx], mode)


@st.cache_resource(show_spinner=False)
def _live_umaps() -> dict:
    """UMAPs computed here, shared by every session: ``{(run, weights SHA-1, mode, n): float32 (n, 2)}``
    (the 64 latest)."""
    return {}


def _live_key(run, mode: str) -> tuple:
    return run.name, weights_digest(run.path), mode, n_points


def _page_mode(run) -> str:
    """The encoder input the run is shown with (input_mode_for, without its caption)."""
    return mode if mode in run.input_modes else encoder_input(run)


def needs_live_umap(run) -> bool:
    """Whether this run's view is a UMAP that is neither shipped nor computed here yet."""
    if method != "UMAP" or run.latent_dim <= 2 or not run.can(ENCODE) or not run.input_modes:
        return False
    run_mode = _page_mode(run)
    if read_shipped(run.path, shipped_key("UMAP", run_mode, n_points)) is not None:
        return False
    try:
        return _live_key(run, run_mode) not in _live_umaps()
    except OSError:  # unreadable weights: the page says so when it draws the run
        return False


#: the runs whose UMAP this page run computes, in the order they are drawn (one progress bar for all)
pending = []
progress_slot = st.empty()


def live_umap(run, run_mode: str, codes: np.ndarray) -> np.ndarray:
    """UMAP (n, 2) of the run's codes, computed here behind the page's progress bar: which run of how
    many, and about how many seconds are left for them all (UMAP_CLOCK: measured in this process)."""
    store, key = _live_umaps(), _live_key(run, run_mode)
    if key in store:
        return store[key]
    k = pending.index(run.name) + 1 if run.name in pending else 1
    total = max(k, len(pending))
    estimate = UMAP_CLOCK.estimate(n_points)
    after = (total - k) * UMAP_CLOCK.estimate(n_points, compiled=True)  # the runs still to come
    start = time.perf_counter()
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(timed_umap, codes, 0)
        while True:
            done, left = live_progress(k, total, time.perf_counter() - start, estimate, after)
            progress_slot.progress(
                done, text=f"UMAP of {n_points:,} codes, run {k} of {total} ({plain(run.label)}): about {left:.0f} s left…")
            if future.done():
                break
            time.sleep(0.25)
        xy = future.result()
    store[key] = xy
    for stale in list(store)[:-64]:
        store.pop(stale, None)
    if k >= total:
        progress_slot.empty()
    return xy


def projection(run, mode: str) -> tuple[np.ndarray, str] | None:
    """2-D positions (n, 2) of the subset's codes and where they came from; None when the run's
    model is needed and cannot be loaded (the page has said so)."""
    direct = run.latent_dim <= 2
    shipped = read_shipped(run.path, shipped_key("CODES" if direct else method, mode, n_points))
    if shipped is not None:
        return shipped, "the codes themselves" if direct else f"{method} shipped with the run"
    if not usable(run):
        return None
    codes = codes_of(run.name, mode, n_points)
    if direct:
        return (codes if codes.shape[1] == 2 else np.c_[codes, np.zeros_like(codes)]), "the codes themselves"
    if method == "PCA":
        return project(codes, method="PCA", use_cache=False), "PCA of these codes"
    return live_umap(run, mode, codes), "UMAP computed here (cached for this server)"


def marker_for(run, mode: str, xy: np.ndarray):
    """Where the drawn digit lands in this run's view, or None."""
    if drawn is None or not usable(run):
        return None
    code = drawn_code(run, mode)
    if code is None:
        return None
    if run.latent_dim <= 2:
        return float(code[0]), float(code[1]) if len(code) == 2 else 0.0
    codes = codes_of(run.name, mode, n_points)
    if method == "PCA":
        from sklearn.decomposition import PCA

        point = PCA(n_components=2).fit(codes).transform(code[None])[0]
    else:
        point = place_codes(codes, xy, code[None])[0]
    return float(point[0]), float(point[1])


def render(run):
    st.markdown(f"**{plain(run.label)}**")
    run_mode = input_mode_for(run, mode)
    shown = projection(run, run_mode)
    if shown is not None:
        fragment_view(run, run_mode, *shown, run.latent_dim <= 2)


def share_selection(run_name: str, ids: np.ndarray, positions: list[int]) -> None:
    """A scatter's selection callback: a box (or a double click) on ``run_name``'s scatter becomes the
    page's selection (test indices), unless it is the page's selection already."""
    picked = sorted(int(ids[i]) for i in positions)
    shared = st.session_state.get(SELECTION_KEY) or {"ids": []}
    if picked != sorted(set(shared["ids"]) & set(ids.tolist())):
        st.session_state[SELECTION_KEY] = {"ids": picked, "source": run_name} if picked else None
        st.session_state[_RELINK_KEY] = True


@st.fragment
def fragment_view(run, run_mode: str, xy: np.ndarray, source: str, direct: bool) -> None:
    """The scatter: a box drawn on it reruns this part, and the whole page when the selection changed
    (every scatter then highlights it)."""
    if st.session_state.pop(_RELINK_KEY, False):
        st.rerun()
    labels = test_y[indices]
    shared = st.session_state.get(SELECTION_KEY)
    here = np.flatnonzero(np.isin(indices, shared["ids"])) if shared else np.zeros(0, dtype=np.int64)
    latent_scatter(xy, labels, key=f"lat_{run.name}_{method}_{run_mode}_{n_points}",
                   thumbnails=thumbnails(n_points), marker=marker_for(run, run_mode, xy),
                   marker_label="your digit", drag="select", ids=indices, selected=here,
                   on_select=functools.partial(share_selection, run.name, indices), link="latent_space",
                   axis_labels=("z1", "z2") if direct else (f"{method} 1", f"{method} 2"))
    st.caption(f"{len(xy):,} test codes ({source}).")
    if shared and shared["source"] != run.name and len(here):
        st.caption(f"Highlighted: the {len(here):,} test images selected on {plain(label_of(shared['source']))}.")


def label_of(run_name: str) -> str:
    return next((r.label for r in runs if r.name == run_name), run_name)


def show_selection() -> None:
    """The page's selection, once, under the scatters: its test images and their indices."""
    shared = st.session_state.get(SELECTION_KEY)
    picked = [int(i) for i in indices[np.isin(indices, shared["ids"])]] if shared else []
    if not picked:
        return
    shown = picked[:40]
    st.markdown(f"Selected {len(picked)} of {n_points:,} points (a box on {html_text(label_of(shared['source']))})"
                + (f", the first {len(shown)} shown" if len(picked) > len(shown) else "") + ":<br>"
                + images_html(test_images(shown), nrow=20, scale=2, title="selected test images"),
                unsafe_allow_html=True)
    st.caption("Test indices (digit): " + html_text(", ".join(f"#{i} ({int(test_y[i])})" for i in shown)))


def test_images(indices: list[int]) -> np.ndarray:
    """Test images (n, 1, 28, 28) float32 in [0, 1]."""
    from core.data.mnist import shared_mnist_arrays

    return shared_mnist_arrays(train=False)[0][indices][:, None].astype(np.float32) / 255.0


pending[:] = [run.name for run in runs if needs_live_umap(run)]
side_by_side(runs, render, max_cols=2)
progress_slot.empty()
show_selection()


# --- replay: the codes of every epoch of runs trained with snapshots ---------------------------------------

def replay_section() -> None:
    """The Replay section: for the runs with snapshots, the probe's codes at the epoch of the slider (aligned
    PCA, or the codes themselves for a latent of at most 2 dimensions), coloured by digit; one line otherwise."""
    replayed = replay_heading(runs, need="codes")
    if not replayed:
        return
    cheap = [run.name for run, frames in replayed
             if run.latent_dim > 2 and len(frames.epochs) * len(frames.labels) <= UMAP_REPLAY_MAX_CODES]
    method = "PCA"
    if cheap:
        method = st.radio("Replay projection", ["PCA", "UMAP"], horizontal=True, key="lat_replay_method",
                          help=f"UMAP is offered for runs with at most {UMAP_REPLAY_MAX_CODES:,} codes in all "
                               "their epochs together (one UMAP per epoch, each started from the previous "
                               "epoch's: seconds each, about a minute the first time); the others use PCA.")
    shown = []
    for run, frames in replayed:
        run_method = method if run.name in cheap else "PCA"
        try:
            xy, ranges = positions_of(run, run_method)
        except ValueError as exc:
            st.warning(f"The replay of **{plain(run.label)}** is not shown: {plain(exc)}.")
            continue
        how = ("the codes themselves" if run.latent_dim <= 2 else
               f"{run_method} of each epoch's codes, turned to match the previous epoch's")
        shown.append((run, frames, xy, ranges, run_method, how))
    if not shown:
        return
    st.caption("The same test images at every epoch (0 = the untrained model), placed by "
               + "; ".join(dict.fromkeys(f"{plain(s[5])}" for s in shown))
               + ". The axes hold every epoch, so the points move as the model learns.")

    def draw(epoch: int) -> None:
        def one(item) -> None:
            run, frames, xy, ranges, run_method, _ = item
            index, words = shown_epoch(frames, epoch)
            st.markdown(f"**{plain(run.label)}** · {plain(words)}")
            titles = ("z1", "z2") if run.latent_dim <= 2 else (f"{run_method} 1", f"{run_method} 2")
            st.plotly_chart(scatter_figure(xy[index], frames.labels, ranges, titles), width="stretch",
                            key=f"lat_replay_{run.name}")
            st.caption(f"{len(frames.labels):,} test codes at {plain(words)}.")

        side_by_side(shown, one, max_cols=2)

    replay_fragment("lat_replay", all_epochs([(run, frames) for run, frames, *_ in shown]), draw)


replay_section()
