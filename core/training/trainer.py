"""The trainer: one loop for every registered model.

The loop knows nothing about any model: it builds the model from the registry, asks it for its
optimiser, calls ``model.train_step`` per batch and ``model.validation_loss`` per validation
batch, averages every loss component per epoch, calls ``model.after_training`` once, evaluates
the test metrics the model's capabilities allow and writes the run folder.

Defaults follow seed 000's "Training Procedure": Adam at 1e-3, 50 epochs, batch 128.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from tqdm.auto import tqdm

from core.atomic import atomic_path
from core.data.mnist import MnistSplits
from core.device import resolve_device
from core.evaluation.evaluator import evaluate_test_metrics
from core.models import DigitModel, build_model, model_class
from core.runs.snapshots import SNAPSHOTS
from core.runs.store import check_run_folder, save_run


@dataclass
class TrainConfig:
    """Everything that defines a training run (written into the run's config.json)."""

    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1e-3
    seed: int = 0
    split_seed: int = 0
    device: str = "auto"

    @classmethod
    def for_model(cls, model: str, model_args: dict[str, Any] | None = None, **overrides: Any) -> "TrainConfig":
        """Settings for ``model``: the dataclass defaults, then the model's ``default_training``
        (its source's settings), then every override that is not None.

        Raises:
            KeyError: unknown model name.
        """
        settings = {**model_class(model).default_training,
                    **{k: v for k, v in overrides.items() if v is not None}}
        return cls(model=model, model_args=dict(model_args or {}), **settings)

    def validate(self) -> None:
        """Raises ValueError naming the first bad setting."""
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be positive, got {self.lr}")


class TrainingDiverged(RuntimeError):
    """The training loss stopped being a finite number (too high a learning rate, most often)."""


#: file name of a run's resume state (see :func:`train`)
RESUME = "resume.pt"


def in_progress_dir(run_dir: str | Path) -> Path:
    """The hidden folder beside ``run_dir`` that holds its resume state while it trains
    (``<parent>/.<run>.inprogress``; hidden folders are never listed as runs)."""
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}.inprogress"


def _optimizers(optimizer: Any) -> dict[str, torch.optim.Optimizer]:
    """The torch optimisers inside whatever ``configure_optimizer`` returned (one, or an object
    holding several as attributes, like the GAN's), by name."""
    if isinstance(optimizer, torch.optim.Optimizer):
        return {"optimizer": optimizer}
    return {k: v for k, v in vars(optimizer).items() if isinstance(v, torch.optim.Optimizer)}


def _save_resume(path: Path, cfg: "TrainConfig", epoch: int, model: DigitModel, optimizer: Any,
                 batch_gen: torch.Generator, history: dict, elapsed: float) -> None:
    state = {"config": asdict(cfg), "epoch": epoch, "model": model.state_dict(),
             "optimizers": {k: o.state_dict() for k, o in _optimizers(optimizer).items()},
             "torch_rng": torch.get_rng_state(), "batch_rng": batch_gen.get_state(),
             "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
             "history": history, "elapsed": elapsed}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_resume(path: Path, cfg: "TrainConfig") -> dict:
    """The resume state at ``path``, checked against ``cfg``.

    Raises:
        ValueError: unreadable, or written by a run with other settings (named).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved = state["config"]
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(f"the resume state {path} cannot be read ({type(exc).__name__}): it is damaged; it is kept, "
                         "and deleting it starts the run again from its first epoch") from None
    mine = asdict(cfg)
    different = [k for k in mine if k != "device" and saved.get(k) != mine[k]]
    if different:
        raise ValueError(f"the resume state {path} belongs to a run with other settings ("
                         + ", ".join(f"{k}: {saved.get(k)!r} there, {mine[k]!r} here" for k in different) + ")")
    return state


@dataclass
class TrainResult:
    model: DigitModel
    history: dict[str, list]
    metrics: dict[str, Any]
    seconds: float


def _mean_dicts(rows: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    total = sum(n for n, _ in rows)
    keys = rows[0][1].keys()
    return {k: sum(n * d[k] for n, d in rows) / total for k in keys}


def _epoch_means(sizes: list[int], batch_losses: list[dict[str, torch.Tensor]], epoch: int,
                 cfg: "TrainConfig") -> dict[str, float]:
    """Image-weighted means of an epoch's per-batch losses (0-d tensors, read from the device in one
    transfer).

    Raises:
        TrainingDiverged: a batch's loss is not finite; names the epoch and the first such batch.
    """
    keys = list(batch_losses[0])
    table = torch.stack([torch.stack([b[k].float() for k in keys]) for b in batch_losses]).tolist()  # (batches, keys)
    loss = keys.index("loss")
    for number, row in enumerate(table, start=1):
        if not math.isfinite(row[loss]):
            raise TrainingDiverged(
                f"training diverged in epoch {epoch} of {cfg.epochs}: the loss became {row[loss]} at batch {number} "
                f"(learning rate {cfg.lr:g}); lower the learning rate")
    return _mean_dicts([(n, dict(zip(keys, row))) for n, row in zip(sizes, table)])


@torch.no_grad()
def validation_losses(model: DigitModel, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                      seed: int = 0) -> dict[str, float]:
    """Mean of ``model.validation_loss`` over ``x`` (N, 1, 28, 28), ``y`` (N,) in batches."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(0, x.shape[0], batch_size):
        losses = model.validation_loss(x[i:i + batch_size], y[i:i + batch_size], gen)
        rows.append((min(batch_size, x.shape[0] - i), {k: float(v) for k, v in losses.items()}))
    model.train()
    return _mean_dicts(rows)


