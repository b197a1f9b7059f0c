"""core.runs.store: self-describing run folders, their round trip and every way they can break."""

from __future__ import annotations

import json

import pytest
import torch

from core.models import build_model
from core.models.samplers import PerDigitGaussian, attach
from core.models.seed000 import ConditionalAutoencoder
from core.runs.format import CONFIG, HISTORY, METRICS, WEIGHTS, CheckpointError, list_run_dirs, run_name
from core.runs.store import Run, load_run, save_run

MODEL_NAMES = ["cae", "cvae"]  # seed 000's models; every registered model: tests/test_conformance.py
LATENT, HIDDEN = 4, 48
HISTORY_DOC = {"epoch": [1, 2], "seconds": [0.5, 1.0], "train/loss": [200.25, 150.5], "val/loss": [180.0, 140.125]}
METRICS_DOC = {"classification_accuracy": {"value": 0.875, "n": 500, "protocol": "argmax"}}
CONFIG_DOC = {"split_seed": 3, "training": {"epochs": 2, "seed": 11}}


def trained_like_model(name: str):
    torch.manual_seed(0)
    model = build_model(name, latent_dim=LATENT, hidden_dim=HIDDEN)
    if isinstance(model, ConditionalAutoencoder):
        gen = torch.Generator().manual_seed(1)
        attach(model, [PerDigitGaussian().fit(torch.randn(100, LATENT, generator=gen) * 2 + 1, torch.arange(100) % 10)])
    return model.eval()


def save(tmp_path, name: str, folder: str = "run", **kwargs):
    model = trained_like_model(name)
    path = save_run(tmp_path / folder, model, CONFIG_DOC, HISTORY_DOC, METRICS_DOC, **kwargs)
    return model, path


def edit_config(path, **changes):
    config = json.loads((path / CONFIG).read_text())
    config.update(changes)
    (path / CONFIG).write_text(json.dumps(config))


