"""The rectified-flow reference (core/models/flow.py): its loss falls on a small subset, its Euler sampler
ends exactly on the predicted image, every mode gives images in [0, 1] reproducibly, and it traces its
sampling like the diffusion model."""

from __future__ import annotations

import pytest
import torch

from core.models import build_model
from core.models.flow import FlowSampler, RectifiedFlow
from core.training.trainer import TrainConfig, train


def oracle(model: RectifiedFlow, x0: torch.Tensor) -> RectifiedFlow:
    """``model`` with a network that knows the clean image ``x0`` (1, 1, 28, 28) on the [−1, 1] scale: it
    predicts the velocity ε − x0 whose ε is what separates x_t from (1 − t)·x0."""
    def velocity(x_t, t, digits):
        t = t.view(-1, 1, 1, 1)
        return (x_t - x0) / t.clamp_min(1e-6)  # ε − x0 = (x_t − (1 − t)·x0)/t − x0
    model.velocity = velocity
    return model


def test_the_last_euler_step_lands_exactly_on_the_image_whatever_the_steps_and_eta():
    x0 = -torch.ones(1, 1, 28, 28)
    x0[..., 6:22, 13:15] = 1.0
    model = oracle(RectifiedFlow(guidance=1.0), x0)
    z = torch.randn(3, 784, generator=torch.Generator().manual_seed(0))
    for sampler in (FlowSampler(1), FlowSampler(4), FlowSampler(20, eta=0.7), FlowSampler(4, solver="heun"),
                    FlowSampler(4, shift=3.0), FlowSampler(5, guidance_interval=(0.2, 0.8))):
        images = model.run_sampler(z, torch.tensor([1, 1, 1]), sampler, torch.Generator().manual_seed(1))
        torch.testing.assert_close(images, ((x0 + 1) / 2).expand(3, 1, 28, 28), atol=1e-5, rtol=0)


def test_times_are_even_from_one_to_zero_and_settings_are_checked_in_words():
    model = build_model("flow")
    assert model.times(4).tolist() == [1.0, 0.75, 0.5, 0.25, 0.0]
    for bad in (dict(steps=0), dict(eta=2.0), dict(guidance=-0.5)):
        with pytest.raises(ValueError, match=r"at least 1 step, η in \[0, 1\] and a guidance of at least 0"):
            FlowSampler(**bad)
    assert model.times(2, shift=3.0).tolist() == [1.0, 0.75, 0.0]  # 3·0.5 / (1 + 2·0.5)
    for bad, words in ((dict(solver="rk4"), "solver is one of euler, heun; got rk4"),
                       (dict(solver="heun", eta=0.5), "Heun's method is deterministic"),
                       (dict(shift=0.0), "time shift must be above 0"),
                       (dict(guidance_interval=(0.6, 0.3)), "needs 0 ≤ low ≤ high ≤ 1, got 0.6 to 0.3")):
        with pytest.raises(ValueError, match=words):
            FlowSampler(**bad)


def test_heun_and_the_guidance_interval_make_the_network_passes_they_promise():
    """Heun: two passes per step but one on the last (it ends at t = 0); guidance outside its interval: one
    conditional pass of N images instead of one of 2N (conditional and "no digit")."""
    model = build_model("flow")
    batches = []
    model.velocity = lambda x_t, t, digits: batches.append((x_t.shape[0], float(t[0]))) or torch.zeros_like(x_t)
    z, labels = torch.randn(3, 784, generator=torch.Generator().manual_seed(0)), torch.tensor([1, 2, 3])
    model.run_sampler(z, labels, FlowSampler(4, solver="heun"))
    assert [t for _, t in batches] == [1.0, 0.75, 0.75, 0.5, 0.5, 0.25, 0.25]
    batches.clear()
    model.run_sampler(z, labels, FlowSampler(4, guidance=2.0, guidance_interval=(0.3, 0.8)))
    assert batches == [(3, 1.0), (6, 0.75), (6, 0.5), (3, 0.25)]


def test_training_repeats_with_the_seed_and_drops_the_digit():
    model = RectifiedFlow(drop_digit=0.5)
    seen = []
    model.velocity = lambda x_t, t, digits: seen.append((t.clone(), digits.clone())) or torch.zeros_like(x_t)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(10, (64,))
    first = model.training_loss(x, y, torch.Generator().manual_seed(0))["loss"]
    assert torch.equal(first, model.training_loss(x, y, torch.Generator().manual_seed(0))["loss"])
    times, digits = seen[0]
    assert float(times.min()) > 0 and float(times.max()) < 1 and 0.35 < float(times.mean()) < 0.65
    assert 10 < int((digits == 10).sum()) < 54


@pytest.fixture(scope="module")
def trained(mnist_splits):
    cfg = TrainConfig(model="flow", epochs=3, batch_size=64, lr=1e-3, seed=0, device="cpu")
    return train(cfg, mnist_splits.subset(512, 128, 16), progress=False)


@pytest.mark.slow
def test_the_velocity_loss_falls_on_a_small_subset(trained):
    val = trained.history["val/loss"]
    assert val[-1] < 0.8 * val[0]  # 2.0 is predicting zero velocity (E|ε − x0|² with x0 on [−1, 1])
    assert trained.history["train/loss"][-1] < trained.history["train/loss"][0]


@pytest.mark.slow
def test_every_mode_gives_unit_range_images_reproducibly_and_the_trace_ends_on_them(trained):
    model = trained.model.eval()
    labels = torch.tensor([0, 6])
    for mode in model.generation_modes:
        a = model.generate(labels, torch.Generator().manual_seed(2), mode)
        assert a.shape == (2, 1, 28, 28) and a.dtype == torch.float32
        assert float(a.min()) >= 0 and float(a.max()) <= 1
        assert torch.equal(a, model.generate(labels, torch.Generator().manual_seed(2), mode))
    traced = model.trace(labels, torch.Generator().manual_seed(2), steps=20)
    assert traced.x_t.shape == (21, 2, 1, 28, 28) and traced.timesteps[0] == 1000
    torch.testing.assert_close(traced.x_t[-1], model.generate(labels, torch.Generator().manual_seed(2), "Euler 20 steps"))
    z = torch.randn(2, 784, generator=torch.Generator().manual_seed(0))
    assert torch.equal(model.decode(z, labels), model.decode(z, labels))  # deterministic: the latent sliders
