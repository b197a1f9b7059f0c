"""core.models.seed003: seed 003's conditional GAN (shapes, sampling, losses on known inputs,
the alternating training step, a short run on real MNIST)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from core.models import UnsupportedCapability
from core.models.capabilities import (
    ALL_CAPABILITIES,
    CLASSIFY,
    DECODE,
    ENCODE,
    GENERATE,
    N_PIXELS,
    RECONSTRUCT,
    RESTYLE,
)
from core.models.seed003 import NOISE, ConditionalGAN, GANOptimizers

pytestmark = pytest.mark.usefixtures("single_thread")

N = 8


def make(seed: int = 0, latent_dim: int = 100) -> ConditionalGAN:
    torch.manual_seed(seed)
    return ConditionalGAN(latent_dim=latent_dim)


def batch(n: int = N, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=gen), torch.arange(n) % 10


def params(net: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


# --- interface -----------------------------------------------------------------------------------
def test_declares_generation_only():
    model = make()
    assert model.name == "cgan" and model.display_name == "cGAN"
    assert {c for c in ALL_CAPABILITIES if model.can(c)} == {GENERATE, DECODE}
    assert model.decoder_needs_label and model.input_modes == () and model.generation_modes == (NOISE,)
    assert model.latent_dim == 100 and model.describe() == "cGAN (z=100)"
    x, y = batch()
    for call in (lambda: model.encode(x, y), lambda: model.reconstruct(x, y), lambda: model.classify(x),
                 lambda: model.restyle(x, y, torch.tensor([1]))):
        with pytest.raises(UnsupportedCapability):
            call()
    assert not any(model.can(c) for c in (ENCODE, RECONSTRUCT, CLASSIFY, RESTYLE))


def test_decode_shapes_range_and_conditioning():
    model = make().eval()
    z = torch.randn(N, 100, generator=torch.Generator().manual_seed(0))
    y = torch.arange(N) % 10
    with torch.no_grad():
        images, extreme = model.decode(z, y), model.decode(100 * z, y)  # tanh saturates at 100·z
    assert images.shape == (N, 1, 28, 28) and images.dtype == torch.float32
    assert float(extreme.min()) >= 0.0 and float(extreme.max()) <= 1.0  # pixels stay inside [0, 1]
    assert float(extreme.min()) < 0.01 and float(extreme.max()) > 0.99
    # the digit is an input of G: the same noise with another digit gives another image
    assert not torch.allclose(images, model.decode(z, (y + 1) % 10).detach())
    # decode is G mapped from tanh's [-1, 1] to pixels in [0, 1]
    assert torch.allclose(images.reshape(N, N_PIXELS), (model.generator_output(z, y).detach() + 1) / 2)


def test_decode_needs_the_digit():
    with pytest.raises(ValueError, match="digit"):
        make().eval().decode(torch.zeros(2, 100))


def test_generate_is_reproducible_varied_and_in_range():
    model = make().eval()
    labels = torch.full((6,), 7)
    a = model.generate(labels, torch.Generator().manual_seed(3))
    b = model.generate(labels, torch.Generator().manual_seed(3))
    c = model.generate(labels, torch.Generator().manual_seed(4))
    assert a.shape == (6, 1, 28, 28)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b) and not torch.allclose(a, c)
    assert (a[1:] - a[:1]).abs().amax(dim=(1, 2, 3)).min() > 1e-3  # six different samples of a 7
    assert torch.equal(model.generate(labels, torch.Generator().manual_seed(3), mode=NOISE), a)
    with pytest.raises(ValueError, match="unknown generation mode"):
        model.generate(labels, mode="density")


def test_constructor_refuses_a_non_positive_size():
    with pytest.raises(ValueError):
        ConditionalGAN(latent_dim=0)


def test_model_args_rebuild_the_same_architecture():
    model = make(latent_dim=16)
    args = json.loads(json.dumps(model.model_args))
    assert args == {"latent_dim": 16}
    rebuilt = ConditionalGAN(**args)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {k: v.shape for k, v in rebuilt.state_dict().items()}
    assert shapes["generator_net.0.weight"] == (256, 16 + 10)
    assert shapes["discriminator_net.0.weight"] == (512, N_PIXELS + 10)
    rebuilt.load_state_dict(model.state_dict())
    z, y = torch.randn(4, 16), torch.arange(4)
    assert torch.equal(model.eval().decode(z, y), rebuilt.eval().decode(z, y))


def test_configure_optimizer_gives_one_adam_per_network():
    model = make()
    opt = model.configure_optimizer(3e-4)
    assert isinstance(opt, GANOptimizers)
    for optimizer, net in ((opt.generator, model.generator_net), (opt.discriminator, model.discriminator_net)):
        assert isinstance(optimizer, torch.optim.Adam)
        group, = optimizer.param_groups
        assert group["lr"] == 3e-4 and tuple(group["betas"]) == (0.5, 0.999)
        assert {id(p) for p in group["params"]} == {id(p) for p in net.parameters()}
    assert ConditionalGAN.default_training == {"lr": 2e-4, "batch_size": 128, "epochs": 30}


# --- losses on known inputs ----------------------------------------------------------------------
def test_losses_when_the_discriminator_says_one_half_everywhere():
    model = make().eval()
    last = model.discriminator_net[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    x, y = batch()
    losses = model.validation_loss(x, y, torch.Generator().manual_seed(0))
    assert set(losses) == set(model.loss_components)
    assert not any(v.requires_grad for v in losses.values())
    ln2 = math.log(2)
    assert float(losses["d_loss"]) == pytest.approx(2 * ln2)  # −log ½ on the real + −log(1 − ½) on the fake
    assert float(losses["g_loss"]) == pytest.approx(ln2)      # −log ½
    assert float(losses["loss"]) == pytest.approx(3 * ln2)
    assert float(losses["d_real"]) == pytest.approx(0.5) and float(losses["d_fake"]) == pytest.approx(0.5)


def test_losses_follow_their_definitions():
    """d_loss, g_loss, d_real, d_fake recomputed by hand from D on 2x − 1 and on G(z | y)."""
    model = make().eval()
    x, y = batch()
    losses = model.validation_loss(x, y, torch.Generator().manual_seed(5))
    z = torch.randn(N, 100, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        d_real = model.discriminate(x, y)
        d_fake = model.discriminate(model.decode(z, y), y)
    assert float(losses["d_real"]) == pytest.approx(float(d_real.mean()), abs=1e-6)
    assert float(losses["d_fake"]) == pytest.approx(float(d_fake.mean()), abs=1e-5)
    assert float(losses["d_loss"]) == pytest.approx(float(-(d_real.log().mean() + (1 - d_fake).log().mean())), abs=1e-5)
    assert float(losses["g_loss"]) == pytest.approx(float(-d_fake.log().mean()), abs=1e-5)


def test_discriminator_sees_images_in_tanh_range_and_the_one_hot_digit():
    model = make().eval()
    x, y = batch()
    seen = []
    model.discriminator_net.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    model.validation_loss(x, y, torch.Generator().manual_seed(0))
    real, fake = seen
    one_hot = F.one_hot(y, 10).float()
    assert torch.equal(real, torch.cat([2 * x.reshape(N, N_PIXELS) - 1, one_hot], dim=1))
    assert torch.equal(fake[:, N_PIXELS:], one_hot)
    assert float(fake[:, :N_PIXELS].min()) >= -1.0 and float(fake[:, :N_PIXELS].max()) <= 1.0
    assert float(fake[:, :N_PIXELS].min()) < -0.1  # in [-1, 1], not [0, 1]


# --- the alternating training step ----------------------------------------------------------------
def test_train_step_moves_each_network_with_its_own_step_and_lowers_its_loss():
    model = make().train()
    opt = model.configure_optimizer(2e-4)
    x, y = batch(32)
    noise = torch.Generator().manual_seed(9)
    state = noise.get_state()

    def same_batch_losses():  # the quantities on this batch with the step's own noise
        with torch.no_grad():
            return model.losses(x, y, torch.Generator().set_state(state))

    g0, d0 = params(model.generator_net), params(model.discriminator_net)
    after_d = {}
    d_step = opt.discriminator.step

    def d_step_then_look(*args, **kwargs):
        out = d_step(*args, **kwargs)
        after_d.update(g=params(model.generator_net), d=params(model.discriminator_net),
                       losses=same_batch_losses())
        return out

    opt.discriminator.step = d_step_then_look
    out = model.train_step(x, y, opt, noise)
    assert set(out) == set(model.loss_components)
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 and not v.requires_grad for v in out.values())
    out = {key: float(value) for key, value in out.items()}
    assert out["loss"] == pytest.approx(out["d_loss"] + out["g_loss"])
    # D step: only D moved, and L_D on this batch went down
    assert same(after_d["g"], g0) and not same(after_d["d"], d0)
    assert float(after_d["losses"]["d_loss"]) < out["d_loss"]
    # g_loss is reported through the updated D, before the G step
    assert float(after_d["losses"]["g_loss"]) == pytest.approx(out["g_loss"], abs=1e-5)
    # G step: only G moved, and L_G on this batch went down
    assert same(params(model.discriminator_net), after_d["d"])
    assert not same(params(model.generator_net), g0)
    assert float(same_batch_losses()["g_loss"]) < out["g_loss"]


def test_short_training_on_real_mnist_teaches_the_discriminator(mnist_splits):
    """80 steps of batch 64 over 1,500 real training images: on held-out validation images the
    discriminator starts undecided (D(x) ≈ D(G(z)) ≈ ½) and learns to tell real from generated."""
    train_x, train_y = mnist_splits.train_x[:1500], mnist_splits.train_y[:1500]
    val_x, val_y = mnist_splits.val_x[:256], mnist_splits.val_y[:256]
    model = make()
    opt = model.configure_optimizer(ConditionalGAN.default_training["lr"])

    def held_out():
        model.eval()
        losses = model.validation_loss(val_x, val_y, torch.Generator().manual_seed(1))
        model.train()
        return float(losses["d_real"] - losses["d_fake"]), float(losses["d_loss"])

    gap0, d_loss0 = held_out()
    assert abs(gap0) < 0.02
    noise = torch.Generator().manual_seed(0)
    rows = []
    for step in range(80):
        i = (step * 64) % (1500 - 64)
        rows.append({k: float(v) for k, v in model.train_step(train_x[i:i + 64], train_y[i:i + 64], opt, noise).items()})
    assert all(math.isfinite(v) for row in rows for v in row.values())
    gap, d_loss = held_out()
    assert gap > 0.04
    assert d_loss < d_loss0 - 0.1
    assert sum(r["d_real"] - r["d_fake"] for r in rows[-10:]) / 10 > 0.04  # the training batches agree
