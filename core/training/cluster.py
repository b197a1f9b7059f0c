"""Training on Ray: the trainable every trial of ``scripts/sweep.py`` runs, and the cluster address check.

Locally by default (Ray starts on this machine), on a cluster when given its address. The trial
trains with the shared trainer (:func:`core.training.trainer.train`), writes the same run folder as
``scripts/train.py`` and resumes an interrupted run from its last epoch.
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from urllib.parse import urlparse


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast when a Ray cluster's address cannot be reached (Ray itself retries for minutes).

    Raises:
        ConnectionError: nothing answers at the address's host and port within ``timeout`` seconds.
    """
    if address in ("auto", "local"):
        return
    parsed = urlparse(address if "://" in address else f"ray://{address}")
    host, port = parsed.hostname, parsed.port or (10001 if parsed.scheme == "ray" else 6379)
    if not host:
        raise ConnectionError(f"{address!r} is not a Ray address (host:port or ray://host:port)")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ConnectionError(f"no Ray cluster answers at {address} ({host}:{port}: "
                              f"{exc.strerror or type(exc).__name__}); is the head node running?") from None


def train_trial(config: dict) -> None:
    """One Tune trial: train one run (resuming it if it was interrupted), reporting every epoch."""
    import torch
    from ray import tune

    from core.data.mnist import load_splits
    from core.training.trainer import RESUME, TrainConfig, in_progress_dir, train

    spec, settings = config["run"], config["settings"]
    torch.set_num_threads(settings["threads"])
    out = Path(spec["out"])
    training = dict(spec["training"])
    sizes = [training.pop(key, None) for key in ("n_train", "n_val", "n_test")]
    splits = load_splits(training.get("split_seed", 0), root=settings["data_dir"], log=lambda *_: None)
    if any(sizes):
        full = (splits.train_x.shape[0], splits.val_x.shape[0], splits.test_x.shape[0])
        splits = splits.subset(*(size or n for size, n in zip(sizes, full)))
    cfg = TrainConfig.for_model(spec["model"], spec["model_args"], seed=spec["seed"], device=settings["device"],
                                **training)
    in_progress = in_progress_dir(out)
    in_progress.mkdir(parents=True, exist_ok=True)

    def report(epoch: int, losses: dict) -> None:
        tune.report({"epoch": epoch, **{key.replace("/", "_"): value for key, value in losses.items()}})

    train(cfg, splits, out_dir=out, progress=False, resume_path=in_progress / RESUME, on_epoch=report)
    shutil.rmtree(in_progress, ignore_errors=True)
