"""Run-folder faults (issue 21, point 5): JSON files nested too deeply, models too large to build,
leftovers of a save killed half-way, and the advice given for a damaged resume state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.paths import REPO_ROOT, SHIPPED_CHECKPOINTS
from core.runs.catalog import list_runs
from core.runs.format import MAX_JSON_BYTES, STALE_SECONDS, CheckpointError, list_run_dirs, read_json
from tests.test_cli import TRAIN, run_script

CAE = {"latent_dim": 2, "hidden_dim": 16}


def copy_runs(root: Path, *names: str) -> Path:
    for name in names:
        shutil.copytree(SHIPPED_CHECKPOINTS / name, root / name)
    return root


# --- 1. JSON files a parser cannot take -----------------------------------------------------------

@pytest.mark.parametrize("file, words", [
    ("config.json", "its configuration file is nested too deeply"),
    ("history.json", "its history file is nested too deeply"),
    ("metrics.json", "its metrics file is nested too deeply"),
])
def test_a_json_file_nested_200000_levels_deep_leaves_out_that_run_only(tmp_path, file, words):
    root = copy_runs(tmp_path, "cae-z8-s0", "cvae-z8-s0")
    (root / "cvae-z8-s0" / file).write_text("[" * 200_000 + "]" * 200_000)
    runs, errors = list_runs(root)
    assert list(runs) == ["cae-z8-s0"] and errors["cvae-z8-s0"].kind.startswith(words)
    assert str(tmp_path) not in errors["cvae-z8-s0"].kind
    with pytest.raises(CheckpointError, match=words):
        read_json(root / "cvae-z8-s0" / file, required=True)


def test_json_nested_within_the_parser_but_deeper_than_a_run_needs_is_refused(tmp_path):
    path = tmp_path / "history.json"
    path.write_text(json.dumps({"train/loss": [1.0]}))
    assert read_json(path, required=False) == {"train/loss": [1.0]}
    path.write_text("{\"a\": " + "[" * 100 + "]" * 100 + "}")  # json.loads takes it; a page showing it might not
    with pytest.raises(CheckpointError, match="its history file is nested too deeply"):
        read_json(path, required=False)


def test_a_json_file_too_large_to_be_a_runs_is_refused_unparsed(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"fid": {"value": 1.0, "pad": "x" * MAX_JSON_BYTES}}))
    with pytest.raises(CheckpointError, match=r"its metrics file is too large to be a run's \(over 16 MB\)"):
        read_json(path, required=False)


def test_the_dashboard_lists_the_other_runs_beside_a_deeply_nested_config(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    root = copy_runs(tmp_path / "runs", "cae-z8-s0", "cvae-z8-s0")
    (root / "cvae-z8-s0" / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    monkeypatch.setenv("DIGITLAB_CHECKPOINTS", str(root))
    at = AppTest.from_file(str(REPO_ROOT / "dashboard" / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert any("cvae-z8-s0" in w.value.replace("\\", "") and "nested too deeply" in w.value for w in at.sidebar.warning)


# --- 2. models too large to build ----------------------------------------------------------------

def test_every_registered_model_and_shipped_run_is_within_the_size_limit():
    from core.models import MAX_PARAMETERS, REGISTRY, check_size

    for name, cls in REGISTRY.items():
        assert 0 < check_size(cls, {}) <= MAX_PARAMETERS, name
    for config in SHIPPED_CHECKPOINTS.glob("*/config.json"):
        config = json.loads(config.read_text())
        assert check_size(REGISTRY[config["model"]], config["model_args"]) <= MAX_PARAMETERS, config["run"]


@pytest.mark.parametrize("name, args, words", [
    ("cae", {"latent_dim": 8, "hidden_dim": 65_536},
     "cae with latent_dim = 8, hidden_dim = 65,536 would have 12,990,415,650 weights (52.0 GB as float32); "
     "a model may have at most 50,000,000 (200 MB): lower hidden_dim"),
    ("cae", {"latent_dim": 500_000, "hidden_dim": 20_000}, "lower latent_dim and hidden_dim"),
    ("judge", {"width": 4096, "dropout": 0.3}, "judge with width = 4,096, dropout = 0.3 would have"),
    ("diffusion", {"base_channels": 1024}, "lower base_channels"),
    ("diffusion", {"train_timesteps": 10 ** 9},
     "diffusion cannot be given train_timesteps = 1,000,000,000: a model's whole-number settings are at most 1,000,000"),
    ("conv-vae", {"kl_warmup_steps": 10 ** 7}, "kl_warmup_steps = 10,000,000"),
    ("cae", {"hidden_dim": 1e10}, "hidden_dim = 10,000,000,000.0"),
])
def test_a_model_too_large_is_refused_in_words_before_anything_is_allocated(name, args, words):
    from core.models import REGISTRY, ModelTooLarge, check_size

    start = time.perf_counter()
    with pytest.raises(ModelTooLarge) as info:
        check_size(REGISTRY[name], args)
    assert words in str(info.value)
    assert time.perf_counter() - start < 30  # meta-device builds (the first imports diffusers)


def test_build_model_refuses_a_model_too_large():
    """The trainer and experiment files build through build_model; without the check this would try
    to allocate a 72 TB convolution (and fail with the allocator's message)."""
    from core.models import REGISTRY, ModelTooLarge, build_model, check_size

    with pytest.raises(ModelTooLarge, match="lower width"):
        build_model("judge", width=10 ** 6)
    with pytest.raises(TypeError, match="extra"):  # what the class itself says, as before
        build_model("cae", extra=1)
    with pytest.raises(TypeError, match="not a table"):
        check_size(REGISTRY["cae"], [8, 512])
    assert build_model("cae", **CAE).model_args == CAE


LOAD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (6 * 2 ** 30, 6 * 2 ** 30))  # a build of the model would fail, not swap
from core.runs.catalog import list_runs
from core.runs.format import CheckpointError
from core.runs.store import load_run
try:
    load_run(sys.argv[1])
