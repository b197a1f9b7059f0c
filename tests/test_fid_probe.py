"""scripts/fid_probe.py: InceptionV3 FID of small sets, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.evaluation.inception import inception_weights
from core.evaluation.metrics import pixel_statistics
from core.paths import REPO_ROOT
from scripts.fid_probe import HAZE_MEAN, HAZE_SHARE, hazed


def run_probe(*args, tmp_path: Path, timeout: float = 400) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", DIGITLAB_CACHE=str(tmp_path / "cache"),
               DIGITLAB_INCEPTION=str(inception_weights(log=lambda line: None)))
    env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "fid_probe.py"), *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout)


def test_haze_covers_the_asked_share_of_the_background_with_the_asked_mean():
    images = torch.zeros(200, 1, 28, 28)
    images[:, :, 10:14] = 1.0  # a stroke the haze must leave alone
    out = hazed(images)
    background = images == 0
    touched = (out != images) & background
    assert abs(touched.float().sum() / background.sum() - HAZE_SHARE) < 0.01
    assert abs(out[touched].mean() - HAZE_MEAN) < 0.001
    assert torch.equal(out[~background], images[~background]) and torch.equal(hazed(images), out)  # seeded
    stats = pixel_statistics(out)
    assert stats["ink"] == float((images > 0.5).float().mean()) and stats["haze"] > 0.3


@pytest.mark.slow
def test_probe_scores_real_hazed_reconstructed_and_generated_sets(tmp_path, mnist_root):
    result = run_probe("real", "real+haze", "cae-z8-s0:reconstructions", "cae-z8-s0:GMM (BIC)", "--zero-below",
                       "0.1", "--n-test", "20", "--per-digit", "2", "--out", tmp_path / "probe.jsonl",
                       tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "probe.jsonl").read_text().splitlines()]
    assert [r["set"] for r in rows] == ["real", "real+haze", "cae-z8-s0:reconstructions", "cae-z8-s0:GMM (BIC)"]
    assert all(r["n"] == 20 and r["fid_inception"] > 0 for r in rows)
    real, haze, _, generated = rows
    assert real["judge_accuracy"] >= 0.9 and real["haze"] < 0.05 and haze["haze"] > 0.3
    assert generated["haze"] == 0  # --zero-below 0.1 cleared every faint pixel
    assert real["fid_inception"] < haze["fid_inception"]


def test_probe_refuses_what_it_cannot_score(tmp_path, mnist_root):
    result = run_probe("no-such-run", "cgan-z100-s0:reconstructions", "cae-z8-s0:no-such-mode", "--n-test", "20",
                       "--per-digit", "2", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "error: no run folder no-such-run" in result.stderr
    assert "does not reconstruct" in result.stderr
    assert "no-such-mode" in result.stderr and "GMM (BIC)" in result.stderr  # the model's modes listed
    bad = run_probe("real", "--zero-below", "2", tmp_path=tmp_path, timeout=120)
    assert bad.returncode == 2 and "--zero-below must lie between 0 and 1" in bad.stderr


@pytest.mark.slow
def test_probe_tries_a_model_argument(tmp_path, mnist_root):
    result = run_probe("diffusion-z784-s0", "--set", "guidance=1", "--n-test", "20", "--per-digit", "1",
                       "--out", tmp_path / "probe.jsonl", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    (row,) = [json.loads(line) for line in (tmp_path / "probe.jsonl").read_text().splitlines()]
    assert row["changed"] == {"guidance": 1} and row["n"] == 10 and 0 <= row["judge_accuracy"] <= 1
