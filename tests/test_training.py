"""core.training, core.evaluation and core.device: short real runs, settings, metric arithmetic."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.device import resolve_device
from core.evaluation.evaluator import evaluate_test_metrics, reconstruction_error
from core.evaluation.metrics import classifier_accuracy
from core.models import REGISTRY, DigitModel
from core.models.capabilities import CLASSIFY, IMAGE_ONLY, INPUT_MODES, RECONSTRUCT
from core.models.functional import bce_per_image
from core.runs.store import load_run
from core.training.trainer import TrainConfig, train, validation_losses

pytestmark = pytest.mark.usefixtures("single_thread")

MODEL_NAMES = ["cae", "cvae"]  # seed 000's models; every registered model: tests/test_conformance.py


@pytest.fixture(scope="module")
def small_splits(mnist_splits):
    return mnist_splits.subset(3000, 500, 500)


@pytest.fixture(scope="module")
def tiny_splits(mnist_splits):
    return mnist_splits.subset(256, 100, 100)


# --- real training runs ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", MODEL_NAMES)
def test_two_epochs_lower_the_losses_and_write_a_loadable_run(small_splits, tmp_path, name):
    cfg = TrainConfig(model=name, model_args={"latent_dim": 8, "hidden_dim": 128}, epochs=2, batch_size=64,
                      seed=0, device="cpu")
    result = train(cfg, small_splits, out_dir=tmp_path / "run", progress=False)
    history, model = result.history, result.model
    components = REGISTRY[name].loss_components

    assert history["epoch"] == [1, 2]
    assert len(history["seconds"]) == 2 and history["seconds"][0] <= history["seconds"][1]
    expected_keys = ({"epoch", "seconds"} | {f"train/{c}" for c in components} | {f"val/{c}" for c in components}
                     | {f"val/loss[{mode}]" for mode in INPUT_MODES})
    assert set(history) == expected_keys
    assert all(len(v) == 2 and all(math.isfinite(x) for x in v) for v in history.values())
    assert history["train/loss"][1] < history["train/loss"][0]
    assert history["val/loss"][1] < history["val/loss"][0]
    assert history["train/bce"][1] < history["train/bce"][0]
    # the headline loss is the sum of its components
    for prefix in ("train", "val"):
        for epoch in range(2):
            parts = sum(history[f"{prefix}/{c}"][epoch] for c in components if c != "loss")
            assert history[f"{prefix}/loss"][epoch] == pytest.approx(parts, rel=1e-5)

    metrics = result.metrics
    assert {"classification_accuracy", "reconstruction_bce", "reconstruction_bce_image_only"} == set(metrics)
    assert all(m["n"] == 500 and m["protocol"] for m in metrics.values())
    # the metrics are those of the returned model on the 500 test images
    test_x, test_y = small_splits.test_x, small_splits.test_y
    assert metrics["classification_accuracy"]["value"] == classifier_accuracy(model, test_x, test_y)
    assert metrics["reconstruction_bce"]["value"] == pytest.approx(reconstruction_error(model, test_x, test_y))
    assert metrics["reconstruction_bce_image_only"]["value"] == pytest.approx(reconstruction_error(model, test_x, None))
    assert 0 < metrics["reconstruction_bce"]["value"] < 784 * math.log(2)  # better than p = 0.5 everywhere
    assert result.seconds > 0
    assert not model.training

    run = load_run(tmp_path / "run")
    assert run.config["model"] == name and run.config["split_seed"] == small_splits.split_seed
    training = run.config["training"]
    assert training["n_train"] == 3000 and training["n_val"] == 500
    assert training["epochs"] == 2 and training["batch_size"] == 64 and training["device"] == "cpu"
    assert run.history["epoch"] == [1, 2]
    assert run.history["train/loss"] == pytest.approx(history["train/loss"])
    assert run.metrics["classification_accuracy"] == metrics["classification_accuracy"]
    x = small_splits.test_x[:16]
    with torch.no_grad():
        assert (run.model.reconstruct(x) - model.reconstruct(x)).abs().max() < 2e-2
    if name == "cae":
        assert "density" in run.model.samplers, "after_training fitted the latent density; the run stores it"
    images = run.model.generate(torch.arange(10), generator=torch.Generator().manual_seed(0))
    assert images.shape == (10, 1, 28, 28)


def test_training_is_reproducible_for_a_seed(tiny_splits):
    def run(seed):
        cfg = TrainConfig(model="cvae", model_args={"latent_dim": 3, "hidden_dim": 32}, epochs=1,
                          batch_size=32, seed=seed, device="cpu")
        return train(cfg, tiny_splits, progress=False)

    first, again, other = run(5), run(5), run(6)
    assert first.history["train/loss"] == again.history["train/loss"]
    assert first.history["val/loss"] == again.history["val/loss"]
    assert first.metrics == again.metrics
    assert first.history["train/loss"] != other.history["train/loss"]


def test_train_without_out_dir_writes_nothing(tiny_splits, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = TrainConfig(model="cae", model_args={"latent_dim": 2, "hidden_dim": 16}, epochs=1, batch_size=128,
                      device="cpu")
    result = train(cfg, tiny_splits, progress=False)
    assert list(tmp_path.iterdir()) == []
    assert result.metrics["classification_accuracy"]["n"] == 100


@pytest.mark.parametrize("bad, message", [({"epochs": 0}, "epochs"), ({"epochs": -1}, "epochs"),
                                          ({"batch_size": 0}, "batch size"), ({"lr": 0.0}, "learning rate"),
                                          ({"lr": -1e-3}, "learning rate"), ({"lr": float("nan")}, "learning rate")])
def test_train_config_validate_rejects_bad_settings(bad, message, tiny_splits):
    cfg = TrainConfig(model="cae", **bad)
    with pytest.raises(ValueError, match=message):
        cfg.validate()
    with pytest.raises(ValueError):
        train(cfg, tiny_splits, progress=False)


def test_train_config_defaults_follow_seed_000():
    cfg = TrainConfig(model="cae")
    cfg.validate()
    assert (cfg.epochs, cfg.batch_size, cfg.lr) == (50, 128, 1e-3)


def test_train_rejects_unknown_model(tiny_splits):
    with pytest.raises(KeyError, match="nope"):
        train(TrainConfig(model="nope", epochs=1, device="cpu"), tiny_splits, progress=False)


def test_validation_losses_average_over_batches():
    """Batch means weighted by batch size equal the mean over the whole set."""
    class Mean(Stub):
        def validation_loss(self, x, y, generator):
            return {"loss": x.reshape(x.shape[0], -1)[:, 0].mean()}

    x = torch.arange(10, dtype=torch.float32).reshape(10, 1, 1, 1)
    stats = validation_losses(Mean(), x, torch.zeros(10, dtype=torch.long), batch_size=4)
    assert stats["loss"] == pytest.approx(4.5)


# --- device ---------------------------------------------------------------------------------------

def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda:0")


# --- evaluation arithmetic ------------------------------------------------------------------------

def test_bce_per_image_on_hand_computed_pairs():
    x = torch.zeros(3, 1, 28, 28)
    x_hat = torch.zeros(3, 1, 28, 28)
    x[0] = 1.0
    x_hat[0] = 0.5                                   # 784 pixels at ln 2
    x_hat[1] = 1e-7                                  # x = 0 everywhere, one pixel predicted 0.25
    x_hat[1, 0, 0, 0] = 0.25
    x[2, 0, 5, 5], x_hat[2] = 1.0, 1e-7              # one pixel predicted 0 (clamped to 1e-7) for a 1
    x_hat[2, 0, 5, 5] = 0.0
    got = bce_per_image(x, x_hat)
    assert got.shape == (3,)
    assert float(got[0]) == pytest.approx(784 * math.log(2), rel=1e-5)
    assert float(got[1]) == pytest.approx(-math.log(0.75) - 783 * math.log(1 - 1e-7), rel=1e-4)
    assert float(got[2]) == pytest.approx(-math.log(1e-7) - 783 * math.log(1 - 1e-7), rel=1e-4)
    assert torch.isfinite(got).all()


def test_bce_per_image_matches_torch_on_soft_targets():
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 28, 28, generator=gen)
    x_hat = torch.rand(4, 1, 28, 28, generator=gen) * 0.98 + 0.01
    expected = F.binary_cross_entropy(x_hat, x, reduction="none").sum((1, 2, 3))
    assert torch.allclose(bce_per_image(x, x_hat), expected, rtol=1e-5)


class Stub(DigitModel):
    """Classifies from the first pixel (pixel = digit / 10); reconstructs every image as 0.5."""

    name = "stub"
    display_name = "Stub"
    capabilities = frozenset({CLASSIFY, RECONSTRUCT})
    input_modes = (IMAGE_ONLY,)

    def __init__(self, offset: int = 0):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.model_args, self.latent_dim, self.offset = {}, 1, offset
        self.reconstruct_calls = []

    def classify(self, x):
        digit = (x.reshape(x.shape[0], -1)[:, 0] * 10).round().long()
        return F.log_softmax(F.one_hot((digit + self.offset) % 10, 10).float() * 20, dim=1)

    def reconstruct(self, x, y=None):
        self.reconstruct_calls.append(y is None)
        return torch.full_like(x, 0.5)


def digits_as_images(labels):
    x = torch.zeros(labels.shape[0], 1, 28, 28)
    x[:, 0, 0, 0] = labels.float() / 10
    return x


def test_classification_accuracy_of_perfect_and_wrong_predictors():
    labels = torch.arange(25) % 10
    x = digits_as_images(labels)
    assert classifier_accuracy(Stub(), x, labels, batch_size=7) == 1.0
    assert classifier_accuracy(Stub(offset=1), x, labels, batch_size=7) == 0.0
    half = labels.clone()
    half[::2] = (half[::2] + 1) % 10  # 13 of 25 labels changed
    assert classifier_accuracy(Stub(), x, half, batch_size=4) == pytest.approx(12 / 25)


def test_reconstruction_error_is_the_mean_bce_per_image():
    x = torch.ones(9, 1, 28, 28)
    assert reconstruction_error(Stub(), x, None, batch_size=4) == pytest.approx(784 * math.log(2), rel=1e-5)


def test_evaluate_test_metrics_follows_capabilities():
    labels = torch.arange(20) % 10
    model = Stub().train()
    metrics = evaluate_test_metrics(model, digits_as_images(labels), labels)
    assert set(metrics) == {"classification_accuracy", "reconstruction_bce"}  # image-only model
    assert metrics["classification_accuracy"]["value"] == 1.0
    assert metrics["classification_accuracy"]["n"] == 20
    assert metrics["reconstruction_bce"]["value"] == pytest.approx(784 * math.log(2), rel=1e-5)
    assert model.reconstruct_calls and all(model.reconstruct_calls), "image-only input for an image-only model"
    assert model.training, "the model's mode is restored"

    class Mute(Stub):
        capabilities = frozenset()

    assert evaluate_test_metrics(Mute(), digits_as_images(labels), labels) == {}
