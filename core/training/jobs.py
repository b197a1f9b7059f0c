"""Trainings started from the dashboard: the request, its folders, the server's queue and its limits.

A user asks for a training (:class:`TrainRequest`: a registered model, its constructor arguments,
epochs, learning rate, batch size, subset size); :class:`TrainingManager` checks it, queues it and runs
it in a worker process outside the Streamlit script thread (:mod:`core.training.worker`, which trains
with :func:`core.training.runner.train_spec`, the code path of ``scripts/sweep.py``'s trials), one per
browser and at most ``max_running`` at once on the server. Everything a page needs is on disk, so a
reload, a second tab or a restarted server finds a training where it is::

    <user runs>/<owner>/<run>/                  the finished run: a normal run folder (snapshots/ included)
    <user runs>/<owner>/.<run>.inprogress/      while it trains (or after it stopped):
        job.json       the request and when it was made (written by the manager)
        status.json    state, epoch, message, pid (written by the worker)
        live.json      the history so far (losses per epoch, written by the worker after every epoch)
        resume.pt      the trainer's resume state (Stop, then Resume, continues from the last epoch)
        snapshots/     one file per epoch (:mod:`core.runs.snapshots`)
        worker.log     the worker's output

``<user runs>`` is :func:`core.paths.user_runs_root`; ``<owner>`` the browser's id. Shipped runs are never
under it, so the disk cap (oldest finished user runs removed first) can never touch them.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import write_json
from core.paths import REPO_ROOT, browser_folder, user_runs_root
from core.training.sharing import unshare
from core.training.worker import FAILED, FINISHED, JOB, LIVE, LOCK, LOG, QUEUED, RUNNING, STARTING, STATUS, STOPPED
from core.training.worker import read_json_object as _read

#: the subset sizes a user may ask for (images of the 48,000 training images)
MIN_TRAIN, MAX_TRAIN = 100, 48_000
MAX_EPOCHS = 200



class TrainingRefused(ValueError):
    """A training that cannot start as asked; the message is a sentence for the user."""


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


@dataclass(frozen=True)
class TrainingLimits:
    """Limits of a shared server.

    Attributes:
        max_running: trainings at once on this server (the others queue); ``$DIGITLAB_MAX_TRAININGS``, default 1.
        max_seconds: wall-clock seconds one training may run before it is stopped (it can be resumed);
            ``$DIGITLAB_TRAINING_SECONDS``, default 1,800.
        max_disk_mb: megabytes all user runs may take; beyond it the oldest finished ones are removed;
            ``$DIGITLAB_USER_RUNS_MB``, default 500.
    """

    max_running: int = 1
    max_seconds: float = 1800.0
    max_disk_mb: float = 500.0

    @classmethod
    def from_env(cls) -> "TrainingLimits":
        """The limits set by the environment variables above (a value that is not a positive number: the default)."""
        return cls(int(_env_number("DIGITLAB_MAX_TRAININGS", cls.max_running)),
                   _env_number("DIGITLAB_TRAINING_SECONDS", cls.max_seconds),
                   _env_number("DIGITLAB_USER_RUNS_MB", cls.max_disk_mb))


def model_arguments(model: str) -> dict[str, int | float]:
    """The numeric constructor arguments of a registered model and their defaults (its seed's), e.g.
    ``{"latent_dim": 32, "hidden_dim": 512}`` for ``cae``; booleans and text are left out.

    Raises:
        KeyError: an unknown model name.
    """
    from core.models import model_class

    found = {}
    for name, param in inspect.signature(model_class(model).__init__).parameters.items():
        default = param.default
        if name != "self" and isinstance(default, (int, float)) and not isinstance(default, bool):
            found[name] = default
    return found


def training_defaults(model: str) -> dict[str, Any]:
    """Epochs, learning rate and batch size of ``model``'s source (the trainer's defaults otherwise)."""
    from core.training.trainer import TrainConfig

    cfg = TrainConfig.for_model(model)
    return {"epochs": cfg.epochs, "lr": cfg.lr, "batch_size": cfg.batch_size}


@dataclass(frozen=True)
class TrainRequest:
    """One training a user asks for.

    Attributes:
        model: a registered model name; model_args: constructor arguments (the others keep their defaults).
        epochs: 1 to :data:`MAX_EPOCHS`; lr: Adam's learning rate, above 0 and at most 1; batch_size: 2 to 4,096.
        n_train: training images, :data:`MIN_TRAIN` to :data:`MAX_TRAIN` (the first ones of the split).
        seed: the training seed.
    """

    model: str
    model_args: dict[str, Any] = field(default_factory=dict)
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    n_train: int = MAX_TRAIN
    seed: int = 0

    def check(self) -> None:
        """Refuse, before anything starts, what cannot train.

        Raises:
            TrainingRefused: the first problem, as a sentence (an unknown model or argument, a value out
                of range, a model too large for this server).
        """
        from core.models import ModelTooLarge, build_model

        try:
            allowed = model_arguments(self.model)
        except KeyError:
            raise TrainingRefused(f"There is no model called {self.model}.") from None
        unknown = sorted(set(self.model_args) - set(allowed))
        if unknown:
            raise TrainingRefused(f"{self.model} takes no argument called {', '.join(unknown)}.")
        for name, value in self.model_args.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value != value:
                raise TrainingRefused(f"{name} must be a number.")
        checks = [(1 <= self.epochs <= MAX_EPOCHS, f"Epochs must be between 1 and {MAX_EPOCHS}."),
                  (0 < self.lr <= 1, "The learning rate must be above 0 and at most 1."),
                  (2 <= self.batch_size <= 4096, "The batch size must be between 2 and 4,096."),
                  (MIN_TRAIN <= self.n_train <= MAX_TRAIN,
                   f"The training subset must hold between {MIN_TRAIN:,} and {MAX_TRAIN:,} images."),
                  (0 <= self.seed < 2**31, "The seed must be a whole number from 0.")]
        for ok, message in checks:
            if not ok:
                raise TrainingRefused(message)
        try:
            build_model(self.model, **self.model_args)
        except ModelTooLarge as exc:
            raise TrainingRefused(f"That model is too large for this server: {exc}.") from None
        except (TypeError, ValueError) as exc:
            raise TrainingRefused(f"{self.model} cannot be built with these arguments: {exc}.") from None

    def run_name(self) -> str:
        """The run's base name, e.g. ``cae-z2-s0`` (the folder adds the time it was asked for)."""
        from core.models import build_model
        from core.runs.format import run_name

        return run_name(self.model, build_model(self.model, **self.model_args).latent_dim, self.seed)

    def spec(self, out: Path) -> dict[str, Any]:
        """The run as :func:`core.training.runner.train_spec` takes it."""
        training = {"epochs": int(self.epochs), "lr": float(self.lr), "batch_size": int(self.batch_size)}
        if self.n_train < MAX_TRAIN:
            training["n_train"] = int(self.n_train)
        return {"out": str(out), "model": self.model, "model_args": dict(self.model_args), "seed": int(self.seed),
                "training": training}