except CheckpointError as exc:
    print("refused:", exc.kind)
runs, errors = list_runs(sys.argv[2])
print("listed:", sorted(runs), "left out:", {name: exc.kind for name, exc in errors.items()})
"""


def test_a_run_folder_asking_for_a_huge_model_is_refused_when_loaded_or_described(tmp_path):
    """hidden_dim = 65,536 passes config.json's cheap checks; loading it would allocate 52 GB. Run
    in a child process limited to 6 GB, so a regression fails instead of exhausting the machine."""
    root = copy_runs(tmp_path, "cae-z8-s0", "cae-z16-s0", "judge-s0")
    config = json.loads((root / "cae-z8-s0" / "config.json").read_text())
    config["model_args"]["hidden_dim"] = 65_536
    (root / "cae-z8-s0" / "config.json").write_text(json.dumps(config))
    config = json.loads((root / "judge-s0" / "config.json").read_text())
    del config["card"]  # a run written before cards: the listing describes it by building its class
    config["model_args"]["width"] = 65_536
    (root / "judge-s0" / "config.json").write_text(json.dumps(config))
    out = subprocess.run([sys.executable, "-c", LOAD, str(root / "cae-z8-s0"), str(root)], capture_output=True,
                         text=True, timeout=240, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert ("refused: its model is too large to load: cae with latent_dim = 8, hidden_dim = 65,536 would have "
            "12,990,415,650 weights (52.0 GB as float32)") in out.stdout
    assert "listed: ['cae-z16-s0', 'cae-z8-s0'] left out: {'judge-s0': 'its model is too large to load: judge" in out.stdout
    assert "lower width" in out.stdout and str(tmp_path) not in out.stdout


def test_train_py_refuses_a_huge_latent_size_in_a_sentence_before_reading_data(tmp_path):
    start = time.perf_counter()
    result = run_script(TRAIN, "--model", "cae", "--latent-dim", "100000000", "--checkpoints", tmp_path / "runs",
                        data=tmp_path / "no-data")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("error: nothing was trained: --model cae --latent-dim 100000000: cae cannot be given latent_dim = "
            "100,000,000") in result.stderr
    assert not (tmp_path / "runs").exists() and not (tmp_path / "no-data").exists()
    assert time.perf_counter() - start < 60  # imports only (seconds on an idle machine)


# --- 3. leftovers of a save killed half-way -------------------------------------------------------

KILL = """
import os, signal, sys
from pathlib import Path
from core.models import build_model
from core.runs.store import save_run
path = Path(sys.argv[1])
save_run(path, build_model("cae", latent_dim=2, hidden_dim=16), {}, {"epoch": [1]}, {})
replace = os.replace
def die_before_the_new_run_is_renamed_in(src, dst):
    if Path(dst) == path:
        os.kill(os.getpid(), signal.SIGKILL)
    replace(src, dst)
