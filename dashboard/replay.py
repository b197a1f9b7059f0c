"""The replay of a training, shared by the Loss curves, Latent space and Generation grids pages.

A run trained with snapshots (``python scripts/train.py`` records them; :mod:`core.runs.snapshots`) keeps
what its model made of fixed inputs after every epoch. Each page adds a *Replay* section for the chosen
runs that have them: an epoch slider with a Play button (:func:`replay_fragment`) and what the page shows
at that epoch. Everything an epoch needs is read and projected once per run and cached as a resource
(:func:`frames_of`, :func:`positions_of`: keyed by the run folder and its snapshot folder's modification
time, so a retrained run is read again), and the slider lives in a fragment that only looks arrays up and
draws: moving it reruns the fragment, not the page. Runs without snapshots are left as they are; when no
chosen run has any, the pages say so in one line (:data:`NO_REPLAY`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence

import numpy as np
import streamlit as st

from core.explore.replay import ReplayFrames, has_snapshots, metrics_table, replay_frames, replay_positions
from core.runs.catalog import RunInfo
from core.runs.format import CheckpointError
from core.runs.snapshots import snapshot_dir
from dashboard.common import DIGIT_COLOURS, html_text, plain, png_data_uri

log = logging.getLogger("digitlab.dashboard")

#: seconds between two frames while playing
PLAY_SECONDS = 0.5
#: the line shown where the replay would be when none of the chosen runs has snapshots
NO_REPLAY = ("Replay needs a run trained with snapshots (`python scripts/train.py` records them); "
             "none of the chosen runs has any.")
#: what a run must hold for a page's replay: its frames' property, and why a run is left out without it
NEEDS = {"codes": ("has_codes", "its snapshots hold no latent codes"),
         "grids": ("has_grids", "its snapshots hold no grids")}


# --- cached resources ----------------------------------------------------------------------------------

def snapshot_stamp(run: RunInfo) -> float:
    """The modification time of the run's snapshot folder (seconds since the epoch; 0.0 when it has none):
    it changes when a snapshot file is added or replaced, so cached frames are read again."""
    return _folder_stamp(run.path)


@st.cache_resource(max_entries=16, show_spinner=False)
def _frames(path: str, stamp: float) -> ReplayFrames:
    return replay_frames(path)


def frames_of(run: RunInfo) -> ReplayFrames:
    """Every snapshot of ``run`` (:func:`core.explore.replay.replay_frames`), read once per process and
    snapshot folder version, shared by every session (do not modify).

    Raises:
        CheckpointError: no snapshots, or a missing or damaged snapshot file (its ``kind`` says so in words).
    """
    return folder_frames(run.path)


def folder_frames(path: str | os.PathLike) -> ReplayFrames:
    """:func:`frames_of` for the run folder ``path`` (a finished run, or a training's in-progress folder:
    read again whenever an epoch's snapshot is added)."""
    return _frames(str(path), _folder_stamp(path))


def _folder_stamp(path: str | os.PathLike) -> float:
    try:
        return os.stat(snapshot_dir(path)).st_mtime
    except OSError:
        return 0.0


@st.cache_resource(max_entries=32, show_spinner="Projecting the codes of every epoch…")
def _positions(path: str, stamp: float, method: str) -> tuple[np.ndarray, tuple[tuple[float, float], ...]]:
    xy = replay_positions(_frames(path, stamp), method)
    low, high = xy.reshape(-1, 2).min(axis=0), xy.reshape(-1, 2).max(axis=0)
    pad = np.maximum(0.05 * (high - low), 1e-6)
    return xy, tuple((float(lo - p), float(hi + p)) for lo, hi, p in zip(low, high, pad))


def positions_of(run: RunInfo, method: str = "PCA") -> tuple[np.ndarray, tuple[tuple[float, float], ...]]:
    """The 2-D positions of the run's probe points at every epoch, aligned from epoch to epoch
    (:func:`core.explore.replay.replay_positions`), computed once per process and snapshot folder version.

    Returns:
        ``(xy, ((x_min, x_max), (y_min, y_max)))``: xy float32 (T, P, 2) for T epochs and P points, and the
        axis ranges that hold every epoch (so the axes stay put while the points move).

    Raises:
        CheckpointError: as :func:`frames_of`. ValueError: no codes, or codes that are not finite.
    """
    return folder_positions(run.path, method)


def folder_positions(path: str | os.PathLike, method: str = "PCA") -> tuple[np.ndarray, tuple[tuple[float, float], ...]]:
    """:func:`positions_of` for the run folder ``path`` (a finished run, or a training's in-progress folder)."""
    return _positions(str(path), _folder_stamp(path), method)


# --- which runs replay ---------------------------------------------------------------------------------

def replay_runs(runs: Sequence[RunInfo], need: str | None = None) -> tuple[list[tuple[RunInfo, ReplayFrames]], list[str]]:
    """The runs of ``runs`` whose snapshots can be replayed, with their frames, and what to say about the others.

    Args:
        runs: the page's runs.
        need: ``"codes"`` (Latent space), ``"grids"`` (Generation grids) or None (any snapshot).

    Returns:
        ``(replayed, notes)``: ``[(run, frames)]`` in the order of ``runs``, and Markdown sentences (names
        escaped) for :func:`show_notes`: :data:`NO_REPLAY` when no run has snapshots, else which runs are
        left out and why (no snapshots, damaged snapshot files, nothing this page can show).
    """
    with_snapshots = [run for run in runs if has_snapshots(run.path)]
    if not with_snapshots:
        return [], [NO_REPLAY]
    replayed, left, notes = [], [], []
    for run in runs:
        if run not in with_snapshots:
            left.append(f"**{plain(run.label)}** (trained without snapshots)")
            continue
        try:
            frames = frames_of(run)
        except CheckpointError as exc:
            log.warning("replay of %s left out: %s", run.name, exc)
            notes.append(f"The replay of **{plain(run.label)}** is not shown: {plain(exc.kind)}. "
                         "The server log has the details.")
            continue
        if need is not None and not getattr(frames, NEEDS[need][0]):
            left.append(f"**{plain(run.label)}** ({plain(NEEDS[need][1])})")
            continue
        replayed.append((run, frames))
    if left:
        listed = left[0] if len(left) == 1 else ", ".join(left[:-1]) + " and " + left[-1]
        notes.insert(0, f"Not in the replay: {listed}.")
    return replayed, notes


def replay_heading(runs: Sequence[RunInfo], need: str) -> list[tuple[RunInfo, ReplayFrames]]:
    """Open a page's Replay section: the runs :func:`replay_runs` finds, under a "Replay" heading with its
    notes; with none, the notes alone and [] (the page then shows no section)."""
    replayed, notes = replay_runs(runs, need=need)
    if replayed:
        st.subheader("Replay")
    show_notes(notes)
    return replayed


def show_notes(notes: list[str]) -> None:
    """Show :func:`replay_runs`' notes, one caption each (a damaged run's as a warning)."""
    for note in notes:
        (st.warning if note.startswith("The replay of") else st.caption)(note)


def all_epochs(replayed: Sequence[tuple[RunInfo, ReplayFrames]]) -> list[int]:
    """The epochs recorded by any of the replayed runs, ascending (the slider's stops)."""
    return sorted({int(e) for _, frames in replayed for e in frames.epochs})


def shown_epoch(frames: ReplayFrames, epoch: int) -> tuple[int, str]:
    """The frame index a run shows at the slider's ``epoch`` and its words: ``"epoch 7"``, or ``"epoch 3,
    its last"`` when the run stopped before ``epoch`` (``"epoch 1, its first"`` when it starts after)."""
    index = frames.frame_at(epoch)
    shown = frames.epochs[index]
    if shown == epoch:
        return index, f"epoch {shown}"
    return index, f"epoch {shown}, its {'last' if shown < epoch else 'first'}"


def judge_words(frames: ReplayFrames, index: int) -> str | None:
    """The judge's metrics of frame ``index`` in words ("the judge reads 93.0 % of 1,000 samples as their digit;
    judge FID 4.10."), or None when that snapshot has none (no judge when it was trained)."""
    table = metrics_table(frames)
    accuracy, fid = table["judge_accuracy"][index], table["judge_fid"][index]
    if accuracy is None or fid is None:
        return None
    samples = frames.metrics[index].get("fid_samples")
    of = f"of {int(samples):,} samples " if isinstance(samples, int) and samples > 0 else "of the samples "
    return f"the judge reads {100 * accuracy:.1f} % {of}as their digit; judge FID {fid:.2f}."


# --- the epoch control ---------------------------------------------------------------------------------

def _keys(key: str) -> tuple[str, str, str]:
    return f"{key}_epoch", f"{key}_playing", f"{key}_play_started"


def playing(key: str) -> bool:
    """Whether the replay ``key`` is playing (its Play button was pressed and it has not reached the end)."""
    return bool(st.session_state.get(_keys(key)[1]))


def epoch_control(key: str, epochs: Sequence[int]) -> int:
    """A Play/Pause button and a slider over the recorded ``epochs``; returns the epoch chosen (an int of
    ``epochs``; the last one at first: the trained model).

    While playing, every run of the enclosing fragment moves the slider on to the next epoch (the fragment
    reruns every :data:`PLAY_SECONDS`: :func:`replay_fragment`); after the last epoch it stops and the page
    reruns once (which stops the timer). Play at the last epoch starts again from the first.

    Widget keys: ``{key}_play`` (button), ``{key}_epoch`` (slider); state ``{key}_playing``.
    """
    epochs = sorted({int(e) for e in epochs})
    slider_key, play_key, started_key = _keys(key)
    state = st.session_state
    current = state.get(slider_key)
    if current not in epochs:  # first view, or the chosen runs changed: the nearest recorded epoch
        state[slider_key] = epochs[-1] if current is None else min(epochs, key=lambda e: (abs(e - current), -e))
    if state.get(play_key):
        if state.pop(started_key, False):
            pass  # the run right after Play shows where it starts
        else:
            later = [e for e in epochs if e > state[slider_key]]
            if later:
                state[slider_key] = later[0]
            else:
                state[play_key] = False
                st.rerun()  # the whole page: the fragment is drawn again without its timer
    on = bool(state.get(play_key))
    c1, c2 = st.columns([1, 6], vertical_alignment="bottom")
    if c1.button("Pause" if on else "Play", key=f"{key}_play", icon=":material/pause:" if on else ":material/play_arrow:",
                 help="Step through the epochs, one every half second."):
        if not on and state[slider_key] == epochs[-1]:
            state[slider_key] = epochs[0]
        state[play_key] = not on
        state[started_key] = not on
        st.rerun()  # the whole page: the fragment gets (or loses) its timer
    chosen = c2.select_slider("Epoch", epochs, key=slider_key, disabled=len(epochs) < 2,
                              help="The model after this many epochs of training; 0 is the untrained model. "
                                   "Runs that stopped earlier show their last epoch.")
    return int(chosen)


def replay_fragment(key: str, epochs: Sequence[int], draw: Callable[[int], None],
                    above: Callable[[int], None] | None = None) -> None:
    """The epoch control and ``draw(epoch)`` below it, in a fragment: moving the slider reruns only this part
    (``draw`` should only look arrays up and draw them), and while playing it reruns every
    :data:`PLAY_SECONDS`. ``above(epoch)``, when given, is drawn above the control, in the same fragment
    (e.g. a chart that marks the epoch)."""
    @st.fragment(run_every=PLAY_SECONDS if playing(key) else None)
    def replay_part() -> None:
        top = st.container() if above is not None else None
        epoch = epoch_control(key, epochs)
        draw(epoch)
        if top is not None:
            with top:
                above(epoch)

    replay_part()


# --- drawing -------------------------------------------------------------------------------------------

def grid_html(picture: np.ndarray, title: str, scale: int = 2) -> str:
    """A tiled uint8 (H, W) picture (:func:`core.explore.replay.grid_picture`) as one inline ``<img>`` of the
    pages' style (class ``dl-img``, ``alt`` = ``title``), ``scale`` times its size."""
    return (f'<img class="dl-img" alt="{html_text(title)}" width="{picture.shape[1] * scale}" '
            f'height="{picture.shape[0] * scale}" src="{png_data_uri(picture, scale=1)}">')


def scatter_figure(xy: np.ndarray, labels: np.ndarray, ranges: Sequence[tuple[float, float]],
                   axis_titles: tuple[str, str] = ("PC 1", "PC 2"), height: int = 420):
    """A Plotly scatter of points ``xy`` float (P, 2) coloured by digit (``labels`` int (P,) in 0–9, the
    dashboard's palette :data:`dashboard.common.DIGIT_COLOURS`, one legend entry per digit), on fixed axis
    ``ranges`` ((x_min, x_max), (y_min, y_max)) so that successive epochs share the axes."""
    import plotly.graph_objects as go

    labels = np.asarray(labels)
    traces = []
    for digit in range(10):
        where = np.flatnonzero(labels == digit)
        traces.append(go.Scattergl(x=xy[where, 0], y=xy[where, 1], mode="markers", name=str(digit),
                                   marker={"color": DIGIT_COLOURS[digit], "size": 4, "opacity": 0.8},
                                   hovertemplate=f"digit {digit}<extra></extra>"))
    fig = go.Figure(traces)
    fig.update_layout(height=height, margin={"l": 10, "r": 10, "t": 10, "b": 10}, legend_title_text="digit",
                      uirevision="replay")
    fig.update_xaxes(range=list(ranges[0]), title_text=axis_titles[0], zeroline=False)
    fig.update_yaxes(range=list(ranges[1]), title_text=axis_titles[1], zeroline=False)
    return fig


def mark_epoch(fig, epoch: int):
    """``fig`` (a Plotly figure whose x axes are epochs, facets included) with one dotted vertical line at
    ``epoch`` on every panel, replacing the line of an earlier call; returns ``fig`` (changed in place)."""
    fig.layout.shapes = ()
    fig.add_vline(x=int(epoch), line_dash="dot", line_color="#444", line_width=1.5, row="all", col="all")
    return fig
