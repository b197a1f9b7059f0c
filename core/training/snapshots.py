"""Taking a run's per-epoch snapshots while it trains (the files: :mod:`core.runs.snapshots`).

A :class:`SnapshotTaker` holds the fixed inputs every epoch is shown — 2,000 test images chosen once by a
seeded permutation, the noise of a 10×10 grid, 1,000 samples' digits — and the judge with the judge
features of the test set. After every epoch (and once before the first, epoch 0) the trainer calls it
with the model: it writes the latent codes of the 2,000 images, the grid and the judge's accuracy and
FID of 1,000 samples. It leaves the training untouched: the model goes back to training mode and torch's
global random generator is restored, so a run with snapshots ends with the weights of one without.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.atomic import atomic_path
from core.evaluation.metrics import frechet_distance
from core.models import DigitModel
from core.models.capabilities import ENCODE, GENERATE, IMAGE_AND_DIGIT, N_CLASSES, encoder_input
from core.models.modes import GenerationMode
from core.models.samplers import FittedMode
from core.runs.snapshots import Probe, Snapshot, write_probe, write_snapshot

#: test images whose latent codes every snapshot keeps
PROBE_POINTS = 2000
#: samples (per snapshot) behind the judge's accuracy and FID
FID_SAMPLES = 1000
#: seed of the probe images' choice, of the grid's noise and of the FID samples' noise
SNAPSHOT_SEED = 0


def find_judge(root: str | os.PathLike) -> DigitModel | None:
    """The first judge run under ``root`` that loads (eval mode, CPU), or None when there is none."""
    from core.runs.catalog import is_judge, list_runs
    from core.runs.format import CheckpointError

    runs, _ = list_runs(root)
    for run in runs.values():
        if is_judge(run):
            try:
                return run.model
            except CheckpointError:
                continue
    return None


def snapshot_mode(model: DigitModel) -> GenerationMode:
    """The generation mode of a model's snapshots: its first mode that it can draw now (a mode whose
    sampler is fitted only at the end of training, seed 000's density, is skipped until then).

    Raises:
        ValueError: the model has no mode it can draw.
    """
    for mode in model.generation_modes:
        if not isinstance(mode, FittedMode) or str(mode) in model.samplers:
            return mode
    raise ValueError(f"{model.describe()} has no generation mode it can draw before its samplers are fitted")


def probe_indices(n_test: int, points: int = PROBE_POINTS, seed: int = SNAPSHOT_SEED) -> np.ndarray:
    """``min(points, n_test)`` indices into a test split of ``n_test`` images, ascending, chosen by a
    permutation seeded with ``seed`` (the same images for every run of one split)."""
    perm = torch.randperm(int(n_test), generator=torch.Generator().manual_seed(int(seed)))
    return np.sort(perm[: min(int(points), int(n_test))].numpy())


class SnapshotTaker:
    """Takes and writes the snapshots of one run (see the module docstring).

    Args:
        test_x: float32 (N, 1, 28, 28) test images in [0, 1]; test_y: int64 (N,) their digits.
        judge: the judge (role JUDGE), or None: snapshots then carry no judge metrics.
        points: test images whose codes are kept (2,000); fid_samples: samples per judge FID (1,000;
            0 leaves the judge metrics out); seed: see :data:`SNAPSHOT_SEED`; split_seed: recorded.
    """

    def __init__(self, test_x: torch.Tensor, test_y: torch.Tensor, judge: DigitModel | None,
                 points: int = PROBE_POINTS, fid_samples: int = FID_SAMPLES, seed: int = SNAPSHOT_SEED,
                 split_seed: int = 0):
        self.indices = probe_indices(test_x.shape[0], points, seed)
        index = torch.from_numpy(self.indices)
        self.x, self.y = test_x[index].float().cpu(), test_y[index].long().cpu()
        self.judge = judge.eval() if judge is not None else None
        self.seed, self.fid_samples, self.split_seed = int(seed), int(fid_samples), int(split_seed)
        self._real: torch.Tensor | None = None
        self._test_x = test_x.float().cpu()
        self._probe_written: set[Path] = set()

    def _real_features(self) -> torch.Tensor:
        """The judge's features (N, 128) of the test images: computed once per machine and kept under
        ``<cache>/features/judge-snapshots/`` keyed by the judge's weights and the images (about 10 s on
        one CPU core for 10,000 images; a later worker reads them in milliseconds)."""
        if self._real is not None:
            return self._real
        import hashlib

        from core.paths import cache_root

        digest = hashlib.sha1(self._test_x.numpy().tobytes())
        for tensor in self.judge.state_dict().values():
            digest.update(tensor.detach().cpu().numpy().tobytes())
        path = cache_root() / "features" / "judge-snapshots" / f"{digest.hexdigest()}.pt"
        try:
            cached = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(cached, torch.Tensor) and cached.shape[0] == self._test_x.shape[0]:
                self._real = cached
                return cached
        except Exception:  # noqa: BLE001 - absent or damaged: computed again below
            pass
        with torch.no_grad():
            self._real = torch.cat([self.judge.features(self._test_x[i:i + 1000])
                                    for i in range(0, self._test_x.shape[0], 1000)])
        try:
            with atomic_path(path) as tmp:
                torch.save(self._real, tmp)
        except OSError:
            pass  # a read-only cache: computed again next time
        return self._real

    @torch.no_grad()
    def take(self, model: DigitModel, epoch: int, seconds: float = 0.0) -> Snapshot:
        """The snapshot of ``model`` after ``epoch`` epochs (``seconds`` of training so far).

        The model is put in eval mode for it and back in training mode after when it was training;
        torch's global random generator is restored.
        """
        was_training = model.training
        model.eval()
        device = model.device
        metrics: dict[str, Any] = {"epoch": int(epoch), "seconds": round(float(seconds), 2)}
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            codes = grid = None
            if model.can(ENCODE):
                labels = self.y if encoder_input(model) == IMAGE_AND_DIGIT else None
                codes = torch.cat([model.encode(self.x[i:i + 1000].to(device),
                                                None if labels is None else labels[i:i + 1000].to(device)).float().cpu()
                                   for i in range(0, self.x.shape[0], 1000)]).numpy().astype(np.float16)
            if model.can(GENERATE):
                mode = snapshot_mode(model)
                metrics["grid_mode"] = str(mode)
                digits = torch.arange(N_CLASSES).repeat_interleave(10).to(device)
                images = mode.sample(model, digits, torch.Generator().manual_seed(self.seed)).float().cpu()
                grid = (images.clamp(0, 1) * 255).round().to(torch.uint8).reshape(-1, 28, 28).numpy()
                if self.judge is not None and self.fid_samples > 0:
                    per_digit = max(1, self.fid_samples // N_CLASSES)
                    labels = torch.arange(N_CLASSES).repeat_interleave(per_digit)
                    gen = torch.Generator().manual_seed(self.seed + 1)
                    samples = torch.cat([mode.sample(model, labels[i:i + 500].to(device), gen).float().cpu()
                                         for i in range(0, labels.shape[0], 500)])
                    self.judge.to("cpu")
                    features = self.judge.features(samples)
                    predicted = self.judge.classify_features(features).argmax(1)
                    metrics["judge_accuracy"] = round(float((predicted == labels).float().mean()), 4)
                    metrics["judge_fid"] = round(frechet_distance(self._real_features(), features), 3)
                    metrics["fid_samples"] = int(labels.shape[0])
        metrics["snapshot_seconds"] = round(time.perf_counter() - start, 2)
        if was_training:
            model.train()
        return Snapshot(int(epoch), codes, grid, metrics)

    def probe(self, model: DigitModel) -> Probe:
        """The fixed inputs as written beside the snapshots."""
        return Probe(self.indices, self.y.numpy(), {
            "input_mode": encoder_input(model) if model.can(ENCODE) else None, "grid_seed": self.seed,
            "fid_samples": self.fid_samples if self.judge is not None else 0, "split_seed": self.split_seed,
            "points": int(self.indices.shape[0])})

    def __call__(self, folder: str | os.PathLike, model: DigitModel, epoch: int, seconds: float = 0.0) -> Snapshot:
        """Take the snapshot of ``epoch`` and write it (and, the first time, the probe) under ``folder``."""
        folder = Path(folder)
        if folder not in self._probe_written:
            write_probe(folder, self.probe(model))
            self._probe_written.add(folder)
        snapshot = self.take(model, epoch, seconds)
        write_snapshot(folder, snapshot)
        return snapshot
