"""Per-epoch snapshots (core/runs/snapshots.py, core/training/snapshots.py): what a run records for replay
and for the live Train page, and that recording them leaves the training untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models.capabilities import ENCODE, GENERATE
from core.runs.format import CheckpointError
from core.runs.snapshots import (
    Probe,
    Snapshot,
    epoch_file,
    read_probe,
    read_snapshot,
    snapshot_epochs,
    snapshot_metrics,
    write_probe,
    write_snapshot,
)
from core.runs.store import load_run
from core.training.snapshots import SnapshotTaker, find_judge, probe_indices
from core.training.trainer import TrainConfig, train


@pytest.fixture(scope="module")
def small(mnist_splits):
    return mnist_splits.subset(2048, 200, 600)


@pytest.fixture(scope="module")
def judge():
    from core.paths import SHIPPED_CHECKPOINTS

    found = find_judge(SHIPPED_CHECKPOINTS)
    assert found is not None, "the shipped judge run should load"
    return found


def test_probe_indices_are_seeded_sorted_and_bounded():
    a, b = probe_indices(10_000), probe_indices(10_000)
    assert np.array_equal(a, b) and a.shape == (2000,) and np.all(np.diff(a) > 0)
    assert not np.array_equal(a, probe_indices(10_000, seed=1))
    assert probe_indices(600).shape == (600,)


def test_a_run_trained_with_snapshots_keeps_every_epoch_and_the_same_weights(small, judge, tmp_path):
    cfg = TrainConfig.for_model("cvae", {"latent_dim": 8}, epochs=2, seed=3)
    taker = SnapshotTaker(small.test_x, small.test_y, judge, points=300, fid_samples=200)
    with_snapshots = train(cfg, small, out_dir=tmp_path / "with", progress=False, snapshots=taker)
    without = train(cfg, small, out_dir=tmp_path / "without", progress=False)
    for name, tensor in with_snapshots.model.state_dict().items():
        assert torch.equal(tensor, without.model.state_dict()[name]), name
    assert with_snapshots.history == {**without.history, "seconds": with_snapshots.history["seconds"]}

    run = tmp_path / "with"
    assert snapshot_epochs(run) == [0, 1, 2]
    assert snapshot_epochs(tmp_path / "without") == []
    probe = read_probe(run)
    assert probe.indices.shape == (300,) and probe.meta["input_mode"] == "image+digit"
    assert np.array_equal(probe.labels, small.test_y[torch.from_numpy(probe.indices)].numpy())
    first, last = read_snapshot(run, 0), read_snapshot(run, 2)
    assert first.codes.shape == (300, 8) and first.codes.dtype == np.float16
    assert first.grid.shape == (100, 28, 28) and first.grid.dtype == np.uint8
    # the last snapshot is the trained model (before its float16 rounding): its codes are the run's own
    model = load_run(run).model
    x, y = small.test_x[torch.from_numpy(probe.indices)], small.test_y[torch.from_numpy(probe.indices)]
    with torch.no_grad():
        codes = model.encode(x, y).numpy()
    assert np.abs(codes - last.codes.astype(np.float32)).max() < 0.05 * (np.abs(codes).max() + 1)
    # training moved the codes and made the judge read the grid better than the untrained model's
    assert not np.allclose(first.codes, last.codes)
    metrics = snapshot_metrics(run)
    assert [m["epoch"] for m in metrics] == [0, 1, 2]
    assert 0 <= metrics[2]["judge_accuracy"] <= 1
    assert metrics[2]["judge_fid"] < metrics[0]["judge_fid"]
    assert metrics[0]["fid_samples"] == 200 and metrics[2]["seconds"] > 0


def test_a_model_that_only_generates_keeps_grids_and_no_codes(small, judge, tmp_path):
    taker = SnapshotTaker(small.test_x, small.test_y, judge, points=100, fid_samples=100)
    from core.models import build_model

    gan = build_model("cgan")
    assert gan.can(GENERATE) and not gan.can(ENCODE)
    snap = taker(tmp_path, gan, 0)
    assert snap.codes is None and snap.grid.shape == (100, 28, 28)
    assert read_probe(tmp_path).meta["input_mode"] is None
    again = read_snapshot(tmp_path, 0)
    assert again.codes is None and np.array_equal(again.grid, snap.grid)


def test_taking_a_snapshot_keeps_the_global_random_state_and_the_training_mode(small, tmp_path):
    from core.models import build_model

    model = build_model("cvae", latent_dim=4).train()
    state = torch.get_rng_state()
    SnapshotTaker(small.test_x, small.test_y, None, points=50)(tmp_path, model, 0)
    assert torch.equal(state, torch.get_rng_state()) and model.training
    assert "judge_accuracy" not in read_snapshot(tmp_path, 0).metrics  # no judge, no judge metrics


def test_damaged_or_odd_snapshot_files_are_refused_in_words(tmp_path):
    write_probe(tmp_path, Probe(np.arange(5), np.arange(5) % 10, {"input_mode": "image"}))
    write_snapshot(tmp_path, Snapshot(1, np.zeros((5, 2)), None, {"seconds": 1.0}))
    assert read_snapshot(tmp_path, 1).codes.shape == (5, 2)
    epoch_file(tmp_path, 2).write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="damaged"):
        read_snapshot(tmp_path, 2)
    with pytest.raises(CheckpointError, match="missing"):
        read_snapshot(tmp_path, 3)
    assert [m["epoch"] for m in snapshot_metrics(tmp_path)] == [1]  # the damaged one left out
    with pytest.raises(ValueError, match="uint8"):
        write_snapshot(tmp_path, Snapshot(4, None, np.zeros((100, 28, 28)), {}))
    np.savez(epoch_file(tmp_path, 5), metrics=np.array("[1, 2]"))
    with pytest.raises(CheckpointError, match="damaged"):
        read_snapshot(tmp_path, 5)
