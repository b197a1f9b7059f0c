"""scripts/train.py and scripts/fetch_data.py run as a user runs them (subprocess, venv python)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.paths import REPO_ROOT
from core.runs.snapshots import snapshot_metrics
from core.runs.store import load_run

TRAIN = REPO_ROOT / "scripts" / "train.py"
FETCH = REPO_ROOT / "scripts" / "fetch_data.py"
CORRUPT = "t10k-labels-idx1-ubyte"


def run_script(script: Path, *args: str, data: Path | None = None, cwd: Path | None = None,
               timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("OMP_NUM_THREADS", "1")  # small runs: one thread is faster on a busy machine
    if data is not None:
        env["DIGITLAB_DATA"] = str(data)
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


# --- argument errors: exit code 2 and a clear message, before any data is read -------------------

@pytest.mark.parametrize("args, message", [
    (["--model", "cae", "--latent-dim", "0"], "--latent-dim: expected a number of at least 1, got 0"),
    (["--model", "nope"], "--model: invalid choice: 'nope'"),
    (["--model", "cae", "--epochs", "abc"], "--epochs: expected a whole number, got 'abc'"),
])
def test_train_rejects_bad_arguments(tmp_path, args, message):
    # the data folder is empty: argument errors must come before any fetching
    result = run_script(TRAIN, *args, "--checkpoints", tmp_path / "runs", data=tmp_path / "no-data", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "usage:" in result.stderr
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "no-data").exists()


def test_train_on_a_missing_gpu(tmp_path, mnist_root):
    args = ["--model", "cae", "--latent-dim", "2", "--epochs", "1", "--n-train", "128", "--device", "cuda",
            "--checkpoints", tmp_path, "--quiet"]
    result = run_script(TRAIN, *args, data=mnist_root, cwd=tmp_path)
    if torch.cuda.is_available():
        assert result.returncode == 0, result.stderr
        assert json.loads((tmp_path / "cae-z2-s0" / "config.json").read_text())["training"]["device"].startswith("cuda")
    else:
        assert result.returncode == 2
        assert "no CUDA GPU is available" in result.stderr and "--device cpu" in result.stderr
        assert not (tmp_path / "cae-z2-s0").exists()


# --- a tiny real run ------------------------------------------------------------------------------

def test_tiny_training_run_writes_a_run_folder(tmp_path, mnist_root):
    out = tmp_path / "runs"
    result = run_script(TRAIN, "--model", "cae", "--latent-dim", "4", "--epochs", "1", "--n-train", "512",
                        "--checkpoints", out, "--quiet", "--device", "cpu", "--snapshot-fid-samples", "0",
                        data=mnist_root, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = out / "cae-z4-s0"
    snapshots = snapshot_metrics(run_dir)
    assert [s["epoch"] for s in snapshots] == [0, 1]
    assert all("judge_fid" not in s and "judge_accuracy" not in s for s in snapshots)  # --snapshot-fid-samples 0
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "history.json", "metrics.json", "samplers",
                                                         "snapshots", "weights.pt"]  # samplers/: the CAE's density
    assert sorted(p.name for p in (run_dir / "snapshots").iterdir()) == ["epoch-0000.npz", "epoch-0001.npz", "probe.npz"]
    assert str(run_dir) in result.stdout and "classification_accuracy=" in result.stdout
    config = json.loads((run_dir / "config.json").read_text())
    assert config["model"] == "cae" and config["model_args"]["latent_dim"] == 4
    assert config["split_seed"] == 0
    assert config["training"]["n_train"] == 512 and config["training"]["epochs"] == 1
    assert config["training"]["n_val"] == 12_000
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == [1] and len(history["train/loss"]) == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["classification_accuracy"]["n"] == 10_000
    run = load_run(run_dir)
    assert run.model.latent_dim == 4 and "density" in run.model.samplers
    assert (run_dir / "samplers" / "density.pt").is_file()  # fitted after training, stored beside the weights
    assert list(tmp_path.iterdir()) == [out], "nothing written outside --checkpoints"


# --- data problems --------------------------------------------------------------------------------

def test_fetch_data_on_verified_data(mnist_root, tmp_path):
    result = run_script(FETCH, "--data-dir", mnist_root, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MNIST verified" in result.stdout
    assert result.stdout.count("     ok  ") == 4
    assert "Downloading" not in result.stdout and "Fetching" not in result.stdout


def test_fetch_data_keeps_a_corrupt_file_without_force(make_data_root, tmp_path):
    root = make_data_root(corrupt=CORRUPT)
    path = root / "MNIST" / "raw" / CORRUPT
    before = path.read_bytes()
    result = run_script(FETCH, "--data-dir", root, cwd=tmp_path)
    assert result.returncode == 2
    assert str(path) in result.stderr and "--force" in result.stderr
    assert path.read_bytes() == before


def test_train_stops_on_corrupt_data(make_data_root, tmp_path):
    root = make_data_root(corrupt=CORRUPT)
    out = tmp_path / "runs"
    result = run_script(TRAIN, "--model", "cae", "--latent-dim", "2", "--epochs", "1", "--n-train", "64",
                        "--checkpoints", out, "--quiet", "--device", "cpu", data=root, cwd=tmp_path)
    assert result.returncode != 0
    assert str(root / "MNIST" / "raw" / CORRUPT) in result.stderr
    assert "scripts/fetch_data.py" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_the_package_is_installed_with_its_entry_points_and_nothing_edits_sys_path(tmp_path):
    """pyproject.toml's package, installed editable by setup.sh: the console commands run from any
    folder, and no module of the repository puts itself on sys.path."""
    import importlib
    from importlib.metadata import distribution

    dist = distribution("digitlab")
    commands = {ep.name: ep for ep in dist.entry_points if ep.group == "console_scripts"}
    assert {"digitlab-train", "digitlab-evaluate", "digitlab-fetch-data", "digitlab-vae-study", "digitlab-sweep"} <= set(commands)
    for ep in commands.values():
        module, _, attr = ep.value.partition(":")
        assert callable(getattr(importlib.import_module(module), attr))
    train = Path(sys.executable).parent / "digitlab-train"
    result = subprocess.run([str(train), "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0 and "--resume" in result.stdout
    offenders = [str(p.relative_to(REPO_ROOT)) for folder in ("core", "dashboard", "scripts", "tests")
                 for p in (REPO_ROOT / folder).rglob("*.py")
                 if "sys.path.insert" in p.read_text() or "sys.path[:0]" in p.read_text()]
    assert offenders == [str(Path(__file__).relative_to(REPO_ROOT))]  # only this test names them


# --- one flag name for one thing in every script (issue 21, point 5) ----------------------------------

#: every script that reads or writes run folders, with the arguments it needs to get past argparse
RUN_FOLDER_SCRIPTS = {"convert_density": [], "evaluate": [], "fid_probe": ["real"], "fit_samplers": [], "noise_study": [], "project": [],
                      "read_numbers": [], "sample_grid": ["cae-z8-s0"], "train": ["--model", "cae"]}
#: every script that produces a file or folder of its own, and that default
OUT_SCRIPTS = {"fid_probe": None, "noise_study": None, "read_numbers": None,
               "sample_grid": str(REPO_ROOT / "docs" / "samples.png"),
               "vae_study": str(REPO_ROOT / "checkpoints" / "vae_study"), "sweep": str(REPO_ROOT / "runs")}
OLD_FLAGS = ("--run-dir", "--run-dirs", "--out-dir")


class _Parsed(Exception):
    """Raised in place of returning from argparse: a script's arguments, without running it."""