@dataclass
class JobView:
    """What a page shows of one training (read from disk; see the module docstring).

    Attributes:
        name: the run folder's name; owner: the browser's id; path: the run folder (finished or not yet).
        state: queued, starting, running, stopped, failed or finished; epoch: epochs finished; epochs: asked.
        message: why it stopped or failed ("" otherwise); place: its place in the queue (1 = next) or None.
        history: the losses so far (``epoch``, ``train/loss``, ...); request: what was asked.
    """

    name: str
    owner: str
    path: Path
    state: str
    epoch: int
    epochs: int
    message: str = ""
    place: int | None = None
    history: dict[str, list] = field(default_factory=dict)
    request: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0

    @property
    def folder(self) -> Path:
        """Where its files are now: the run folder once finished, else its in-progress folder."""
        from core.training.trainer import in_progress_dir

        return self.path if self.state == FINISHED else in_progress_dir(self.path)


def folder_bytes(path: Path) -> int:
    """Bytes of every file under ``path`` (0 when it is gone)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def train_threads() -> int:
    """Torch threads of a local worker: ``$DIGITLAB_TRAIN_THREADS``, else (or when it is not a positive
    number) every core; the worker runs at a lower priority (:data:`core.training.worker.NICENESS`), so the
    server's gestures still come first."""
    return max(1, int(_env_number("DIGITLAB_TRAIN_THREADS", os.cpu_count() or 1)))


