"""One run trained from its description: the code path shared by a sweep's trial on Ray
(:func:`core.training.cluster.train_trial`) and a training started from the dashboard
(:mod:`core.training.worker`).
"""

from __future__ import annotations

import shutil
from pathlib import Path


def train_spec(spec: dict, settings: dict, on_epoch=None, splits=None, judge=None) -> None:
    """Train one run described by ``spec`` and write its run folder, resuming it when it was interrupted:
    the one code path of a sweep's trial and of a training started from the dashboard.

    Args:
        spec: ``out`` (the run folder), ``model``, ``model_args``, ``seed`` and ``training`` (TrainConfig
            settings plus optional ``n_train``, ``n_val``, ``n_test`` subset sizes).
        settings: ``threads`` (torch threads), ``device``, ``data_dir`` (None: the default), and optional
            ``snapshots`` (default True: per-epoch snapshots, :mod:`core.training.snapshots`) and
            ``judge_root`` (the folder searched for the judge; default the shipped checkpoints).
        on_epoch: ``on_epoch(epoch, losses)`` after every epoch (see :func:`core.training.trainer.train`).
        splits, judge: MNIST splits and the judge loaded beforehand (a worker kept warm); the splits are
            used only when their split seed is the run's.

    Raises:
        what :func:`core.training.trainer.train` raises, and :class:`core.data.mnist.DataError`.
    """
    import torch

    from core.data.mnist import load_splits
    from core.paths import checkpoint_root
    from core.training.snapshots import SnapshotTaker, find_judge
    from core.training.trainer import RESUME, TrainConfig, in_progress_dir, train

    torch.set_num_threads(settings["threads"])
    out = Path(spec["out"])
    training = dict(spec["training"])
    sizes = [training.pop(key, None) for key in ("n_train", "n_val", "n_test")]
    if splits is None or splits.split_seed != training.get("split_seed", 0):
        splits = load_splits(training.get("split_seed", 0), root=settings.get("data_dir"), log=lambda *_: None)
    if any(sizes):
        full = (splits.train_x.shape[0], splits.val_x.shape[0], splits.test_x.shape[0])
        splits = splits.subset(*(size or n for size, n in zip(sizes, full)))
    cfg = TrainConfig.for_model(spec["model"], spec["model_args"], seed=spec["seed"], device=settings["device"],
                                **training)
    in_progress = in_progress_dir(out)
    in_progress.mkdir(parents=True, exist_ok=True)
    taker = None
    if settings.get("snapshots", True):
        judge = judge or find_judge(settings.get("judge_root") or checkpoint_root())
        taker = SnapshotTaker(splits.test_x, splits.test_y, judge, split_seed=splits.split_seed)
    train(cfg, splits, out_dir=out, progress=False, resume_path=in_progress / RESUME, on_epoch=on_epoch,
          snapshots=taker)
    shutil.rmtree(in_progress, ignore_errors=True)
