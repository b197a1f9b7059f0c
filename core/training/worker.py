"""The worker of a training started from the dashboard: ``python -m core.training.worker <in-progress folder>``.

It reads the folder's ``job.json`` (written by ``core.training.jobs.TrainingManager``), holds the
folder's lock while it lives (so a restarted server can tell it is still running), trains with
:func:`core.training.runner.train_spec` — the code path of a sweep's trial, resuming from the folder's
``resume.pt`` when there is one — and after every epoch writes ``live.json`` (the history so far) and
``status.json`` (state and epoch). The snapshots of every epoch land in the folder's ``snapshots/``.
When the run folder is written the in-progress folder is removed; on an error ``status.json`` says what
went wrong, in words.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from core.atomic import write_json

#: the files of an in-progress folder (see :mod:`core.training.jobs`)
JOB, STATUS, LIVE, LOG, LOCK = "job.json", "status.json", "live.json", "worker.log", "worker.lock"
#: a training's states
QUEUED, STARTING, RUNNING, STOPPED, FAILED, FINISHED = "queued", "starting", "running", "stopped", "failed", "finished"
#: how much lower than the server's a worker's scheduling priority is (``os.nice``): it trains on every
#: core while the page is idle, and the server's gestures come first when they need a core
NICENESS = 10


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``, or {} when it is absent, damaged or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _status(folder: Path, state: str, epoch: int, message: str = "") -> None:
    write_json(folder / STATUS, {"state": state, "epoch": epoch, "message": message, "pid": os.getpid(),
                                 "updated": time.time()})


def _earlier_history(folder: Path) -> dict[str, list]:
    """The history of the epochs a resumed training has finished already (from its resume state)."""
    from core.training.trainer import RESUME

    if not (folder / RESUME).is_file():
        return {}
    import torch

    try:
        return dict(torch.load(folder / RESUME, map_location="cpu", weights_only=True)["history"])
    except Exception:  # noqa: BLE001 - a damaged state: the trainer says so when it reads it
        return {}


#: where dashboard trainings run: ``cpu``, ``cuda`` or ``auto`` (the default: the GPU when there is one)
DEVICE_ENV_VAR = "DIGITLAB_TRAINING_DEVICE"


def run_job(folder: str | os.PathLike, splits=None, judge=None) -> int:
    """Train the job of the in-progress ``folder``; returns 0 when its run folder is written, 1 when it
    failed (``status.json`` then holds the reason) and 2 when another worker holds the folder.
    ``splits`` and ``judge``: loaded beforehand by a worker kept warm (:func:`standby`)."""
    folder = Path(folder)
    lock = open(folder / LOCK, "a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 2
    job = read_json_object(folder / JOB)
    if "spec" not in job:
        _status(folder, FAILED, 0, "Its job file is missing or damaged; delete it and start again.")
        return 1
    history = _earlier_history(folder)
    epoch = len(history.get("epoch", []))
    _status(folder, RUNNING, epoch)
    write_json(folder / LIVE, {"history": history})

    def on_epoch(number: int, losses: dict) -> None:
        history.setdefault("epoch", []).append(number)
        for key, value in losses.items():
            history.setdefault(key, []).append(value)
        write_json(folder / LIVE, {"history": history})
        _status(folder, RUNNING, number)

    from core.training.runner import train_spec
    from core.training.trainer import TrainingDiverged

    threads = max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    device = os.environ.get(DEVICE_ENV_VAR) or "auto"  # a server with a GPU trains on it
    try:
        train_spec(job["spec"], {"threads": threads, "device": device, "data_dir": None}, on_epoch=on_epoch,
                   splits=splits, judge=judge)
    except TrainingDiverged as exc:
        _status(folder, FAILED, len(history.get("epoch", [])), f"{exc}.")
        return 1
    except Exception as exc:  # noqa: BLE001 - whatever it was, the page must say it in words
        from core.data.mnist import DataError

        why = str(exc) if isinstance(exc, (DataError, ValueError, OSError)) else "an unexpected error"
        _status(folder, FAILED, len(history.get("epoch", [])), f"The training stopped: {why}. The worker's log "
                                                               f"is {folder / 'worker.log'}.")
        import traceback

        traceback.print_exc()
        return 1
    finally:
        lock.close()
    return 0


def standby() -> int:
    """A worker kept warm: import torch and the trainer, load MNIST, the judge and the judge's features
    of the test set, then wait for one in-progress folder on standard input and train it (the first live
    update then comes in about a second instead of several). Returns as :func:`run_job`; 3 when standard
    input closes first (the server went away)."""
    import torchmetrics.image.fid  # noqa: F401 - imported now, not at the first snapshot

    from core.data.mnist import load_splits
    from core.paths import checkpoint_root
    from core.training.snapshots import SnapshotTaker, find_judge

    try:
        splits = load_splits(0, log=lambda *_: None)
    except Exception:  # noqa: BLE001 - no data yet: the job loads it (and says why it cannot)
        splits = None
    judge = find_judge(checkpoint_root())
    if splits is not None and judge is not None:
        SnapshotTaker(splits.test_x, splits.test_y, judge)._real_features()  # cached on disk for every worker
    line = sys.stdin.readline().strip()
    if not line:
        return 3
    return run_job(line, splits, judge)


if __name__ == "__main__":
    try:
        os.nice(NICENESS)
    except OSError:  # not allowed here: train at the server's priority
        pass
    if sys.argv[1:] == ["--standby"]:
        sys.exit(standby())
    if len(sys.argv) != 2:
        print("usage: python -m core.training.worker <in-progress folder> | --standby", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_job(sys.argv[1]))