class LocalProcess:
    """A worker in a process of its own on this machine (its own session: it outlives a page's rerun).

    Args:
        folder: the in-progress folder to train, or None for a worker kept warm (``--standby``) that
            trains the folder given later to :meth:`assign`.
    """

    def __init__(self, folder: Path | None):
        env = {**os.environ, "OMP_NUM_THREADS": str(train_threads())}
        args = [str(folder)] if folder is not None else ["--standby"]
        log_path = folder / LOG if folder is not None else Path(os.devnull)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "core.training.worker", *args], cwd=REPO_ROOT,
                                            stdin=subprocess.PIPE if folder is None else subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def assign(self, folder: Path) -> bool:
        """Give a warm worker its folder; False when it is gone (then start a fresh one)."""
        if not self.alive():
            return False
        try:
            self.process.stdin.write(f"{folder}\n".encode())
            self.process.stdin.close()
        except OSError:
            return False
        return True

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=30)


class WarmLauncher:
    """Starts local workers, keeping one warm process ready (torch imported, MNIST and the judge loaded) so
    that a training's first live update comes at once; a fresh warm one is started after each launch."""

    def __init__(self):
        self._lock = threading.Lock()
        self._warm: LocalProcess | None = None

    def prepare(self) -> None:
        """Start the warm process if there is none."""
        with self._lock:
            if self._warm is None or not self._warm.alive():
                self._warm = LocalProcess(None)

    def __call__(self, folder: Path) -> LocalProcess:
        with self._lock:
            warm, self._warm = self._warm, None
        if warm is not None and warm.assign(folder):
            handle = warm
        else:
            if warm is not None:
                warm.kill()
            handle = LocalProcess(folder)
        self.prepare()
        return handle

    def close(self) -> None:
        """Stop the warm process (not the trainings)."""
        with self._lock:
            if self._warm is not None:
                self._warm.kill()
                self._warm = None


def default_launcher():
    """``launcher(folder)`` for :class:`TrainingManager`: a task on the Ray cluster at ``$DIGITLAB_RAY_ADDRESS``
    when set, else a local process (:class:`WarmLauncher`)."""
    address = os.environ.get("DIGITLAB_RAY_ADDRESS")
    if address:
        from core.training.cluster import RayTask  # Ray is optional: imported only for a cluster

        return lambda folder: RayTask(folder, address)
    return WarmLauncher()


def worker_alive(folder: Path) -> bool:
    """True while some worker process holds the folder's lock (also one started before a server restart)."""
    import fcntl

    try:
        handle = open(folder / LOCK, "a+")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


