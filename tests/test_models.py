"""core.models: the shared interface, seed 000's CAE/CVAE, losses on known inputs, registry."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core.models import REGISTRY, DigitModel, UnsupportedCapability, build_model, model_class
from core.models.capabilities import ALL_CAPABILITIES, DIGIT_ONLY, IMAGE_AND_DIGIT, IMAGE_ONLY, INPUT_MODES, N_PIXELS
from core.models.samplers import PerDigitGaussian, attach
from core.models.seed000 import DENSITY, DETERMINISTIC, POSTERIOR, ConditionalAutoencoder, ConditionalVAE, input_mode_of

# float(loss) on tensors that carry gradients is intended here
pytestmark = [pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning"),
              pytest.mark.usefixtures("single_thread")]

MODEL_NAMES = ["cae", "cvae"]  # seed 000's models; every registered model: tests/test_conformance.py
N = 6
LATENT = 5
HIDDEN = 32  # small layers: the interface does not depend on the width


def make(name: str, latent_dim: int = LATENT, hidden_dim: int = HIDDEN, seed: int = 0) -> DigitModel:
    torch.manual_seed(seed)
    return build_model(name, latent_dim=latent_dim, hidden_dim=hidden_dim).eval()


def batch(n: int = N, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=gen)
    y = torch.arange(n) % 10
    return x, y


def in_unit_interval(images: torch.Tensor) -> bool:
    images = images.detach()
    return float(images.min()) >= 0.0 and float(images.max()) <= 1.0


def inputs(mode: str, x, y):
    return {IMAGE_AND_DIGIT: (x, y), IMAGE_ONLY: (x, None), DIGIT_ONLY: (None, y)}[mode]


def fit_density(model: ConditionalAutoencoder, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(200) % 10
    attach(model, [PerDigitGaussian().fit(torch.randn(200, model.latent_dim, generator=gen), labels)])


def ready_to_sample(name: str) -> DigitModel:
    model = make(name)
    fit_density(model)
    return model


STOCHASTIC_MODES = [(name, mode) for name in MODEL_NAMES for mode in (DENSITY, POSTERIOR)
                    if mode in build_model(name).generation_modes]


# --- shapes per input mode ----------------------------------------------------------------------

@pytest.mark.parametrize("mode", INPUT_MODES)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_encode_decode_shapes_per_input_mode(name, mode):
    model = make(name)
    assert mode in model.input_modes
    x, y = batch()
    z = model.encode(*inputs(mode, x, y))
    assert z.shape == (N, LATENT) and z.dtype == torch.float32
    assert torch.equal(z, model.encode(*inputs(mode, x, y))), "encode is deterministic"
    images = model.decode(z)
    assert images.shape == (N, 1, 28, 28)
    assert in_unit_interval(images)
    losses = model.loss_in_mode(x, y, mode)
    assert set(losses) == set(model.loss_components)
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())


@pytest.mark.parametrize("mode", [IMAGE_AND_DIGIT, IMAGE_ONLY])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_reconstruct_shape_and_definition(name, mode):
    model = make(name)
    x, y = batch()
    out = model.reconstruct(*inputs(mode, x, y))
    assert out.shape == (N, 1, 28, 28)
    assert in_unit_interval(out)
    assert torch.allclose(out, model.decode(model.encode(*inputs(mode, x, y))))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_classify_returns_log_probabilities_from_the_image_alone(name):
    model = make(name)
    x, _ = batch()
    logp = model.classify(x)
    assert logp.shape == (N, 10)
    assert float(logp.detach().max()) <= 0.0
    assert torch.allclose(logp.exp().sum(1), torch.ones(N), atol=1e-5)
    assert torch.allclose(logp, model.decode_logits(model.encode(x, None))[1])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fusion_sums_the_present_pathways(name):
    model = make(name)
    x, y = batch()
    assert torch.allclose(model.fuse(x, y), model.fuse(x, None) + model.fuse(None, y), atol=1e-6)
    with pytest.raises(ValueError):
        model.fuse(None, None)
    with pytest.raises(ValueError):
        model.encode()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_decoder_ignores_the_label(name):
    model = make(name)
    z = torch.randn(N, LATENT)
    assert torch.equal(model.decode(z, torch.zeros(N, dtype=torch.long)), model.decode(z, torch.ones(N, dtype=torch.long)))


def test_input_mode_of():
    x, y = batch()
    assert input_mode_of(x, y) == IMAGE_AND_DIGIT
    assert input_mode_of(x, None) == IMAGE_ONLY
    assert input_mode_of(None, y) == DIGIT_ONLY
    with pytest.raises(ValueError, match="image"):
        input_mode_of(None, None)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_gradients_reach_only_the_pathways_in_use(name):
    model = make(name).train()
    x, y = batch()
    for mode, image_used, digit_used in [(IMAGE_AND_DIGIT, True, True), (IMAGE_ONLY, True, False),
                                         (DIGIT_ONLY, False, True)]:
        model.zero_grad(set_to_none=True)
        model.loss_in_mode(x, y, mode)["loss"].backward()
        image_grad = model.image_pathway[0].weight.grad
        digit_grad = model.digit_pathway[0].weight.grad
        assert (image_grad is not None and image_grad.abs().sum() > 0) == image_used, mode
        assert (digit_grad is not None and digit_grad.abs().sum() > 0) == digit_used, mode


# --- generation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", MODEL_NAMES)
def test_generate_shapes_in_every_mode(name):
    model = ready_to_sample(name)
    expected = {"cae": (DENSITY, DETERMINISTIC), "cvae": (POSTERIOR, DENSITY, DETERMINISTIC)}[name]
    assert model.generation_modes == expected
    labels = torch.tensor([0, 3, 9, 9])
    for mode in (None, *model.generation_modes):
        images = model.generate(labels, generator=torch.Generator().manual_seed(1), mode=mode)
        assert images.shape == (4, 1, 28, 28)
        assert in_unit_interval(images)
    with pytest.raises(ValueError, match="mode"):
        model.generate(labels, mode="dream")


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_density_mode_needs_a_fitted_density(name):
    model = make(name)
    assert "density" not in model.samplers
    if model.generation_modes[0] == DENSITY:
        with pytest.raises(ValueError, match="fitted"):
            model.generate(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="fitted"):
        model.generate(torch.tensor([1, 2]), mode=DENSITY)
    # deterministic mode needs no density
    assert model.generate(torch.tensor([1, 2]), mode=DETERMINISTIC).shape == (2, 1, 28, 28)
    fit_density(model)
    assert isinstance(model.samplers["density"], PerDigitGaussian)
    assert model.generation_modes == type(model).generation_modes  # it fills the declared mode, adds none
    assert model.generate(torch.tensor([1, 2])).shape == (2, 1, 28, 28)


@pytest.mark.parametrize("name, mode", STOCHASTIC_MODES)
def test_sampling_modes_are_reproducible_with_a_seeded_generator_and_varied(name, mode):
    model = ready_to_sample(name)
    labels = torch.full((5,), 4)
    a = model.generate(labels, generator=torch.Generator().manual_seed(123), mode=mode)
    b = model.generate(labels, generator=torch.Generator().manual_seed(123), mode=mode)
    c = model.generate(labels, generator=torch.Generator().manual_seed(124), mode=mode)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-4
    for i in range(1, 5):  # the same label gives different images
        assert (a[0] - a[i]).abs().max() > 1e-4


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_deterministic_mode_gives_one_image_per_digit(name):
    model = ready_to_sample(name)
    labels = torch.tensor([3, 3, 7, 7, 3])
    images = model.generate(labels, generator=torch.Generator().manual_seed(0), mode=DETERMINISTIC)
    again = model.generate(labels, generator=torch.Generator().manual_seed(99), mode=DETERMINISTIC)
    assert torch.allclose(images, again, atol=1e-6)
    assert torch.allclose(images[0], images[1], atol=1e-6) and torch.allclose(images[0], images[4], atol=1e-6)
    assert torch.allclose(images[2], images[3], atol=1e-6)
    assert (images[0] - images[2]).abs().max() > 1e-5
    assert torch.allclose(images, model.decode(model.encode(None, labels)), atol=1e-6)


def test_cae_density_mode_draws_from_the_fitted_per_digit_gaussian():
    model = make("cae", latent_dim=3)
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(5000) % 10
    scale = torch.tensor([[1.0, 0.0, 0.0], [0.5, 2.0, 0.0], [0.0, -1.0, 0.5]])
    z = torch.randn(5000, 3, generator=gen) @ scale.T + labels[:, None].float()
    density = PerDigitGaussian(ridge=0.0).fit(z, labels)
    attach(model, [density])
    # samples follow the fitted Gaussian: intercept the decoder to see the codes
    model.decode = lambda z, y=None: z
    draws = model.generate(torch.full((20_000,), 6), generator=torch.Generator().manual_seed(5))
    assert torch.allclose(draws.mean(0), density.mean[6], atol=0.08)
    assert torch.allclose(torch.cov(draws.T), density.scale_tril[6] @ density.scale_tril[6].T, atol=0.15)
    assert torch.allclose(draws.mean(0), z[labels == 6].mean(0), atol=0.08)


def test_after_training_needs_two_codes_per_digit():
    model = make("cae")
    labels = torch.tensor([d for d in range(10) for _ in range(2)])
    labels[-1] = 0  # digit 9 now has one code
    with pytest.raises(ValueError, match="digit 9"):
        model.after_training(torch.rand(20, 1, 28, 28), labels)
    assert model.samplers == {}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_after_training_fits_the_density_on_image_digit_codes(name):
    model = make(name)
    x, y = batch(60, seed=3)
    model.after_training(x, y, batch_size=7)
    density = model.samplers["density"]
    assert isinstance(density, PerDigitGaussian) and not any("density" in key for key in model.state_dict())
    codes = model.encode(x, y)
    for digit in range(10):
        assert torch.allclose(density.mean[digit], codes[y == digit].mean(0), atol=1e-5)
        own = codes[y == digit].double()
        cov = torch.cov(own.T) + 1e-4 * torch.eye(LATENT, dtype=torch.float64)
        assert torch.allclose((density.scale_tril[digit] @ density.scale_tril[digit].T).double(), cov, atol=1e-4)


def test_cvae_posterior_mode_draws_from_the_digit_posterior():
    model = make("cvae", latent_dim=2)
    with torch.no_grad():
        for layer, bias in ((model.to_mu, [1.5, -2.0]), (model.to_logvar, [math.log(4.0), 0.0])):
            layer.weight.zero_()
            layer.bias.copy_(torch.tensor(bias))
    model.decode = lambda z, y=None: z
    draws = model.generate(torch.full((20_000,), 2), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(draws.mean(0), torch.tensor([1.5, -2.0]), atol=0.05)
    assert torch.allclose(draws.std(0), torch.tensor([2.0, 1.0]), atol=0.05)
    assert torch.equal(model.generate(torch.tensor([2]), mode=DETERMINISTIC), torch.tensor([[1.5, -2.0]]))


# --- losses on known inputs -----------------------------------------------------------------------

def zero_(layer: nn.Linear, bias: float | list[float] = 0.0) -> None:
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype).expand_as(layer.bias))


LN2, LN10 = math.log(2.0), math.log(10.0)


@pytest.mark.parametrize("mode", INPUT_MODES)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_loss_with_zeroed_heads_is_known(name, mode):
    """Zero heads: image logits 0 (p = 0.5: BCE = 784 ln 2 whatever the image), uniform digit
    (NLL = ln 10); for the CVAE, μ = 0 and log σ² = 0 give KL = 0."""
    model = make(name)
    zero_(model.image_head)
    zero_(model.digit_head)
    if isinstance(model, ConditionalVAE):
        zero_(model.to_mu)
        zero_(model.to_logvar)
    x, y = batch()
    losses = model.loss_in_mode(x, y, mode)
    assert float(losses["bce"]) == pytest.approx(N_PIXELS * LN2, rel=1e-5)
    assert float(losses["nll"]) == pytest.approx(LN10, rel=1e-5)
    expected = N_PIXELS * LN2 + LN10
    if isinstance(model, ConditionalVAE):
        assert float(losses["kl"]) == pytest.approx(0.0, abs=1e-6)
    assert float(losses["loss"]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("c", [0.5, -2.0])
@pytest.mark.parametrize("mode", INPUT_MODES)
def test_cvae_kl_of_a_shifted_posterior(mode, c):
    """μ = c in every dimension and log σ² = 0: KL(N(c, 1) ‖ N(0, 1)) = ½ d c²."""
    model = make("cvae", latent_dim=LATENT)
    zero_(model.image_head)
    zero_(model.digit_head)
    zero_(model.to_mu, c)
    zero_(model.to_logvar)
    x, y = batch()
    losses = model.loss_in_mode(x, y, mode)
    kl = 0.5 * LATENT * c * c
    assert float(losses["kl"]) == pytest.approx(kl, rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(N_PIXELS * LN2 + LN10 + kl, rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(float(losses["bce"] + losses["nll"] + losses["kl"]), rel=1e-6)


def test_cvae_kl_of_a_scaled_posterior():
    """μ = 0, log σ² = s: KL = ½ d (e^s − 1 − s)."""
    model = make("cvae")
    zero_(model.to_mu)
    zero_(model.to_logvar, 1.0)
    x, y = batch()
    expected = 0.5 * LATENT * (math.e - 1 - 1)
    assert float(model.loss_in_mode(x, y, IMAGE_AND_DIGIT)["kl"]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_loss_targets_are_the_full_image_and_the_true_digit(name):
    """Image logits b everywhere on an all-ones image: BCE = 784 softplus(−b); digit logits with
    3 at the true digit: NLL = log(9 + e³) − 3 (even in image-only mode)."""
    model = make(name)
    zero_(model.image_head, 1.5)
    logits = torch.zeros(10)
    logits[4] = 3.0
    zero_(model.digit_head, logits.tolist())
    if isinstance(model, ConditionalVAE):
        zero_(model.to_mu)
        zero_(model.to_logvar)
    x = torch.ones(3, 1, 28, 28)
    y = torch.full((3,), 4)
    for mode in INPUT_MODES:
        losses = model.loss_in_mode(x, y, mode)
        assert float(losses["bce"]) == pytest.approx(N_PIXELS * math.log1p(math.exp(-1.5)), rel=1e-5)
        assert float(losses["nll"]) == pytest.approx(math.log(9 + math.exp(3.0)) - 3.0, rel=1e-5)
    wrong = model.loss_in_mode(x, torch.full((3,), 5), IMAGE_ONLY)
    assert float(wrong["nll"]) == pytest.approx(math.log(9 + math.exp(3.0)), rel=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_validation_loss_reports_every_mode(name):
    model = make(name)
    x, y = batch()
    out = model.validation_loss(x, y, torch.Generator().manual_seed(0))
    per_mode = {f"loss[{mode}]" for mode in INPUT_MODES}
    assert set(out) == set(model.loss_components) | per_mode
    if name == "cae":  # deterministic: the mean loss is the mean of the per-mode totals
        expected = sum(float(model.loss_in_mode(x, y, m)["loss"]) for m in INPUT_MODES) / 3
        assert float(out["loss"]) == pytest.approx(expected, rel=1e-5)
        for mode in INPUT_MODES:
            assert float(out[f"loss[{mode}]"]) == pytest.approx(float(model.loss_in_mode(x, y, mode)["loss"]), rel=1e-5)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_training_loss_draws_input_modes_uniformly_and_reproducibly(name):
    model = make(name)
    x, y = batch()

    def draw(seed):
        modes = []
        model.loss_in_mode = lambda x, y, mode: modes.append(mode) or {"loss": torch.tensor(0.0)}
        gen = torch.Generator().manual_seed(seed)
        for _ in range(300):
            model.training_loss(x, y, gen)
        return modes

    first = draw(7)
    assert first == draw(7)
    assert first != draw(8)
    counts = {mode: first.count(mode) for mode in INPUT_MODES}
    assert all(60 < count < 140 for count in counts.values()), counts


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_train_step_lowers_the_loss_of_a_batch(name):
    model = make(name).train()
    x, y = batch(20)
    optimizer = model.configure_optimizer(1e-3)
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    before = float(model.loss_in_mode(x, y, IMAGE_AND_DIGIT)["bce"])
    for _ in range(15):
        stats = model.train_step(x, y, optimizer, gen)
    assert set(stats) == set(model.loss_components)
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 and not v.requires_grad for v in stats.values())
    assert float(model.loss_in_mode(x, y, IMAGE_AND_DIGIT)["bce"]) < before


# --- construction, capabilities, registry -------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{"latent_dim": 0}, {"latent_dim": -3}, {"hidden_dim": 0}])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_constructor_refuses_non_positive_sizes(name, kwargs):
    with pytest.raises(ValueError):
        model_class(name)(**kwargs)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_args_rebuild_the_same_architecture(name):
    model = make(name, latent_dim=7)
    assert model.model_args == {"latent_dim": 7, "hidden_dim": HIDDEN}
    assert model.latent_dim == 7
    clone = type(model)(**model.model_args)
    assert {k: v.shape for k, v in clone.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert model.describe() == f"{model.display_name} (z=7)"


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_registered_classes_describe_themselves(name):
    cls = REGISTRY[name]
    assert cls.name == name and cls.display_name and cls.source
    assert cls.capabilities <= set(ALL_CAPABILITIES)
    assert "loss" in cls.loss_components
    assert set(cls.input_modes) <= set(INPUT_MODES)
    assert model_class(name) is cls
    model = make(name)
    for capability in ALL_CAPABILITIES:
        assert model.can(capability) == (capability in cls.capabilities)
    if model.can("generate"):
        assert cls.generation_modes


def test_model_class_unknown_name_lists_registered_models():
    with pytest.raises(KeyError) as info:
        model_class("nope")
    msg = str(info.value)
    assert "nope" in msg
    assert all(name in msg for name in REGISTRY)
    with pytest.raises(KeyError):
        build_model("nope", latent_dim=3)


def test_two_models_registered_under_one_name_are_refused(monkeypatch):
    """A second class with a registered name must not silently replace the first: the registry
    refuses to build and names both classes."""
    from core import models
    from core.models import seed000, seed002

    class ImpostorAutoencoder(seed000.ConditionalAutoencoder):
        """Declares the CAE's name."""

    assert ImpostorAutoencoder.name == "cae"
    monkeypatch.setattr(seed002, "ImpostorAutoencoder", ImpostorAutoencoder, raising=False)
    monkeypatch.setattr(models, "_MODEL_MODULES", (("seed000", "ConditionalAutoencoder"), ("seed002", "ImpostorAutoencoder")))
    monkeypatch.setattr(models, "_registry", None)
    with pytest.raises(ValueError) as info:
        model_class("cae")
    assert isinstance(info.value, models.RegistryError)
    message = str(info.value)
    assert "'cae'" in message and "core.models.seed000.ConditionalAutoencoder" in message
    assert "ImpostorAutoencoder" in message
    assert models._registry is None  # nothing half-built is kept


class Inert(DigitModel):
    """A model that declares no capabilities."""

    name = "inert"
    display_name = "Inert"

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.model_args = {}
        self.latent_dim = 1


def test_undeclared_capabilities_raise_unsupported():
    model = Inert()
    x, y = batch(2)
    assert not any(model.can(c) for c in ALL_CAPABILITIES)
    calls = [lambda: model.encode(x, y), lambda: model.decode(torch.zeros(2, 1)), lambda: model.reconstruct(x),
             lambda: model.classify(x), lambda: model.generate(y), lambda: model.sample(2),
             lambda: model.training_loss(x, y, torch.Generator()),
             lambda: model.validation_loss(x, y, torch.Generator())]
    for call in calls:
        with pytest.raises(UnsupportedCapability, match="Inert|inert"):
            call()
    assert model.device == torch.device("cpu")