# --- round trip -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", MODEL_NAMES)
def test_config_describes_the_run(tmp_path, name):
    model, path = save(tmp_path, name)
    assert path == tmp_path / "run"
    fitted = ["samplers"] if model.samplers else []  # the CAE's density, fitted like after training
    assert sorted(p.name for p in path.iterdir()) == sorted([CONFIG, WEIGHTS, HISTORY, METRICS, *fitted])
    assert sorted(p.name for p in (path / "samplers").glob("*.pt")) == (["density.pt"] if fitted else [])
    config = json.loads((path / CONFIG).read_text())
    assert config["model"] == name
    assert config["model_args"] == {"latent_dim": LATENT, "hidden_dim": HIDDEN}
    assert config["split_seed"] == 3
    assert config["training"] == CONFIG_DOC["training"]
    assert config["weights_dtype"] == "float16"
    assert config["run"] == "run"
    assert {"python", "torch", "torchvision", "numpy"} <= set(config["versions"])
    assert config["versions"]["torch"] == torch.__version__


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_weights_are_a_float16_state_dict(tmp_path, name):
    model, path = save(tmp_path, name)
    state = torch.load(path / WEIGHTS, weights_only=True)
    assert set(state) == set(model.state_dict())
    for key, value in state.items():
        original = model.state_dict()[key]
        if original.is_floating_point():
            assert value.dtype == torch.float16, key
            assert torch.allclose(value.float(), original, atol=1e-2, rtol=1e-3), key
        else:
            assert value.dtype == original.dtype and torch.equal(value, original), key


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_load_run_round_trip(tmp_path, name):
    model, path = save(tmp_path, name)
    run = load_run(path)
    assert isinstance(run, Run)
    assert run.name == "run" and run.path == path
    assert type(run.model) is type(model)
    assert not run.model.training
    assert run.model.model_args == model.model_args
    assert all(p.dtype == torch.float32 for p in run.model.parameters())
    assert run.history == HISTORY_DOC
    assert run.metrics == METRICS_DOC
    assert run.config["model"] == name
    assert "seed 11" in run.label and f"z={LATENT}" in run.label

    z = torch.randn(8, LATENT, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert (run.model.decode(z) - model.decode(z)).abs().max() < 1e-2
        x = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
        assert (run.model.classify(x).exp() - model.classify(x).exp()).abs().max() < 1e-2
    labels = torch.arange(8) % 10
    a = run.model.generate(labels, generator=torch.Generator().manual_seed(2))
    b = model.generate(labels, generator=torch.Generator().manual_seed(2))
    assert (a - b).abs().max() < 2e-2
    if isinstance(model, ConditionalAutoencoder):
        loaded, saved = run.model.samplers["density"], model.samplers["density"]
        assert torch.equal(loaded.mean, saved.mean) and torch.equal(loaded.scale_tril, saved.scale_tril)


def test_full_precision_round_trip_is_exact(tmp_path):
    model, path = save(tmp_path, "cae", half=False)
    assert json.loads((path / CONFIG).read_text())["weights_dtype"] == "float32"
    run = load_run(path)
    for key, value in model.state_dict().items():
        assert torch.equal(run.model.state_dict()[key], value), key


def test_save_run_overwrites_an_existing_run(tmp_path):
    save(tmp_path, "cvae")
    model, path = save(tmp_path, "cae")
    assert load_run(path).config["model"] == "cae"
    assert not list(path.glob("*.tmp"))


def test_missing_history_and_metrics_load_as_empty(tmp_path):
    _, path = save(tmp_path, "cae")
    (path / HISTORY).unlink()
    (path / METRICS).unlink()
    run = load_run(path)
    assert run.history == {} and run.metrics == {}


# --- broken run folders ---------------------------------------------------------------------------

def assert_checkpoint_error(path, mentions):
    with pytest.raises(CheckpointError) as info:
        load_run(path)
    assert str(mentions) in str(info.value)
    return str(info.value)


def test_missing_folder(tmp_path):
    assert_checkpoint_error(tmp_path / "no-such-run", tmp_path / "no-such-run")


def test_a_file_is_not_a_run_folder(tmp_path):
    (tmp_path / "file").write_text("x")
    assert_checkpoint_error(tmp_path / "file", tmp_path / "file")


def test_missing_config(tmp_path):
    _, path = save(tmp_path, "cae")
    (path / CONFIG).unlink()
    assert "missing" in assert_checkpoint_error(path, path / CONFIG)


@pytest.mark.parametrize("text", ["{not json", "", "\xff\xfe"])
def test_invalid_json_config(tmp_path, text):
    _, path = save(tmp_path, "cae")
    (path / CONFIG).write_bytes(text.encode("latin-1"))
    assert "JSON" in assert_checkpoint_error(path, path / CONFIG)


@pytest.mark.parametrize("doc", [[1, 2], {"model_args": {}}])
def test_config_that_names_no_model(tmp_path, doc):
    _, path = save(tmp_path, "cae")
    (path / CONFIG).write_text(json.dumps(doc))
    assert_checkpoint_error(path, path / CONFIG)


def test_unknown_model_name(tmp_path):
    _, path = save(tmp_path, "cae")
    edit_config(path, model="nope")
    assert "nope" in assert_checkpoint_error(path, path / CONFIG)


@pytest.mark.parametrize("model_args", [{"latent_dim": 0}, {"latent_dim": 4, "depth": 9}, "z4"])
def test_model_args_that_cannot_build(tmp_path, model_args):
    _, path = save(tmp_path, "cvae")
    edit_config(path, model_args=model_args)
    assert_checkpoint_error(path, path / CONFIG)


@pytest.mark.parametrize("model_args", [{"latent_dim": LATENT + 1, "hidden_dim": HIDDEN}, {"latent_dim": LATENT}])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_args_that_do_not_fit_the_weights(tmp_path, name, model_args):
    _, path = save(tmp_path, name)
    edit_config(path, model_args=model_args)
    assert "does not fit" in assert_checkpoint_error(path, path / WEIGHTS)


def test_weights_of_another_model(tmp_path):
    _, path = save(tmp_path, "cae")
    edit_config(path, model="cvae")
    assert_checkpoint_error(path, path / WEIGHTS)


def test_missing_weights(tmp_path):
    _, path = save(tmp_path, "cae")
    (path / WEIGHTS).unlink()
    assert "missing" in assert_checkpoint_error(path, path / WEIGHTS)


@pytest.mark.parametrize("damage", ["random", "truncated", "empty"])
def test_corrupt_weights(tmp_path, damage):
    _, path = save(tmp_path, "cvae")
    weights = path / WEIGHTS
    if damage == "random":
        weights.write_bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0),
                                          dtype=torch.int32).to(torch.uint8).numpy().tobytes())
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        weights.write_bytes(b"")
    assert "unreadable" in assert_checkpoint_error(path, weights)


def test_weights_that_hold_no_state_dict(tmp_path):
    _, path = save(tmp_path, "cae")
    torch.save([torch.zeros(3)], path / WEIGHTS)
    assert_checkpoint_error(path, path / WEIGHTS)


def test_weights_that_need_pickled_code_are_refused(tmp_path):
    _, path = save(tmp_path, "cae")
    torch.save({"weight": torch.zeros(2), "extra": Run}, path / WEIGHTS)  # a class: not weights-only
    assert_checkpoint_error(path, path / WEIGHTS)


# --- listing --------------------------------------------------------------------------------------

def test_list_run_dirs_lists_only_run_folders(tmp_path):
    _, a = save(tmp_path, "cae", folder="b-run")
    _, b = save(tmp_path, "cvae", folder="a-run")
    weights_only = tmp_path / "c-weights-only"
    weights_only.mkdir()
    (weights_only / WEIGHTS).write_bytes(b"")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a run")
    (tmp_path / CONFIG).write_text("{}")  # a file, not a folder
    assert list_run_dirs(tmp_path) == [b, a, weights_only]
    assert list_run_dirs(tmp_path / "absent") == []


def test_run_name():
    assert run_name("cae", 32, 0) == "cae-z32-s0"
    assert run_name("cvae", 8, 3) == "cvae-z8-s3"