class TrainingManager:
    """The server's trainings: one per browser, at most ``limits.max_running`` at once, the rest queued
    in the order they were asked; each stopped at the wall-clock cap; the user runs' disk kept under
    the cap. Thread-safe; :meth:`start` runs :meth:`tick` in a background thread every ``interval`` s.

    Args:
        root: the user runs' folder (default :func:`core.paths.user_runs_root`).
        limits: default :meth:`TrainingLimits.from_env`.
        launcher: ``launcher(in_progress_folder)`` returns a handle with ``alive()`` and ``kill()``
            (default :func:`default_launcher`); with a ``prepare()``, :meth:`start` calls it (a warm worker).
    """

    def __init__(self, root: str | os.PathLike | None = None, limits: TrainingLimits | None = None,
                 launcher=None, interval: float = 0.5):
        self.root = Path(root) if root is not None else user_runs_root()
        self.limits = limits or TrainingLimits.from_env()
        self.launcher = launcher if launcher is not None else default_launcher()
        self.interval = interval
        self._lock = threading.RLock()
        self._queue: list[Path] = []          # run folders waiting, in order
        self._running: dict[Path, tuple[Any, float]] = {}  # run folder -> (handle, started at)
        self._thread: threading.Thread | None = None

    # --- folders -------------------------------------------------------------------------------
    def owner_root(self, owner: str) -> Path:
        """The folder of one browser's runs."""
        return browser_folder(self.root, owner)

    @staticmethod
    def _in_progress(path: Path) -> Path:
        from core.training.trainer import in_progress_dir

        return in_progress_dir(path)

    # --- requests ------------------------------------------------------------------------------
    def submit(self, owner: str, request: TrainRequest) -> JobView:
        """Check ``request``, write its job file and queue it (it starts at the next :meth:`tick` when a
        place is free).

        Raises:
            TrainingRefused: a bad request (:meth:`TrainRequest.check`), or this browser has a training
                queued or running already.
        """
        request.check()
        with self._lock:
            busy = [job for job in self.jobs(owner) if job.state in (QUEUED, STARTING, RUNNING)]
            if busy:
                raise TrainingRefused(f"This browser is already training {busy[0].name}: stop it or let it finish "
                                      "before starting another.")
            folder = self.owner_root(owner)
            base = f"{request.run_name()}-{time.strftime('%m%d-%H%M%S')}"
            name, n = base, 1
            while (folder / name).exists() or self._in_progress(folder / name).exists():
                n += 1
                name = f"{base}-{n}"
            path = folder / name
            in_progress = self._in_progress(path)
            in_progress.mkdir(parents=True)
            write_json(in_progress / JOB, {"owner": owner, "request": asdict(request), "created": time.time(),
                                           "spec": request.spec(path)})
            self._queue.append(path)
        return self.job(owner, name)

    def stop(self, owner: str, name: str) -> None:
        """Stop a queued or running training of ``owner`` (its finished epochs stay; Resume continues)."""
        path = self.owner_root(owner) / name
        with self._lock:
            if path in self._queue:
                self._queue.remove(path)
            handle = self._running.pop(path, (None, 0))[0]
        if handle is not None:
            handle.kill()
        self._mark(path, STOPPED, "Stopped by you.")

    def resume(self, owner: str, name: str) -> JobView:
        """Queue a stopped or failed training of ``owner`` again; it continues from its last finished epoch.

        Raises:
            TrainingRefused: it is not stopped, or this browser has another training queued or running.
        """
        path = self.owner_root(owner) / name
        with self._lock:
            job = self.job(owner, name)
            if job.state not in (STOPPED, FAILED):
                raise TrainingRefused(f"{name} is {job.state}; only a stopped training can be resumed.")
            busy = [j for j in self.jobs(owner) if j.state in (QUEUED, STARTING, RUNNING)]
            if busy:
                raise TrainingRefused(f"This browser is already training {busy[0].name}.")
            self._mark(path, QUEUED, "")
            self._queue.append(path)
        return self.job(owner, name)

    def delete(self, owner: str, name: str) -> None:
        """Stop ``owner``'s training ``name`` if it runs, and remove its run and in-progress folders."""
        self.stop(owner, name)
        path = self.owner_root(owner) / name
        shutil.rmtree(self._in_progress(path), ignore_errors=True)
        shutil.rmtree(path, ignore_errors=True)
        unshare(self.root, owner, name)

    def _mark(self, path: Path, state: str, message: str) -> None:
        folder = self._in_progress(path)
        if folder.is_dir():
            write_json(folder / STATUS, {**_read(folder / STATUS), "state": state, "message": message,
                                         "updated": time.time()})

    # --- reading -------------------------------------------------------------------------------
    def job(self, owner: str, name: str) -> JobView:
        """The training ``name`` of ``owner`` as it is now.

        Raises:
            KeyError: no such training.
        """
        for job in self.jobs(owner):
            if job.name == name:
                return job
        raise KeyError(name)

    def jobs(self, owner: str) -> list[JobView]:
        """Every training of ``owner``, newest first: finished runs and those in progress."""
        folder = self.owner_root(owner)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return []
        found = []
        for entry in entries:
            if entry.name.startswith(".") and entry.name.endswith(".inprogress") and entry.is_dir():
                found.append(self._view(owner, folder / entry.name[1:-len(".inprogress")]))
            elif not entry.name.startswith(".") and (Path(entry.path) / "config.json").is_file():
                found.append(self._view(owner, Path(entry.path)))
        return sorted(found, key=lambda job: -job.created)

    def _view(self, owner: str, path: Path) -> JobView:
        folder = self._in_progress(path)
        if (path / "config.json").is_file() and not (folder / JOB).is_file():
            config = _read(path / "config.json")
            history = _read(path / "history.json")
            epochs = config.get("training", {}).get("epochs", 0)
            return JobView(path.name, owner, path, FINISHED, len(history.get("epoch", [])), epochs,
                           history=history, request=config, created=(path / "config.json").stat().st_mtime)
        job, status, live = _read(folder / JOB), _read(folder / STATUS), _read(folder / LIVE)
        request = job.get("request", {})
        with self._lock:
            queued = path in self._queue
            running = path in self._running
            place = self._queue.index(path) + 1 if queued else None
        state = status.get("state", QUEUED)
        if queued:
            state = QUEUED
        elif running or state in (RUNNING, STARTING):
            state = state if state in (RUNNING, STARTING) else STARTING
            if not running and not worker_alive(folder):  # its worker is gone (a server restart, a kill)
                state = STOPPED
        elif state == QUEUED:  # queued by a server that is gone
            state = STOPPED
        history = live.get("history", {})
        message = status.get("message", "")
        if state == STOPPED and not message:
            message = "Its worker stopped (the server restarted, or the process was killed)."
        return JobView(path.name, owner, path, state, len(history.get("epoch", [])), request.get("epochs", 0),
                       message, place, history, request, job.get("created", 0.0))

    def queue(self) -> list[Path]:
        """The run folders waiting, in order."""
        with self._lock:
            return list(self._queue)

    # --- the loop ------------------------------------------------------------------------------
    def tick(self) -> None:
        """Notice finished and failed workers, stop those past the wall-clock cap, start queued ones
        while places are free, and keep the user runs under the disk cap."""
        with self._lock:
            now = time.time()
            for path, (handle, started) in list(self._running.items()):
                if not handle.alive():
                    del self._running[path]
                elif now - started > self.limits.max_seconds:
                    handle.kill()
                    del self._running[path]
                    self._mark(path, STOPPED, f"Stopped at this server's limit of {self.limits.max_seconds / 60:g} "
                                              "minutes per training; Resume continues it.")
            others = sum(1 for folder in self._orphans() if folder not in self._running)
            while self._queue and len(self._running) + others < self.limits.max_running:
                path = self._queue.pop(0)
                folder = self._in_progress(path)
                if not (folder / JOB).is_file():
                    continue  # deleted meanwhile
                self._mark(path, STARTING, "")
                self._running[path] = (self.launcher(folder), time.time())
        self.enforce_disk_cap()

    def _orphans(self) -> list[Path]:
        """Run folders whose worker still runs though this manager did not start it (a server restart)."""
        found = []
        try:
            owners = [p for p in self.root.iterdir() if p.is_dir()]
        except OSError:
            return []
        for owner in owners:
            for folder in owner.glob(".*.inprogress"):
                path = owner / folder.name[1:-len(".inprogress")]
                if path not in self._running and _read(folder / STATUS).get("state") in (RUNNING, STARTING) \
                        and worker_alive(folder):
                    found.append(path)
        return found

    def enforce_disk_cap(self) -> list[Path]:
        """Remove the oldest finished user runs while all user runs take more than ``limits.max_disk_mb``;
        returns the removed run folders."""
        limit = self.limits.max_disk_mb * 1e6
        total = folder_bytes(self.root)
        removed = []
        if total <= limit:
            return removed
        finished = sorted((p for p in self.root.glob("*/*") if (p / "config.json").is_file()
                           and not p.name.startswith(".")), key=lambda p: (p / "config.json").stat().st_mtime)
        for path in finished:
            if total <= limit:
                break
            size = folder_bytes(path)
            shutil.rmtree(path, ignore_errors=True)
            unshare(self.root, path.parent.name, path.name)
            total -= size
            removed.append(path)
        return removed

    def start(self) -> "TrainingManager":
        """Run :meth:`tick` every ``interval`` seconds in a daemon thread (once); returns self."""
        with self._lock:
            if self._thread is None:
                def loop():
                    while True:
                        try:
                            self.tick()
                        except Exception:  # noqa: BLE001 - the loop must outlive one bad folder
                            import logging

                            logging.getLogger(__name__).exception("training manager tick failed")
                        time.sleep(self.interval)

                if hasattr(self.launcher, "prepare"):
                    self.launcher.prepare()
                self._thread = threading.Thread(target=loop, name="digitlab-trainings", daemon=True)
                self._thread.start()
        return self