os.replace = die_before_the_new_run_is_renamed_in
save_run(path, build_model("cae", latent_dim=2, hidden_dim=16), {}, {"epoch": [1, 2]}, {})
"""


def hidden(root: Path) -> list[str]:
    return sorted(p.name.rsplit(".", 1)[-1] for p in root.iterdir() if p.name.startswith("."))


def test_a_run_whose_replacement_was_killed_half_way_is_listed_and_the_leftovers_removed(tmp_path):
    from core.models import build_model
    from core.runs.store import load_run, save_run

    root = tmp_path / "runs"
    killed = subprocess.run([sys.executable, "-c", KILL, str(root / "cae-z2-s0")], capture_output=True, text=True,
                            timeout=240, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert hidden(root) == ["old", "part"] and not (root / "cae-z2-s0").exists()  # the kill's leftovers
    runs, errors = list_runs(root)
    assert list(runs) == ["cae-z2-s0"] and not errors and runs["cae-z2-s0"].history == {"epoch": [1]}
    assert hidden(root) == ["part"]  # it may still be written (a save in progress): kept
    with pytest.raises(FileExistsError, match="already holds a run"):  # the run is back, so it is not replaced
        save_run(root / "cae-z2-s0", build_model("cae", **CAE), {}, {"epoch": [1, 2, 3]}, {}, overwrite=False)
    save_run(root / "cae-z2-s0", build_model("cae", **CAE), {}, {"epoch": [1, 2, 3]}, {})
    assert sorted(p.name for p in root.iterdir()) == ["cae-z2-s0"]  # the older save's .part is gone
    assert load_run(root / "cae-z2-s0").history == {"epoch": [1, 2, 3]}


def test_a_listing_removes_stale_leftovers_and_keeps_fresh_ones(tmp_path):
    from core.models import build_model
    from core.runs.store import save_run

    save_run(tmp_path / "cae-z2-s0", build_model("cae", **CAE), {}, {}, {})
    stale, fresh = tmp_path / ".cae-z2-s0.0123abcd.part", tmp_path / ".cvae-z2-s0.4567cdef.part"
    garbage = tmp_path / ".cae-z2-s0.89abcdef.old"  # beside the run folder: a replaced run not yet removed
    for folder in (stale, fresh, garbage):
        shutil.copytree(tmp_path / "cae-z2-s0", folder)
    long_ago = time.time() - STALE_SECONDS - 60
    os.utime(stale, (long_ago, long_ago))
    (tmp_path / ".results.csv.123.0123abcd.part").write_text("a file being written atomically")
    assert list_run_dirs(tmp_path) == [tmp_path / "cae-z2-s0"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cvae-z2-s0.4567cdef.part", ".results.csv.123.0123abcd.part",
                                                           "cae-z2-s0"]


def test_an_interrupt_between_the_two_renames_puts_the_old_run_back_at_once(tmp_path, monkeypatch):
    from core.models import build_model
    from core.runs.store import load_run, save_run

    path = tmp_path / "cae-z2-s0"
    save_run(path, build_model("cae", **CAE), {}, {"epoch": [1]}, {})
    replace = os.replace

    def interrupted(src, dst):
        if Path(dst) == path and Path(src).name.endswith(".part"):  # the new run's rename, not the restore
            raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_run(path, build_model("cae", **CAE), {}, {"epoch": [1, 2]}, {})
    monkeypatch.setattr(os, "replace", replace)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cae-z2-s0"]
    assert load_run(path).history == {"epoch": [1]}


def test_a_listing_between_the_two_renames_does_not_make_the_save_fail(tmp_path, monkeypatch):
    """A dashboard listing the runs while a save has moved the old run aside moves it back; the save
    then moves it aside again and renames its new run in."""
    from core.models import build_model
    from core.runs.store import load_run, save_run

    path = tmp_path / "cae-z2-s0"
    save_run(path, build_model("cae", **CAE), {}, {"epoch": [1]}, {})
    replace, listed = os.replace, []

    def listing_meanwhile(src, dst):
        if Path(dst) == path and not listed:
            listed.append(None)
            listed[0] = list_run_dirs(tmp_path)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", listing_meanwhile)
    save_run(path, build_model("cae", **CAE), {}, {"epoch": [1, 2]}, {})
    assert listed == [[path]]  # the listing saw the old run
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cae-z2-s0"]
    assert load_run(path).history == {"epoch": [1, 2]}


# --- 4. a damaged resume state --------------------------------------------------------------------

def test_a_damaged_resume_state_is_refused_with_advice_train_py_accepts(tmp_path, mnist_root):
    out = tmp_path / "runs"
    args = ["--model", "cae", "--latent-dim", "2", "--n-train", "128", "--epochs", "1", "--checkpoints", out, "--quiet",
            "--device", "cpu"]
    resume = out / ".cae-z2-s0.inprogress" / "resume.pt"
    resume.parent.mkdir(parents=True)
    resume.write_bytes(b"left by a killed run")
    damaged = run_script(TRAIN, *args, "--resume", data=mnist_root)
    assert damaged.returncode == 2 and "Traceback" not in damaged.stderr
    assert "cannot be read" in damaged.stderr and "without resuming" not in damaged.stderr
    assert "run the same command with --force in place of --resume" in damaged.stderr
    assert "deleting it starts the run again from its first epoch" in damaged.stderr
    assert resume.read_bytes() == b"left by a killed run"  # refused, not discarded
    advised = run_script(TRAIN, *args, "--force", data=mnist_root)  # what the advice says
    assert advised.returncode == 0, advised.stderr
    assert sorted(p.name for p in out.iterdir()) == ["cae-z2-s0"]
    resume = out / ".cae-z2-s1.inprogress" / "resume.pt"  # the other way the message gives: delete the state
    resume.parent.mkdir()
    resume.write_bytes(b"left by a killed run")
    resume.unlink()
    deleted = run_script(TRAIN, *args, "--seed", "1", data=mnist_root)
    assert deleted.returncode == 0, deleted.stderr
    assert sorted(p.name for p in out.iterdir()) == ["cae-z2-s0", "cae-z2-s1"]
