"""Seed 004's convolutional β-VAE and the judge classifier: shapes, known losses, short training."""

from __future__ import annotations

import math

import pytest
import torch

from core.models.judge import JudgeClassifier, random_affine, random_blur_and_dim
from core.models.seed004 import ConvolutionalVAE


def steps(model, x, y, n: int, lr: float = 1e-3, batch: int = 64) -> list[float]:
    optimizer = model.configure_optimizer(lr)
    gen = torch.Generator().manual_seed(0)
    model.train()
    losses = []
    for i in range(n):
        j = (i * batch) % (x.shape[0] - batch)
        losses.append(float(model.train_step(x[j:j + batch], y[j:j + batch], optimizer, gen)["loss"]))
    return losses


# --- seed 004 -----------------------------------------------------------------------------------

def test_vae_shapes_and_label_free_interface():
    torch.manual_seed(0)
    model = ConvolutionalVAE().eval()
    x = torch.rand(5, 1, 28, 28)
    assert model.latent_dim == 2 and model.encode(x).shape == (5, 2)
    assert model.decode(torch.zeros(5, 2)).shape == (5, 1, 28, 28)
    assert torch.equal(model.encode(x, torch.arange(5)), model.encode(x))  # labels are ignored
    with pytest.raises(ValueError):
        model.encode(None, torch.arange(5))
    with pytest.raises(ValueError):
        ConvolutionalVAE(latent_dim=0)


def test_vae_loss_on_known_inputs():
    model = ConvolutionalVAE(beta=2.0)
    with torch.no_grad():
        last = model.decoder[-1]
        last.weight.zero_(), last.bias.zero_()          # pixel logits 0 -> BCE = 784 ln 2
        for layer in (model.to_mu, model.to_logvar):
            layer.weight.zero_(), layer.bias.zero_()    # mu = 0, log var = 0 -> KL = 0
        model.to_mu.bias.fill_(1.5)                      # KL = ½ · d · 1.5²
    losses = model.training_loss(torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long), None)
    assert math.isclose(float(losses["bce"]), 784 * math.log(2), rel_tol=1e-5)
    assert math.isclose(float(losses["kl"]), 0.5 * 2 * 1.5 ** 2, rel_tol=1e-5)
    assert math.isclose(float(losses["loss"]), float(losses["bce"]) + 2.0 * float(losses["kl"]), rel_tol=1e-6)


@pytest.mark.slow
def test_vae_short_training_lowers_the_loss(mnist_splits):
    torch.manual_seed(0)
    losses = steps(ConvolutionalVAE(), mnist_splits.train_x[:2048], mnist_splits.train_y[:2048], 40)
    assert sum(losses[-8:]) / 8 < 0.8 * sum(losses[:8]) / 8


# --- the judge ----------------------------------------------------------------------------------

def test_judge_is_a_classifier_only():
    model = JudgeClassifier().eval()
    x = torch.rand(3, 1, 28, 28)
    assert model.classify(x).shape == (3, 10) and model.features(x).shape == (3, 128)
    assert model.role == "judge" and model.capabilities == {"classify"}


def test_judge_loss_on_known_inputs():
    model = JudgeClassifier().eval()
    with torch.no_grad():
        model.head.weight.zero_(), model.head.bias.zero_()  # uniform prediction -> NLL = ln 10
    out = model.validation_loss(torch.rand(8, 1, 28, 28), torch.arange(8), None)
    assert math.isclose(float(out["loss"]), math.log(10), rel_tol=1e-5)


def test_augmentation_keeps_shape_range_and_identity_at_zero_strength():
    x = torch.rand(6, 1, 28, 28)
    gen = torch.Generator().manual_seed(0)
    moved = random_affine(x, gen)
    assert moved.shape == x.shape and float(moved.min()) >= 0 and float(moved.max()) <= 1 + 1e-6
    assert not torch.allclose(moved, x)
    still = random_affine(x, gen, degrees=0.0, shift=0.0, scale=(1.0, 1.0))
    assert torch.allclose(still, x, atol=1e-5)


def test_judge_short_training_lowers_the_loss(mnist_splits):
    torch.manual_seed(0)
    losses = steps(JudgeClassifier(width=8), mnist_splits.train_x[:2048], mnist_splits.train_y[:2048], 30)
    assert sum(losses[-6:]) / 6 < 0.6 * sum(losses[:6]) / 6


def test_blur_and_dim_augmentation_keeps_ink_mass_and_dims_within_bounds():
    x = torch.zeros(64, 1, 28, 28)
    x[:, 0, 10:18, 13:15] = 1.0  # a "1", away from the border so blurring loses no ink
    gen = torch.Generator().manual_seed(0)
    blurred_only = random_blur_and_dim(x, gen, p=1.0, min_gain=1.0)
    assert torch.allclose(blurred_only.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=1e-5)  # blur keeps the ink
    assert (blurred_only.amax((1, 2, 3)) < 1.0).all() and (blurred_only > 0).sum() > (x > 0).sum()
    dimmed = random_blur_and_dim(x, gen, p=1.0, min_gain=0.4)
    gain = dimmed.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert (gain >= 0.4 - 1e-5).all() and (gain <= 1 + 1e-5).all() and gain.std() > 0
    assert torch.equal(random_blur_and_dim(x, gen, p=0.0), x)  # p=0: untouched


def test_vae_samples_from_its_prior_reproducibly():
    vae = ConvolutionalVAE().eval()
    assert vae.can("sample") and not vae.can("generate")
    a = vae.sample(5, generator=torch.Generator().manual_seed(3))
    b = vae.sample(5, generator=torch.Generator().manual_seed(3))
    assert a.shape == (5, 1, 28, 28) and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert not torch.equal(a, vae.sample(5, generator=torch.Generator().manual_seed(4)))
