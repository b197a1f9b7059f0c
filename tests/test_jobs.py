"""Trainings started from the dashboard (core/training/jobs.py, core/training/worker.py): requests checked
in words, one training per browser, the server's limit and queue, stop / resume / delete, the wall-clock
and disk caps, and a real worker process that trains, records snapshots and writes a normal run folder."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from core.training.jobs import (
    FAILED,
    FINISHED,
    JOB,
    QUEUED,
    RUNNING,
    STARTING,
    STATUS,
    STOPPED,
    TrainingLimits,
    TrainingManager,
    TrainingRefused,
    TrainRequest,
    model_arguments,
    train_threads,
    training_defaults,
)
from core.training.worker import NICENESS

A, B, C = "a" * 32, "b" * 32, "c" * 32


class FakeWorker:
    """A launcher's handle that lives until the test says otherwise (no process)."""

    started: list["FakeWorker"] = []

    def __init__(self, folder: Path):
        self.folder, self.running = folder, True
        FakeWorker.started.append(self)

    def alive(self) -> bool:
        return self.running

    def kill(self) -> None:
        self.running = False


@pytest.fixture
def manager(tmp_path):
    FakeWorker.started = []
    return TrainingManager(tmp_path / "user-runs", TrainingLimits(max_running=1, max_seconds=3600, max_disk_mb=100),
                           launcher=FakeWorker)


def small(**changes) -> TrainRequest:
    return TrainRequest(**{"model": "cae", "model_args": {"latent_dim": 2}, "epochs": 2, "n_train": 200, **changes})


def test_a_models_arguments_and_settings_start_at_its_sources_values():
    assert model_arguments("cae") == {"latent_dim": 32, "hidden_dim": 512}
    assert model_arguments("conv-vae")["latent_dim"] == 2 and "beta" in model_arguments("conv-vae")
    assert training_defaults("cgan") == {"epochs": 30, "lr": 2e-4, "batch_size": 128}
    assert training_defaults("cae")["epochs"] == 50


@pytest.mark.parametrize("request_, words", [
    (TrainRequest("nope"), "There is no model called nope."),
    (small(model_args={"latent_dim": 2, "depth": 3}), "cae takes no argument called depth."),
    (small(epochs=0), "Epochs must be between 1 and 200."),
    (small(lr=0.0), "The learning rate must be above 0 and at most 1."),
    (small(n_train=10), "The training subset must hold between 100 and 48,000 images."),
    (small(model_args={"latent_dim": "2"}), "latent_dim must be a number."),
    (small(model_args={"latent_dim": 10**9}), "That model is too large for this server"),
    (small(model_args={"latent_dim": 0}), "cae cannot be built with these arguments"),
])
def test_bad_requests_get_a_sentence_before_anything_starts(manager, request_, words):
    with pytest.raises(TrainingRefused) as refused:
        manager.submit(A, request_)
    assert str(refused.value).startswith(words) and "{" not in str(refused.value)
    assert not manager.root.exists() or not any(manager.root.rglob(JOB))
    assert FakeWorker.started == []


def test_one_training_per_browser_and_the_servers_limit_queues_the_rest(manager):
    first = manager.submit(A, small())
    assert first.state == QUEUED and first.place == 1
    with pytest.raises(TrainingRefused, match="This browser is already training"):
        manager.submit(A, small(seed=1))
    second = manager.submit(B, small())
    third = manager.submit(C, small())
    assert (manager.job(B, second.name).place, manager.job(C, third.name).place) == (2, 3)
    manager.tick()
    assert len(FakeWorker.started) == 1 and manager.job(A, first.name).state == STARTING
    assert (manager.job(B, second.name).place, manager.job(C, third.name).place) == (1, 2)
    manager.tick()
    assert len(FakeWorker.started) == 1  # the limit holds while the first one runs
    FakeWorker.started[0].running = False  # it finished (or failed)
    manager.tick()
    assert len(FakeWorker.started) == 2 and manager.job(B, second.name).state == STARTING
    assert manager.job(C, third.name).place == 1
    # the browsers see their own trainings only
    assert [j.name for j in manager.jobs(B)] == [second.name] and manager.jobs("d" * 32) == []
    with pytest.raises(ValueError, match="not a browser id"):
        manager.jobs("../" + "a" * 29)


def test_stop_resume_and_delete(manager):
    job = manager.submit(A, small())
    manager.tick()
    manager.stop(A, job.name)
    assert not FakeWorker.started[0].running
    stopped = manager.job(A, job.name)
    assert stopped.state == STOPPED and stopped.message == "Stopped by you."
    queued = manager.submit(B, small())
    with pytest.raises(TrainingRefused, match="only a stopped training can be resumed"):
        manager.resume(B, queued.name)
    manager.delete(B, queued.name)
    newer = manager.submit(A, small(seed=1))  # a stopped training does not block a new one...
    with pytest.raises(TrainingRefused, match="This browser is already training"):
        manager.resume(A, job.name)  # ...but then resuming waits for it
    manager.stop(A, newer.name)
    resumed = manager.resume(A, job.name)
    assert resumed.state == QUEUED
    manager.tick()
    assert manager.job(A, job.name).state == STARTING
    manager.delete(A, job.name)
    with pytest.raises(KeyError):
        manager.job(A, job.name)
    assert not (manager.root / A / job.name).exists()