def parsed_arguments(monkeypatch, script: str, argv: list[str]):
    """What ``scripts/<script>.py`` parses from ``argv`` (its main stops right after argparse)."""
    import argparse
    import importlib

    module = importlib.import_module(f"scripts.{script}")
    parse = argparse.ArgumentParser.parse_args

    def stop(self, args=None, namespace=None):
        raise _Parsed(parse(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", stop)
    with pytest.raises(_Parsed) as info:
        module.main(argv)
    return info.value.args[0]


def test_every_script_names_the_folder_of_run_folders_checkpoints_and_honours_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(tmp_path))
    for script, needed in RUN_FOLDER_SCRIPTS.items():
        args = parsed_arguments(monkeypatch, script, needed)
        assert args.checkpoints == ([str(tmp_path)] if script == "evaluate" else str(tmp_path)), script
        assert parsed_arguments(monkeypatch, script, [*needed, "--checkpoints", "elsewhere"]).checkpoints in (
            "elsewhere", ["elsewhere"]), script
    assert parsed_arguments(monkeypatch, "evaluate", ["--checkpoints", "a", "b"]).checkpoints == ["a", "b"]
    for script, default in OUT_SCRIPTS.items():
        needed = RUN_FOLDER_SCRIPTS.get(script, ["experiment.toml"] if script == "sweep" else [])
        assert parsed_arguments(monkeypatch, script, needed).out == default, script


@pytest.mark.parametrize("script", sorted({*RUN_FOLDER_SCRIPTS, *OUT_SCRIPTS}))
def test_no_script_takes_the_old_flag_names(monkeypatch, capsys, script):
    needed = RUN_FOLDER_SCRIPTS.get(script, ["experiment.toml"] if script == "sweep" else [])
    for old in OLD_FLAGS:  # argparse refuses them (as unknown, or as the abbreviation of no flag)
        with pytest.raises(SystemExit) as info:
            parsed_arguments(monkeypatch, script, [*needed, old, "somewhere"])
        assert info.value.code == 2 and f"unrecognized arguments: {old}" in capsys.readouterr().err, (script, old)
    text = (REPO_ROOT / "scripts" / f"{script}.py").read_text()
    assert not any(old in text for old in OLD_FLAGS), script  # nor their docstrings and help


def test_no_user_command_mentions_an_old_flag_name():
    """Every file of scripts/ (a new one too) speaks of --checkpoints and --out only."""
    found = [f"{p.name}: {old}" for p in sorted((REPO_ROOT / "scripts").glob("*.py")) for old in OLD_FLAGS
             if old in p.read_text()]
    assert found == []


def test_evaluate_reads_the_runs_of_digitlab_checkpoints(monkeypatch, tmp_path, capsys):
    """Without --checkpoints, evaluate.py looks where the dashboard does: $DIGITLAB_CHECKPOINTS."""
    from scripts import evaluate

    (tmp_path / "runs").mkdir()
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(tmp_path / "runs"))
    with pytest.raises(SystemExit) as info:
        evaluate.main(["--runs", "cae-z8-s0", "--summary", "--table", str(tmp_path / "none.csv")])
    assert info.value.code == 2
    assert f"no run folder cae-z8-s0 in {tmp_path / 'runs'}; available: none" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--seed", "0", "0"], ["--model", "cae", "cae"], ["--latent-dim", "4", "4"]])
def test_train_refuses_a_run_asked_for_twice_before_reading_data(tmp_path, monkeypatch, capsys, args):
    from scripts import train

    argv = ["--model", "cae", "--latent-dim", "4", *args, "--checkpoints", str(tmp_path / "runs")]
    monkeypatch.setenv("DIGITLAB_DATA", str(tmp_path / "no-data"))
    assert train.main(argv) == 2
    assert "cae-z4-s0 is asked for twice" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() and not (tmp_path / "no-data").exists()
