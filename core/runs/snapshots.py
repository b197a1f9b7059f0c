"""Per-epoch snapshots of a run: what the model made of fixed inputs after every epoch (replay, live view).

A run trained with snapshots keeps a folder ``snapshots/`` beside its weights (torch-free: numpy and
JSON only, so the dashboard reads it without loading a model)::

    snapshots/probe.npz          which test images and codes every epoch saw (written once):
        indices  int32 (P,)        indices into the run's test split (P = 2,000 by default)
        labels   uint8 (P,)        their digits
        meta     JSON text          input mode of the codes, grid seed, samples per FID, split seed
    snapshots/epoch-0007.npz     one epoch (epoch 0 is the untrained model), any of:
        codes    float16 (P, d)    latent codes of the probe images (models that encode)
        grid     uint8 (100, 28, 28) the 10×10 grid from fixed noise, row r = digit r (models that generate)
        metrics  JSON text          {"epoch": 7, "seconds": 41.2, "judge_accuracy": 0.93, "judge_fid": 4.1, ...}

Every file is written atomically (:func:`core.atomic.atomic_path`), so a reader sees a whole epoch or
none, and a training that is killed keeps every finished epoch. The grid's pixels are in [0, 255]
(8-bit, as in a PNG; divide by 255 for [0, 1]).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_path
from core.runs.format import CheckpointError

#: the snapshot folder inside a run folder (or inside its in-progress folder while it trains)
SNAPSHOTS = "snapshots"
PROBE = "probe.npz"
_EPOCH = re.compile(r"epoch-(\d{4,})\.npz")
#: the most bytes one snapshot file may have (a damaged or foreign file is refused, not read)
MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Probe:
    """The fixed inputs of every snapshot of a run.

    Attributes:
        indices: int32 (P,) indices into the run's test split; labels: uint8 (P,) their digits.
        meta: ``input_mode`` (the codes' encoder input), ``grid_seed``, ``fid_samples``, ``split_seed``.
    """

    indices: np.ndarray
    labels: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """One epoch of a run: ``codes`` float16 (P, d) or None, ``grid`` uint8 (100, 28, 28) in [0, 255]
    or None, and ``metrics`` (``epoch``, ``seconds`` since training started, and judge metrics when a
    judge was there: ``judge_accuracy`` in [0, 1], ``judge_fid``)."""

    epoch: int
    codes: np.ndarray | None
    grid: np.ndarray | None
    metrics: dict[str, Any]


def snapshot_dir(run_dir: str | os.PathLike) -> Path:
    """The snapshot folder of the run folder (or in-progress folder) ``run_dir``."""
    return Path(run_dir) / SNAPSHOTS


def epoch_file(run_dir: str | os.PathLike, epoch: int) -> Path:
    """The file of ``epoch``'s snapshot (``snapshots/epoch-0007.npz``)."""
    return snapshot_dir(run_dir) / f"epoch-{int(epoch):04d}.npz"


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)


def _json_array(data: dict[str, Any]) -> np.ndarray:
    return np.array(json.dumps(data))


def write_probe(run_dir: str | os.PathLike, probe: Probe) -> Path:
    """Write ``probe`` to ``run_dir/snapshots/probe.npz`` (atomically) and return its path."""
    path = snapshot_dir(run_dir) / PROBE
    _save_npz(path, {"indices": np.asarray(probe.indices, dtype=np.int32),
                     "labels": np.asarray(probe.labels, dtype=np.uint8), "meta": _json_array(probe.meta)})
    return path