def train(cfg: TrainConfig, splits: MnistSplits, out_dir: str | Path | None = None,
          progress: bool = True, resume_path: str | Path | None = None, overwrite: bool = False,
          on_epoch: Callable[[int, dict[str, float]], None] | None = None,
          snapshots: Callable[[Path, DigitModel, int, float], Any] | None = None,
          snapshot_dir: str | Path | None = None) -> TrainResult:
    """Train ``cfg.model`` on ``splits`` and (if ``out_dir``) write the run folder.

    History keys: ``epoch``, ``seconds``, ``train/<component>`` and ``val/<component>`` (nats per
    image). The test split is only touched once, after training, for the test metrics, which are
    computed on the weights rounded to float16, exactly as the run folder stores them. Seeds torch's
    global random generator with ``cfg.seed`` (initialisation and the CVAE's reparameterization noise).

    Resuming (nanoGPT-style): with ``resume_path``, the state after every epoch (model, optimisers,
    epoch, history, every random generator) is written there atomically, and a state already there
    is continued from, so a run killed after epoch k and started again ends with exactly the weights
    and history of the uninterrupted run (on the CPU). The file is removed once the run folder is
    written. ``on_epoch(epoch, losses)`` is called after every epoch with that epoch's
    ``train/<component>`` and ``val/<component>`` means (e.g. to report them to Ray Tune).

    Snapshots (replay and live views): with ``snapshots`` (a :class:`core.training.snapshots.SnapshotTaker`,
    or any ``snapshots(folder, model, epoch, seconds)``), the untrained model (epoch 0) and the model after
    every epoch are written to ``snapshot_dir/snapshots/`` (default: the run's in-progress folder), before
    that epoch's resume state, and the folder is saved with the run (``<run>/snapshots/``). Taking them
    leaves the weights and history unchanged.

    Raises:
        ValueError: a bad setting (see :meth:`TrainConfig.validate`) or device, or a resume state
            that cannot be read or belongs to other settings.
        KeyError: an unknown model name.
        TrainingDiverged: the training loss is not finite (NaN or infinite); names the epoch.
        FileExistsError, PermissionError: ``out_dir`` cannot be written, or holds a run and ``overwrite``
            is false (see :func:`core.runs.store.check_run_folder`; checked before training).
    """
    cfg.validate()
    if snapshot_dir is None and snapshots is not None:
        if out_dir is None:
            raise ValueError("snapshots need a folder: give snapshot_dir or out_dir")
        snapshot_dir = in_progress_dir(out_dir)
    snapshot_dir = None if snapshot_dir is None else Path(snapshot_dir)
    device = resolve_device(cfg.device)
    if out_dir is not None:
        check_run_folder(out_dir, overwrite)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_args).to(device)
    optimizer = model.configure_optimizer(cfg.lr)
    batch_gen = torch.Generator().manual_seed(cfg.seed)  # shuffling and input-mode choice
    train_x, train_y = splits.train_x.to(device), splits.train_y.to(device)
    val_x, val_y = splits.val_x.to(device), splits.val_y.to(device)
    n = train_x.shape[0]
    history: dict[str, list] = {"epoch": [], "seconds": []}
    first_epoch, elapsed = 1, 0.0
    resume_path = None if resume_path is None else Path(resume_path)
    if resume_path is not None and resume_path.exists():
        state = _load_resume(resume_path, cfg)
        model.load_state_dict(state["model"])
        for name, opt in _optimizers(optimizer).items():
            opt.load_state_dict(state["optimizers"][name])
        torch.set_rng_state(state["torch_rng"])
        batch_gen.set_state(state["batch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        history, first_epoch, elapsed = state["history"], int(state["epoch"]) + 1, float(state["elapsed"])
    start = time.perf_counter() - elapsed
    if snapshots is not None and first_epoch == 1:
        snapshots(snapshot_dir, model, 0, 0.0)
        start = time.perf_counter()  # the training's seconds leave the snapshots' time out
    epochs = tqdm(range(first_epoch, cfg.epochs + 1), desc=f"{cfg.model} {cfg.model_args}", unit="epoch",
                  disable=not progress)
    for epoch in epochs:
        model.train()
        perm = torch.randperm(n, generator=batch_gen).to(device)
        sizes, batch_losses = [], []
        for i in tqdm(range(0, n, cfg.batch_size), desc=f"epoch {epoch}", unit="batch", leave=False,
                      disable=not progress):
            idx = perm[i:i + cfg.batch_size]
            if idx.shape[0] < 2 < n:  # a last batch of one image breaks batch normalization
                continue
            sizes.append(idx.shape[0])
            batch_losses.append(model.train_step(train_x[idx], train_y[idx], optimizer, batch_gen))
        train_stats = _epoch_means(sizes, batch_losses, epoch, cfg)
        val_stats = validation_losses(model, val_x, val_y, 1000, seed=cfg.seed)
        if not math.isfinite(val_stats["loss"]):  # the last step's update broke the weights
            raise TrainingDiverged(f"training diverged in epoch {epoch} of {cfg.epochs}: the validation loss became "
                                   f"{val_stats['loss']} (learning rate {cfg.lr:g}); lower the learning rate")
        history["epoch"].append(epoch)
        history["seconds"].append(round(time.perf_counter() - start, 2))
        for prefix, stats in (("train", train_stats), ("val", val_stats)):
            for key, value in stats.items():
                history.setdefault(f"{prefix}/{key}", []).append(value)
        epochs.set_postfix(train=f"{train_stats['loss']:.2f}", val=f"{val_stats['loss']:.2f}")
        if on_epoch is not None:
            on_epoch(epoch, {key: values[-1] for key, values in history.items() if "/" in key})
        if snapshots is not None:
            taken = time.perf_counter()
            snapshots(snapshot_dir, model, epoch, taken - start)
            start += time.perf_counter() - taken
        if resume_path is not None:
            _save_resume(resume_path, cfg, epoch, model, optimizer, batch_gen, history, time.perf_counter() - start)
    model.eval()
    model.after_training(train_x, train_y)
    seconds = time.perf_counter() - start
    with torch.no_grad():  # evaluate the weights exactly as shipped (float16 on disk)
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    metrics = evaluate_test_metrics(model, splits.test_x.to(device), splits.test_y.to(device))
    result = TrainResult(model, history, metrics, seconds)
    if out_dir is not None:
        settings = asdict(cfg)
        settings.pop("model"), settings.pop("model_args")
        settings.pop("split_seed")
        config = {"split_seed": splits.split_seed,
                  "training": {**settings, "device": str(device), "optimizer": "Adam",
                               "n_train": int(n), "n_val": int(val_x.shape[0]),
                               "inputs": model.training_inputs,
                               "train_seconds": round(seconds, 1)}}
        save_run(out_dir, model, config, history, metrics, overwrite=overwrite,
                 snapshots_from=None if snapshots is None else snapshot_dir / SNAPSHOTS)
    if resume_path is not None:
        resume_path.unlink(missing_ok=True)
    return result
