"""Replay of a run's training: its per-epoch snapshots read back, and 2-D projections of the latent codes
aligned from one epoch to the next so that points move instead of jumping.

A run trained with snapshots (:mod:`core.runs.snapshots`, written by ``scripts/train.py``) keeps, for every
epoch (0 = the untrained model), the latent codes of the same test images, a 10×10 grid from the same noise
and the judge's metrics. :func:`replay_frames` reads them all at once (numpy and JSON only, no torch);
:func:`aligned_pca` and :func:`aligned_umap` turn the codes of every epoch into 2-D positions.

A projection made for each epoch on its own is only defined up to a rotation or a reflection (PCA's axes
flip sign, UMAP starts from a random layout), so successive frames would jump. Here each epoch's
projection is turned to the previous one's by an orthogonal Procrustes rotation/reflection
(:func:`scipy.linalg.orthogonal_procrustes`), and every frame keeps one common scale (the codes' own
units, never rescaled per frame): a cloud that spreads out or shrinks during training is seen to do so.

Cost: the aligned PCA of 50 epochs of 2,000 64-d codes takes about 2 s on a busy 2-core machine (once per
run: the dashboard caches it); :func:`aligned_umap` takes a
UMAP per epoch (seconds each for 2,000 codes, plus numba's compile of about 40 s on the first use in a
process), so it is only worth offering when epochs × points is small (:data:`UMAP_REPLAY_MAX_CODES`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.runs.format import CheckpointError
from core.runs.snapshots import read_probe, read_snapshot, snapshot_epochs

#: the most codes (epochs × points, all epochs together) for which an aligned UMAP is offered live: a
#: UMAP per epoch costs seconds, so beyond this the replay uses the aligned PCA only
UMAP_REPLAY_MAX_CODES = 12_000


@dataclass(frozen=True)
class ReplayFrames:
    """Every snapshot of one run, in epoch order.

    Attributes:
        epochs: the recorded epochs, ascending ints (0 = the untrained model); T of them.
        indices: int64 (P,) the probe images' indices into the run's test split.
        labels: int64 (P,) their digits (0–9).
        codes: T entries, each float16 (P, d) latent codes of the probe images as stored (same P and d for
            every epoch; the projections compute in float64), or None for a model that does not encode.
        grids: T entries, each uint8 (N, 28, 28) in [0, 255] (N = 100: row r of the 10×10 grid is digit
            r), or None for a model that does not generate.
        metrics: T dicts: ``epoch``, ``seconds`` of training so far, and when a judge was there
            ``judge_accuracy`` (fraction in [0, 1]) and ``judge_fid`` (Fréchet distance on the judge's
            features; lower is better), ``fid_samples``, ``grid_mode`` (the grid's generation mode).
        meta: the probe's description (``input_mode`` of the codes, ``grid_seed``, ``fid_samples``, ...).
    """

    epochs: list[int]
    indices: np.ndarray
    labels: np.ndarray
    codes: list[np.ndarray | None]
    grids: list[np.ndarray | None]
    metrics: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def has_codes(self) -> bool:
        """Every epoch has latent codes (the model encodes)."""
        return bool(self.codes) and all(c is not None for c in self.codes)

    @property
    def has_grids(self) -> bool:
        """Every epoch has a grid (the model generates)."""
        return bool(self.grids) and all(g is not None for g in self.grids)

    def frame_at(self, epoch: int) -> int:
        """The index of the frame shown at ``epoch``: the latest recorded epoch at or before it (the first
        frame when ``epoch`` comes before every recorded one)."""
        position = int(np.searchsorted(np.asarray(self.epochs), int(epoch), side="right")) - 1
        return max(position, 0)


def has_snapshots(run_dir: str | os.PathLike) -> bool:
    """Whether the run folder ``run_dir`` holds at least one epoch's snapshot (one directory listing)."""
    return bool(snapshot_epochs(run_dir))


def replay_frames(run_dir: str | os.PathLike) -> ReplayFrames:
    """Read every snapshot of a run (numpy and JSON only, no torch).

    Args:
        run_dir: the run folder (its ``snapshots/`` folder is read).

    Returns:
        a :class:`ReplayFrames` (about 0.5 MB per epoch of 2,000 64-d codes and a grid).

    Raises:
        CheckpointError: the run has no snapshots, a snapshot file (or the probe) is missing or damaged,
            or the snapshots do not fit together (codes of another number of points or size than the
            others'); its ``kind`` is a plain sentence for the user, its ``details`` name the file.
    """
    epochs = snapshot_epochs(run_dir)
    if not epochs:
        raise CheckpointError("it has no snapshots", f"{os.fspath(run_dir)} has no snapshots folder or no epoch in it")
    probe = read_probe(run_dir)
    points = int(probe.indices.shape[0])
    codes, grids, metrics = [], [], []
    shape = None
    for epoch in epochs:
        snap = read_snapshot(run_dir, epoch)
        if snap.codes is not None:
            if snap.codes.shape[0] != points or (shape is not None and snap.codes.shape != shape):
                raise CheckpointError("its snapshot files do not fit together",
                                      f"epoch {epoch}: codes of shape {snap.codes.shape}, probe of {points} points"
                                      + (f", earlier epochs {shape}" if shape is not None else ""))
            shape = snap.codes.shape
        codes.append(None if snap.codes is None else snap.codes.astype(np.float16, copy=False))
        grids.append(snap.grid)
        metrics.append(dict(snap.metrics))
    return ReplayFrames(list(epochs), probe.indices, probe.labels, codes, grids, metrics, dict(probe.meta))


# --- aligned projections -------------------------------------------------------------------------------

def _checked(codes_by_epoch: list[np.ndarray]) -> list[np.ndarray]:
    """float64 copies; ValueError in words when the list is empty or the arrays differ in shape or are not finite."""
    if not codes_by_epoch:
        raise ValueError("there are no epochs to project")
    out = [np.asarray(c, dtype=np.float64) for c in codes_by_epoch]
    first = out[0].shape
    if len(first) != 2 or first[0] < 3:
        raise ValueError(f"each epoch needs codes of shape (points, size) with at least 3 points, got {first}")
    for epoch, codes in enumerate(out):
        if codes.shape != first:
            raise ValueError(f"epoch {epoch}'s codes have shape {codes.shape}, the first epoch's {first}")
        if not np.isfinite(codes).all():
            raise ValueError(f"the codes of frame {epoch} are not all finite numbers (the training diverged)")
    return out


def _pca2(codes: np.ndarray) -> np.ndarray:
    """float64 (P, 2): the centred codes on their first two principal axes (a zero column for 1-d codes)."""
    centred = codes - codes.mean(axis=0)
    if centred.shape[1] == 1:
        return np.c_[centred, np.zeros_like(centred)]
    # the covariance's eigenvectors (d × d): far cheaper than an SVD of the (P, d) codes on a busy machine
    _, vectors = np.linalg.eigh(centred.T @ centred)
    return centred @ vectors[:, ::-1][:, :2]


def align_to(moving: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``moving`` (P, 2) turned by the orthogonal matrix (rotation or reflection) that brings it closest to
    ``reference`` (P, 2) in the least-squares sense (orthogonal Procrustes); both centred on their
    means first. No scaling: distances within ``moving`` are kept. Returns float64 (P, 2)."""
    from scipy.linalg import orthogonal_procrustes

    moving = np.asarray(moving, np.float64)
    reference = np.asarray(reference, np.float64)
    moving = moving - moving.mean(axis=0)
    rotation, _ = orthogonal_procrustes(moving, reference - reference.mean(axis=0))
    return moving @ rotation


def aligned_pca(codes_by_epoch: list[np.ndarray]) -> list[np.ndarray]:
    """A 2-D PCA of each epoch's codes, each turned to the previous epoch's frame (orthogonal Procrustes).

    Every frame is the centred codes projected on that epoch's own first two principal axes, then
    rotated or reflected (never scaled: one common scale, the codes' own units) to lie as close as possible
    to the previous frame, point by point. The first frame is the plain PCA.

    Args:
        codes_by_epoch: T arrays, each float (P, d) — the same P points (in the same order) and the same d
            for every epoch; P ≥ 3. d = 1 gives a zero second column; d = 2 is a rotation of the codes.

    Returns:
        T arrays, each float32 (P, 2), in the codes' units.

    Raises:
        ValueError: no epochs, arrays of different shapes, fewer than 3 points, or codes that are not
            finite (a diverged training).
    """
    frames: list[np.ndarray] = []
    for codes in _checked(codes_by_epoch):
        xy = _pca2(codes)
        frames.append(xy if not frames else align_to(xy, frames[-1]))
    return [f.astype(np.float32) for f in frames]


def aligned_umap(codes_by_epoch: list[np.ndarray], seed: int = 0, n_neighbors: int = 15,
                 n_epochs: int = 200, learning_rate: float = 0.2) -> list[np.ndarray]:
    """A 2-D UMAP of each epoch's codes, each started from the previous epoch's embedding and then turned to
    it (orthogonal Procrustes), so the layout evolves instead of being drawn anew.

    The first epoch is an ordinary UMAP started from its PCA; every later one starts from the previous
    frame and is optimised gently (``n_epochs`` epochs at ``learning_rate``, against UMAP's 200–500 at 1.0), so
    that the layout is moved, not drawn anew: on a tiny CVAE's first epochs the points move less than half
    as far as with UMAPs made independently. UMAP rescales its starting layout to its own range (about 0–10
    on each axis), so the frames are in UMAP's arbitrary units (centred), not the codes'. Seeded: the same codes and
    ``seed`` give the same frames (UMAP then runs on one thread). Slow: one UMAP per epoch (seconds for
    2,000 codes, plus numba's compile on the first use in a process); offer it only when epochs × points
    is small (:data:`UMAP_REPLAY_MAX_CODES`).

    Args:
        codes_by_epoch: T arrays, each float (P, d), the same shape for every epoch; P ≥ 3.
        seed: UMAP's random state. n_neighbors: UMAP's neighbourhood size (at most P − 1 is used).
        n_epochs, learning_rate: UMAP's optimisation of every frame after the first (the first: UMAP's defaults).

    Returns:
        T arrays, each float32 (P, 2).

    Raises:
        ValueError: as :func:`aligned_pca`.
    """
    import warnings

    import umap

    frames: list[np.ndarray] = []
    for codes in _checked(codes_by_epoch):
        start = _pca2(codes) if not frames else frames[-1]
        start = start + 1e-6 * np.random.default_rng(seed).standard_normal(start.shape)  # no two points equal
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "n_jobs overridden by random_state", spectral-init notes
            follow = {"n_epochs": int(n_epochs), "learning_rate": float(learning_rate)} if frames else {}
            reducer = umap.UMAP(n_components=2, n_neighbors=min(int(n_neighbors), codes.shape[0] - 1),
                                random_state=int(seed), init=start.astype(np.float32), **follow)
            xy = np.asarray(reducer.fit_transform(codes.astype(np.float32)), dtype=np.float64)
        frames.append(xy - xy.mean(axis=0) if not frames else align_to(xy, frames[-1]))
    return [f.astype(np.float32) for f in frames]


def replay_positions(frames: ReplayFrames, method: str = "PCA", seed: int = 0) -> np.ndarray:
    """2-D positions of a run's probe points at every epoch, for a scatter that moves with the epoch slider.

    Codes of at most 2 dimensions are shown as they are (a zero second column for 1-d codes: their axes
    mean the same at every epoch, nothing to align); larger codes through :func:`aligned_pca` (``"PCA"``)
    or :func:`aligned_umap` (``"UMAP"``).

    Returns:
        float32 (T, P, 2): T epochs (``frames.epochs``), P probe points (``frames.labels``).

    Raises:
        ValueError: the run's snapshots hold no codes, an unknown method, or codes that are not finite.
    """
    if not frames.has_codes:
        raise ValueError("this run's snapshots hold no latent codes (its model does not encode)")
    codes = frames.codes
    for epoch, epoch_codes in zip(frames.epochs, codes):  # named by epoch here (the projections count frames)
        if not np.isfinite(epoch_codes).all():
            raise ValueError(f"the codes of epoch {epoch} are not all finite numbers (the training diverged)")
    if codes[0].shape[1] <= 2:
        checked = _checked(codes)
        return np.stack([c if c.shape[1] == 2 else np.c_[c, np.zeros_like(c)] for c in checked]).astype(np.float32)
    if method == "PCA":
        return np.stack(aligned_pca(codes))
    if method == "UMAP":
        return np.stack(aligned_umap(codes, seed=seed))
    raise ValueError(f"unknown projection {method}; choose PCA or UMAP")


def frame_movement(frames: list[np.ndarray]) -> float:
    """How far the points move between successive frames: the mean, over pairs of successive frames (each
    (P, 2)), of the root-mean-square distance between a point's two positions, in the frames' units (0.0
    for fewer than 2 frames). The Procrustes step of :func:`aligned_pca` minimises exactly this per pair,
    so the aligned frames never score more than the unaligned ones."""
    if len(frames) < 2:
        return 0.0
    pairs = zip(frames, frames[1:])
    return float(np.mean([np.sqrt(np.mean(np.sum((np.asarray(b, np.float64) - np.asarray(a, np.float64)) ** 2, axis=1)))
                          for a, b in pairs]))


def grid_picture(grid: np.ndarray, nrow: int = 10, padding: int = 1, pad_value: int = 89) -> np.ndarray:
    """A snapshot's grid uint8 (N, 28, 28) in [0, 255] tiled into one uint8 (H, W) picture, ``nrow`` images
    per row, ``padding`` pixels of grey ``pad_value`` between them (the layout of
    :func:`core.explore.latents.tile`, without torch). For N = 100: H = W = 291.

    Raises:
        ValueError: ``grid`` is not (N, H, W) with N ≥ 1.
    """
    arr = np.asarray(grid)
    if arr.ndim != 3 or arr.shape[0] < 1:
        raise ValueError(f"expected images shaped (N, H, W), got {arr.shape}")
    arr = arr.astype(np.uint8, copy=False)
    n, h, w = arr.shape
    cols = min(int(nrow), n)
    rows = -(-n // cols)
    out = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value, np.uint8)
    for i in range(n):
        top, left = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
        out[top:top + h, left:left + w] = arr[i]
    return out


def metrics_table(frames: ReplayFrames) -> dict[str, list[float | None]]:
    """The judge metrics per epoch, as columns: ``{"epoch": [...], "judge_accuracy": [...] (fractions in
    [0, 1]), "judge_fid": [...]}``, None where an epoch has no such metric."""
    def number(value: Any) -> float | None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return number if np.isfinite(number) else None

    return {"epoch": list(frames.epochs),
            **{key: [number(m.get(key)) for m in frames.metrics] for key in ("judge_accuracy", "judge_fid")}}


def describe(frames: ReplayFrames) -> str:
    """One line about what a run's snapshots hold, e.g. "11 epochs (0–10), 2,000 codes of 8 dimensions,
    10×10 grids" (for logs and captions)."""
    parts = [f"{len(frames.epochs)} epochs ({frames.epochs[0]}–{frames.epochs[-1]})"]
    if frames.has_codes:
        parts.append(f"{len(frames.labels):,} codes of {frames.codes[0].shape[1]} dimensions")
    if frames.has_grids:
        parts.append("10×10 grids")
    return ", ".join(parts)