def test_a_training_past_the_wall_clock_cap_is_stopped_and_can_resume(tmp_path):
    manager = TrainingManager(tmp_path, TrainingLimits(1, max_seconds=0.001, max_disk_mb=100), launcher=FakeWorker)
    job = manager.submit(A, small())
    manager.tick()
    deadline = time.monotonic() + 5
    while manager.job(A, job.name).state != STOPPED and time.monotonic() < deadline:
        manager.tick()
    stopped = manager.job(A, job.name)
    assert stopped.state == STOPPED and "limit of" in stopped.message and "Resume continues it" in stopped.message
    assert not FakeWorker.started[-1].running


def test_a_worker_gone_with_a_restarted_server_reads_as_stopped(manager, tmp_path):
    job = manager.submit(A, small())
    manager.tick()
    folder = manager.job(A, job.name).folder
    (folder / STATUS).write_text(json.dumps({"state": RUNNING, "epoch": 1}))
    restarted = TrainingManager(manager.root, manager.limits, launcher=FakeWorker)
    view = restarted.job(A, job.name)
    assert view.state == STOPPED and "worker stopped" in view.message


def test_the_disk_cap_removes_the_oldest_finished_runs_first(tmp_path):
    manager = TrainingManager(tmp_path, TrainingLimits(1, 3600, max_disk_mb=0.15), launcher=FakeWorker)
    runs = []
    for i, owner in enumerate((A, B, A)):
        run = tmp_path / owner / f"run-{i}"
        run.mkdir(parents=True)
        (run / "config.json").write_text("{}")
        (run / "weights.pt").write_bytes(b"0" * 100_000)
        runs.append(run)
        time.sleep(0.01)  # distinct modification times, oldest first
    manager.submit(B, small())  # an in-progress training is never removed
    removed = manager.enforce_disk_cap()
    assert removed == [runs[0], runs[1]] and runs[2].exists()
    assert len(manager.jobs(B)) == 1


@pytest.mark.slow
def test_a_real_worker_trains_records_snapshots_and_writes_a_run_folder(tmp_path, mnist_root, monkeypatch):
    """The default launcher (a warm local process) trains 2 epochs of a small subset; the live files appear
    epoch by epoch; the finished run is a normal run folder with its snapshots."""
    from core.runs.catalog import list_runs
    from core.runs.snapshots import snapshot_epochs
    from core.runs.store import load_run

    monkeypatch.setenv("DIGITLAB_DATA", str(mnist_root))
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DIGITLAB_RAY_ADDRESS", raising=False)
    manager = TrainingManager(tmp_path / "user-runs", TrainingLimits(1, 600, 100))
    job = manager.submit(A, small(n_train=300))
    seen, deadline, niceness = [], time.monotonic() + 240, set()
    try:
        while time.monotonic() < deadline:
            manager.tick()
            view = manager.job(A, job.name)
            for handle, _ in list(manager._running.values()) if view.state == RUNNING else ():
                try:
                    niceness.add(os.getpriority(os.PRIO_PROCESS, handle.process.pid))
                except OSError:  # it has just ended
                    pass
            state = (view.state, view.epoch)
            if not seen or seen[-1] != state:
                seen.append(state)
            if view.state in (FINISHED, FAILED, STOPPED):
                break
            time.sleep(0.05)
    finally:
        for handle, _ in list(manager._running.values()):
            handle.kill()
        manager.launcher.close()
    assert view.state == FINISHED, (seen, view.message)
    assert (RUNNING, 1) in seen and (FINISHED, 2) == seen[-1]
    assert niceness == {min(19, os.getpriority(os.PRIO_PROCESS, 0) + NICENESS)}, "the worker runs below the server"
    run = load_run(view.path)
    assert run.config["training"]["n_train"] == 300 and run.history["epoch"] == [1, 2]
    assert snapshot_epochs(view.path) == [0, 1, 2]
    assert not (view.path.parent / f".{view.path.name}.inprogress").exists()
    listed, _ = list_runs(view.path.parent)
    assert list(listed) == [job.name]


def test_a_local_worker_trains_on_every_core_unless_told(monkeypatch):
    """$DIGITLAB_TRAIN_THREADS sets the worker's torch threads; unset or not a positive number: every core."""
    monkeypatch.delenv("DIGITLAB_TRAIN_THREADS", raising=False)
    assert train_threads() == (os.cpu_count() or 1)
    monkeypatch.setenv("DIGITLAB_TRAIN_THREADS", "1")
    assert train_threads() == 1
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv("DIGITLAB_TRAIN_THREADS", bad)
        assert train_threads() == (os.cpu_count() or 1)
