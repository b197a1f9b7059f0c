"""The trainer's speed-ups change nothing but the speed: the shared BCE equals PyTorch's in value
and gradient, reparameterize draws from the generator it is given, Adam is fused where it can be,
and a run trained with all of them has the per-epoch losses of the plain PyTorch formulation
(``F.binary_cross_entropy_with_logits``, for-each Adam) at the same seed, up to float rounding."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.models import base
from core.models.base import adam
from core.models.functional import bce_with_logits, reparameterize
from core.training.trainer import TrainConfig, TrainingDiverged, train


@pytest.fixture(scope="module")
def tiny_splits(mnist_splits):
    return mnist_splits.subset(256, 64, 64)


def test_bce_with_logits_equals_pytorch_in_value_and_gradient():
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(16, 784, generator=gen) * 8).requires_grad_()  # saturated pixels too
    targets = torch.rand(16, 784, generator=gen)
    targets[:, :100] = 0.0
    targets[:, 100:200] = 1.0
    ours = bce_with_logits(logits, targets)
    theirs = F.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(1)
    assert ours.shape == (16,)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-3)  # 784 terms summed in float32
    (g_ours,) = torch.autograd.grad(ours.sum(), logits)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), logits)
    torch.testing.assert_close(g_ours, g_theirs)
    # extreme logits stay finite, and the gradient is right for both arguments (float64)
    assert torch.isfinite(bce_with_logits(torch.tensor([[-1e4, 1e4, 0.0]]), torch.tensor([[1.0, 0.0, 0.5]]))).all()
    args = (torch.randn(3, 5, dtype=torch.float64, requires_grad=True),
            torch.rand(3, 5, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(bce_with_logits, args)


def test_bce_with_logits_sums_every_dimension_but_the_first():
    logits, targets = torch.zeros(4, 1, 28, 28), torch.full((4, 1, 28, 28), 0.5)
    torch.testing.assert_close(bce_with_logits(logits, targets), torch.full((4,), 784 * math.log(2)))


def test_reparameterize_draws_from_the_given_generator():
    mu, logvar = torch.zeros(5, 3), torch.zeros(5, 3)
    a = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    b = reparameterize(mu, logvar, torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, torch.randn(5, 3, generator=torch.Generator().manual_seed(7)))
    z = reparameterize(torch.full((20000, 1), 2.0), torch.full((20000, 1), math.log(9.0)),
                       torch.Generator().manual_seed(0))
    assert z.mean().item() == pytest.approx(2.0, abs=0.06) and z.std().item() == pytest.approx(3.0, rel=0.03)


def test_adam_is_fused_on_the_cpu_and_keeps_its_settings():
    layer = torch.nn.Linear(3, 2)
    opt = adam(layer.parameters(), 1e-3, betas=(0.5, 0.999))
    group = opt.param_groups[0]
    assert group["fused"] and group["lr"] == 1e-3 and group["betas"] == (0.5, 0.999)


def _plain(monkeypatch):
    """PyTorch's own formulation in every model module: F's BCE with logits and for-each Adam."""
    import importlib

    def plain_bce(logits, targets):
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").reshape(logits.shape[0], -1).sum(1)

    def plain_adam(params, lr, **kwargs):
        return torch.optim.Adam(params, lr=lr, foreach=True, **kwargs)

    for name in ("base", "seed000", "seed002", "seed003", "seed004"):
        module = importlib.import_module(f"core.models.{name}")
        for attr, value in (("bce_with_logits", plain_bce), ("adam", plain_adam)):
            if hasattr(module, attr):
                monkeypatch.setattr(module, attr, value)


@pytest.mark.parametrize("name, model_args", [("cae", {"latent_dim": 4}), ("cvae", {"latent_dim": 4}),
                                              ("mlp-cvae", {"latent_dim": 4}), ("cgan", {"latent_dim": 8})])
def test_the_fast_trainer_gives_the_losses_of_the_plain_formulation(name, model_args, tiny_splits, monkeypatch):
    # the GAN's two-player updates amplify float32 rounding differences from step to step (1.5 % in its
    # validation loss after 8 batches, seen here): it runs 2 batches of one epoch (differences of 1e-5 at
    # most), where a different loss formulation still moves its losses by far more than the tolerance
    gan = name == "cgan"
    cfg = TrainConfig(model=name, model_args=model_args, epochs=1 if gan else 3, batch_size=32, seed=0, device="cpu")
    if gan:
        tiny_splits = tiny_splits.subset(64, 64, 64)
    fast = train(cfg, tiny_splits, progress=False).history
    with monkeypatch.context() as m:
        _plain(m)
        assert not base.DigitModel.configure_optimizer(torch.nn.Linear(1, 1), 1e-3).param_groups[0]["fused"]
        plain = train(cfg, tiny_splits, progress=False).history
    assert fast.keys() == plain.keys()
    for key in fast:
        if "/" in key:
            assert fast[key] == pytest.approx(plain[key], rel=2e-4), key


def test_a_diverging_run_names_the_epoch_and_batch(tiny_splits):
    cfg = TrainConfig(model="cae", model_args={"latent_dim": 4}, epochs=2, batch_size=32, lr=1e6, seed=0, device="cpu")
    with pytest.raises(TrainingDiverged, match=r"epoch 1 of 2: the loss became nan at batch \d+"):
        train(cfg, tiny_splits, progress=False)
