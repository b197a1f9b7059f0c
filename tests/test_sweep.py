"""Experiments as files (core/training/experiments.py) and scripts/sweep.py on a local Ray instance."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.paths import EXPERIMENTS_DIR
from core.runs.store import load_run
from core.training.cluster import check_address
from core.training.experiments import ExperimentError, load_experiment, parse_experiment, run_names

REPO = Path(__file__).resolve().parent.parent
SWEEP = REPO / "scripts" / "sweep.py"
TINY = """
name = "tiny"
seeds = [0, 1]
[training]
epochs = 1
n_train = 128
n_val = 64
n_test = 64
[[runs]]
model = "cae"
model_args = { latent_dim = [2, 3], hidden_dim = 16 }
"""


def test_the_shipped_experiment_files():
    counts = {load_experiment(p).name: len(load_experiment(p).runs) for p in EXPERIMENTS_DIR.glob("*.toml")}
    assert counts == {"seed000-sweep": 24, "zoo": 12, "seed004-beta": 15, "seed004-ablation": 9}
    sweep = load_experiment(EXPERIMENTS_DIR / "seed000_sweep.toml")
    assert sorted(run_names(sweep.runs))[:3] == ["cae-z16-s0", "cae-z16-s1", "cae-z16-s2"]
    assert all(run.training == {"epochs": 50} for run in sweep.runs)
    beta = run_names(load_experiment(EXPERIMENTS_DIR / "seed004_beta.toml").runs)
    assert len(set(beta)) == 15 and "conv-vae-z2-s1-beta0.5" in beta  # β named where it alone tells runs apart


@pytest.mark.parametrize("text, words", [
    ('name = "x"\nseeds = [0]\nepochs = 3\n[[runs]]\nmodel = "cae"', "epochs: unknown field; allowed: name (text)"),
    ('name = "x"\nseeds = [0]\n[[runs]]\nmodel = "vae"', "runs[1].model: unknown model 'vae'; registered: cae, cgan"),
    ('name = "x"\nseeds = ["a"]\n[[runs]]\nmodel = "cae"', "seeds: required: a list of whole numbers"),
    ('name = "x"\nseeds = [0]\n[training]\nepochs = 0\n[[runs]]\nmodel = "cae"', "training.epochs: must be a whole number of at least 1"),
    ('name = "x"\nseeds = [0]\n[training]\nlearning_rate = 1\n[[runs]]\nmodel = "cae"', "allowed: epochs, batch_size, lr"),
    ('name = "x"\nseeds = [0]\n[[runs]]\nmodel = "cae"\nmodel_args = { width = 3 }', "cae does not take these arguments"),
    ('name = "x"\nseeds = [0]\n[[runs]]\nmodel = "conv-vae"\nmodel_args = { dropout = 2.0 }', "dropout must be in [0, 1)"),
    ('seeds = [0]\n[[runs]]\nmodel = "cae"', "name: required"),
    ('name = "x"\nseeds = [0]', "runs: required"),
    ('name = "x"\nseeds = [0', "is not valid TOML"),
])
def test_a_bad_experiment_file_names_the_field_and_the_allowed_values(text, words):
    with pytest.raises(ExperimentError) as info:
        parse_experiment(text, "bad.toml")
    assert words in str(info.value) and str(info.value).startswith("bad.toml")


def test_an_unreachable_cluster_is_reported_within_seconds(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(SWEEP), str(tmp_path / "tiny.toml"), "--address", "127.0.0.1:1",
                             "--out-dir", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no Ray cluster answers at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr and time.perf_counter() - start < 30
    with pytest.raises(ConnectionError, match="not a Ray address"):
        check_address("ray://:10001")


@pytest.mark.slow
def test_a_tiny_sweep_on_a_local_ray_instance_with_two_workers(tmp_path, mnist_root):
    (tmp_path / "tiny.toml").write_text(TINY)
    command = [sys.executable, str(SWEEP), str(tmp_path / "tiny.toml"), "--cpus", "2", "--device", "cpu",
               "--out-dir", str(tmp_path / "runs"), "--data-dir", str(mnist_root)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder = tmp_path / "runs" / "tiny"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert names == ["cae-z2-s0", "cae-z2-s1", "cae-z3-s0", "cae-z3-s1"]
    for name in names:
        run = load_run(folder / name)
        assert run.config["training"]["n_train"] == 128 and run.history["epoch"] == [1]
    reported = [json.loads(line) for p in (folder / ".tune").rglob("result.json") for line in p.read_text().splitlines()]
    assert len(reported) == 4 and all(r["epoch"] == 1 and r["train_loss"] > 0 and "val_loss" in r for r in reported)
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "4 finished already, 0 to train" in again.stdout


@pytest.mark.slow
def test_evaluate_as_ray_tasks_gives_the_rows_of_the_plain_evaluation(tmp_path, mnist_root):
    """evaluate.py --address local: one Ray task per run, the same figures as one process computes."""
    from core.evaluation.table import read_table
    from tests.test_evaluate import TINY, run_evaluate

    common = ["--runs", "cae-z8-s0", "cgan-z100-s0", "--metrics", "fid_judge", "generated_accuracy",
              "classification_accuracy", *TINY, "--device", "cpu", "--data-dir", mnist_root]
    plain = run_evaluate(*common, "--table", tmp_path / "plain.csv", tmp_path=tmp_path)
    assert plain.returncode == 0, plain.stderr[-2000:]
    on_ray = run_evaluate(*common, "--table", tmp_path / "ray.csv", "--address", "local", tmp_path=tmp_path,
                          timeout=600)
    assert on_ray.returncode == 0, on_ray.stdout[-2000:] + on_ray.stderr[-2000:]
    assert "2 runs as Ray tasks (one CPU each)" in on_ray.stdout
    key = ["run", "metric", "mode"]
    a = read_table(tmp_path / "plain.csv").sort_values(key).reset_index(drop=True)
    b = read_table(tmp_path / "ray.csv").sort_values(key).reset_index(drop=True)
    assert a[key + ["status", "n"]].equals(b[key + ["status", "n"]])
    assert (a["value"] - b["value"]).abs().max() < 1e-6
    unreachable = run_evaluate(*common, "--table", tmp_path / "x.csv", "--address", "127.0.0.1:1", tmp_path=tmp_path)
    assert unreachable.returncode == 2 and "no Ray cluster answers" in unreachable.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_bench_train_measures_both_ratios_for_each_model(tmp_path, mnist_root, monkeypatch):
    monkeypatch.setenv("DIGITLAB_DATA", str(mnist_root))
    from benchmarks import bench_train

    out = tmp_path / "train.json"
    assert bench_train.main(["--images", "256", "--epochs", "2", "--models", "cae", "cgan", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert [r["model"] for r in record["rows"]] == ["cae", "cgan"] and record["matmul_gflops"] > 0
    assert all(r["trainer_images_s"] > 0 and r["reference_images_s"] > 0 and r["ratio"] > 0 for r in record["rows"])
    cae, cgan = record["rows"]
    # seed 000's pathways are skipped in two of three input modes; the GAN runs D three times per step
    assert cae["counted_flops_per_image"] < 6 * cae["parameters"]
    assert cgan["counted_flops_per_image"] > 6 * cgan["parameters"]
    assert cae["matmul_share_counted"] < cae["matmul_share"]
    with pytest.raises(SystemExit):
        bench_train.main(["--epochs", "1"])


def test_bench_reference_uses_the_default_optimizer_implementation():
    from benchmarks.bench_train import default_implementation
    from core.models import build_model

    gan = build_model("cgan")
    fused = gan.configure_optimizer(2e-4)
    plain = default_implementation(fused)
    for name in ("generator", "discriminator"):
        mine, theirs = getattr(fused, name).param_groups[0], getattr(plain, name).param_groups[0]
        assert mine["fused"] and not theirs["fused"]
        assert theirs["betas"] == mine["betas"] == (0.5, 0.999) and theirs["params"] == mine["params"]
    assert fused.generator.param_groups[0]["fused"]  # the model's own optimisers are left as they were
