"""Shared dashboard plumbing: cached runs and data, the run picker, side-by-side layout.

Pages lay out; the work is done by ``core``. Models are cached with ``st.cache_resource``,
computed arrays with ``st.cache_data`` (UMAP additionally on disk, by core.projections).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import streamlit as st  # noqa: E402
import torch  # noqa: E402

from core import explore  # noqa: E402
from core.checkpoints import DEFAULT_CHECKPOINT_DIR, CheckpointError, Run, list_run_dirs, load_run  # noqa: E402
from core.data import DataError, ensure_mnist, file_status, load_mnist  # noqa: E402
from core.leaderboard import TABLE_NAME, TableError, read_table  # noqa: E402
from core.models.base import JUDGE  # noqa: E402

CHECKPOINTS_ENV_VAR = "DIGITLAB_CHECKPOINTS"
RUNS_KEY = "selected_runs"
DEFAULT_RUNS = ("cae-z32-s0", "cvae-z32-s0")
DIGITS = list(range(10))


@st.cache_resource(show_spinner="Loading checkpoints…")
def load_all_runs(root: str = str(DEFAULT_CHECKPOINT_DIR)) -> tuple[dict[str, Run], dict[str, str]]:
    """Every run folder under ``root``: ``({name: Run}, {name: error message})``."""
    torch.set_grad_enabled(False)
    runs, errors = {}, {}
    for path in list_run_dirs(root):
        try:
            runs[path.name] = load_run(path)
        except CheckpointError as exc:
            errors[path.name] = str(exc)
    order = sorted(runs, key=lambda n: (runs[n].config["model"], runs[n].model.latent_dim,
                                        runs[n].config.get("training", {}).get("seed", 0), n))
    return {name: runs[name] for name in order}, errors


def checkpoint_root() -> str:
    """Folder of the run folders: ``$DIGITLAB_CHECKPOINTS`` when set, else the shipped checkpoints/."""
    return os.environ.get(CHECKPOINTS_ENV_VAR, str(DEFAULT_CHECKPOINT_DIR))


def runs_and_errors() -> tuple[dict[str, Run], dict[str, str]]:
    """Compared runs (every role but the judge) and the unreadable run folders."""
    runs, errors = load_all_runs(checkpoint_root())
    return {name: run for name, run in runs.items() if run.model.role != JUDGE}, errors


def judge_run() -> Run | None:
    """The judge classifier's run (the first one found), or None when none is shipped."""
    runs, _ = load_all_runs(checkpoint_root())
    return next((run for run in runs.values() if run.model.role == JUDGE), None)


@st.cache_data(show_spinner=False)
def _read_results(path: str, mtime: float):
    return read_table(path)


def results_table():
    """The shipped results table: ``(DataFrame or None, path, error message or None)``; re-read
    when the file changes."""
    path = Path(checkpoint_root()) / TABLE_NAME
    try:
        return _read_results(str(path), path.stat().st_mtime if path.exists() else 0.0), path, None
    except TableError as exc:
        return None, path, str(exc)


def ensure_data() -> bool:
    """Make sure MNIST is present; fetch it with a visible status if not. False if impossible."""
    if all(state == "ok" for state in file_status().values()):
        return True
    with st.status("MNIST files are missing: fetching them now (about a minute)…", expanded=True) as status:
        try:
            ensure_mnist(log=status.write)
        except DataError as exc:
            status.update(label="Could not get MNIST", state="error")
            st.error(str(exc))
            return False
        status.update(label="MNIST fetched and verified", state="complete", expanded=False)
    return True


@st.cache_data(show_spinner="Loading the MNIST test set…")
def test_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 MNIST test images (float32 (N, 1, 28, 28) in [0, 1]) and labels (int64 (N,))."""
    return load_mnist(train=False)


def selected_runs(min_runs: int = 1) -> list[Run]:
    """The runs picked in the sidebar (in the picker's order); stops the page if none."""
    runs, _ = runs_and_errors()
    chosen = [runs[name] for name in st.session_state.get(RUNS_KEY, []) if name in runs]
    if len(chosen) < min_runs:
        st.info("Pick at least one run in the sidebar (**Runs to compare**).")
        st.stop()
    return chosen


def side_by_side(items: list, render, max_cols: int = 4) -> None:
    """Call ``render(item)`` for each item in columns, ``max_cols`` per row."""
    for start in range(0, len(items), max_cols):
        chunk = items[start:start + max_cols]
        for col, item in zip(st.columns(len(chunk)), chunk):
            with col:
                render(item)


def skip_note(run: Run, capability: str) -> None:
    """Say that a run cannot serve this view instead of failing."""
    st.caption(f"**{run.label}** cannot {capability}: not shown here.")


def input_mode_for(run: Run, mode: str) -> str:
    """The input mode a run is shown with: ``mode`` when it accepts it, else its first one, with a
    caption saying so (an unsupervised model never takes the digit)."""
    if mode in run.model.input_modes:
        return mode
    st.caption(f"From the image only: {run.model.display_name} does not take the digit.")
    return run.model.input_modes[0]


def show_images(images: torch.Tensor, nrow: int, caption: str | None = None, scale: int = 3) -> None:
    """Tile and show images (N, 1, 28, 28) in [0, 1]."""
    st.image(explore.tile(images, nrow=nrow, scale=scale), caption=caption, clamp=True)


def fmt_metric(run: Run, key: str, digits: int = 2, percent: bool = False) -> str:
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