def write_snapshot(run_dir: str | os.PathLike, snapshot: Snapshot) -> Path:
    """Write one epoch's snapshot (atomically) and return its path.

    Raises:
        ValueError: a grid that is not uint8 (100, 28, 28) or codes that are not two-dimensional.
    """
    arrays: dict[str, np.ndarray] = {"metrics": _json_array({**snapshot.metrics, "epoch": int(snapshot.epoch)})}
    if snapshot.codes is not None:
        codes = np.asarray(snapshot.codes)
        if codes.ndim != 2:
            raise ValueError(f"snapshot codes must be (points, latent size), got shape {codes.shape}")
        arrays["codes"] = codes.astype(np.float16)
    if snapshot.grid is not None:
        grid = np.asarray(snapshot.grid)
        if grid.dtype != np.uint8 or grid.shape[1:] != (28, 28):
            raise ValueError(f"a snapshot grid must be uint8 (images, 28, 28), got {grid.dtype} {grid.shape}")
        arrays["grid"] = grid
    path = epoch_file(run_dir, snapshot.epoch)
    _save_npz(path, arrays)
    return path


def snapshot_epochs(run_dir: str | os.PathLike) -> list[int]:
    """The epochs with a snapshot in ``run_dir``, ascending (empty when it has none)."""
    try:
        names = os.listdir(snapshot_dir(run_dir))
    except OSError:
        return []
    return sorted(int(m.group(1)) for m in map(_EPOCH.fullmatch, names) if m)


def _load(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a snapshot file (only ``keys`` when given: the others are not decompressed; pickles
    refused), or CheckpointError in the user's words."""
    try:
        if path.stat().st_size > MAX_SNAPSHOT_BYTES:
            raise CheckpointError("a snapshot file is too large to be one", f"{path} has more than "
                                  f"{MAX_SNAPSHOT_BYTES} bytes")
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files if keys is None or key in keys}
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError("a snapshot file is missing", f"{path} is missing") from None
    except Exception as exc:  # noqa: BLE001 - numpy and zipfile raise many types for a damaged file
        raise CheckpointError("a snapshot file is damaged", f"{path}: {type(exc).__name__}: {str(exc)[:200]}") from None


def _json(value: np.ndarray, path: Path) -> dict[str, Any]:
    try:
        data = json.loads(str(value))
    except (TypeError, ValueError):
        data = None
    if not isinstance(data, dict):
        raise CheckpointError("a snapshot file is damaged", f"{path}: its JSON part is not an object")
    return data


def read_probe(run_dir: str | os.PathLike) -> Probe:
    """The probe of the run's snapshots.

    Raises:
        CheckpointError: missing, damaged, or its indices and labels differ in length.
    """
    path = snapshot_dir(run_dir) / PROBE
    data = _load(path)
    try:
        indices, labels, meta = data["indices"], data["labels"], _json(data["meta"], path)
    except KeyError as exc:
        raise CheckpointError("a snapshot file is damaged", f"{path} has no {exc}") from None
    if indices.ndim != 1 or indices.shape != labels.shape:
        raise CheckpointError("a snapshot file is damaged", f"{path}: indices {indices.shape}, labels {labels.shape}")
    return Probe(indices.astype(np.int64), labels.astype(np.int64), meta)


def read_snapshot(run_dir: str | os.PathLike, epoch: int) -> Snapshot:
    """The snapshot of ``epoch``.

    Raises:
        CheckpointError: missing or damaged (arrays of the wrong kind included).
    """
    path = epoch_file(run_dir, epoch)
    data = _load(path)
    if "metrics" not in data:
        raise CheckpointError("a snapshot file is damaged", f"{path} has no metrics")
    codes, grid = data.get("codes"), data.get("grid")
    if codes is not None and codes.ndim != 2:
        raise CheckpointError("a snapshot file is damaged", f"{path}: codes of shape {codes.shape}")
    if grid is not None and (grid.dtype != np.uint8 or grid.shape[1:] != (28, 28)):
        raise CheckpointError("a snapshot file is damaged", f"{path}: a grid of {grid.dtype} {grid.shape}")
    return Snapshot(int(epoch), codes, grid, _json(data["metrics"], path))


def snapshot_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The metrics of every readable snapshot, by epoch (a damaged file is left out; the codes and grids
    are not read)."""
    rows = []
    for epoch in snapshot_epochs(run_dir):
        path = epoch_file(run_dir, epoch)
        try:
            rows.append(_json(_load(path, ("metrics",))["metrics"], path))
        except (CheckpointError, KeyError):
            continue
    return rows
