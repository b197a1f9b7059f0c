"""core.models.seed002: seed 002's convolutional and multilayer CVAEs (shapes, ranges, losses on
known inputs, the Bayes classifier, generation, restyling, a short training run on real MNIST)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core.models.capabilities import IMAGE_AND_DIGIT, IMAGE_ONLY, N_PIXELS
from core.models.seed002 import DETERMINISTIC, PRIOR, ConvolutionalCVAE, MultilayerCVAE

# float(loss) on tensors that carry gradients is intended here
pytestmark = [pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning"),
              pytest.mark.usefixtures("single_thread")]

CLASSES = [ConvolutionalCVAE, MultilayerCVAE]
N = 6
LATENT = 4


def make(cls, latent_dim: int = LATENT, seed: int = 0):
    torch.manual_seed(seed)
    return cls(latent_dim=latent_dim).eval()


def batch(n: int = N, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=gen), torch.arange(n) % 10


def in_unit_interval(images: torch.Tensor) -> bool:
    return float(images.min()) >= 0.0 and float(images.max()) <= 1.0


def zero_(layer: nn.Module, bias: float = 0.0) -> None:
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.fill_(bias)


@pytest.mark.parametrize("cls", CLASSES)
def test_declarations(cls):
    model = make(cls)
    assert model.decoder_needs_label
    assert model.input_modes == (IMAGE_AND_DIGIT, IMAGE_ONLY)
    assert model.generation_modes == (PRIOR, DETERMINISTIC)
    assert model.loss_components == ("loss", "bce", "kl")
    assert model.default_training == {"epochs": 30, "batch_size": 128, "lr": 1e-3}
    assert all(model.can(c) for c in ("reconstruct", "classify", "generate", "encode", "decode", "restyle"))
    assert cls().latent_dim == 16 and cls().model_args == {"latent_dim": 16}


@pytest.mark.parametrize("cls", CLASSES)
def test_shapes_and_pixel_range(cls):
    model = make(cls)
    x, y = batch()
    with torch.no_grad():
        z = model.encode(x, y)
        assert z.shape == (N, LATENT)
        for images in (model.decode(z, y), model.reconstruct(x, y), model.reconstruct(x)):
            assert images.shape == (N, 1, 28, 28) and in_unit_interval(images)
        for mode in (PRIOR, DETERMINISTIC, None):
            images = model.generate(y, torch.Generator().manual_seed(0), mode=mode)
            assert images.shape == (N, 1, 28, 28) and in_unit_interval(images)
        restyled = model.restyle(x, y, torch.tensor([0, 7, 3]))
        assert restyled.shape == (N, 3, 1, 28, 28) and in_unit_interval(restyled)


@pytest.mark.parametrize("cls", CLASSES)
def test_classify_returns_log_probabilities(cls):
    model = make(cls)
    x, _ = batch()
    with torch.no_grad():
        logp = model.classify(x)
    assert logp.shape == (N, 10)
    assert torch.all(logp <= 0)
    torch.testing.assert_close(logp.exp().sum(1), torch.ones(N))


@pytest.mark.parametrize("cls", CLASSES)
def test_decode_needs_the_digit_and_encode_needs_the_image(cls):
    model = make(cls)
    with pytest.raises(ValueError, match="pass y"):
        model.decode(torch.zeros(2, LATENT))
    with pytest.raises(ValueError, match="needs an image"):
        model.encode(None, torch.tensor([1, 2]))


@pytest.mark.parametrize("cls", CLASSES)
def test_image_only_mode_uses_the_classified_digit(cls):
    model = make(cls)
    x, _ = batch()
    with torch.no_grad():
        inferred = model.classify(x).argmax(1)
        torch.testing.assert_close(model.encode(x), model.encode(x, inferred))
        torch.testing.assert_close(model.reconstruct(x), model.reconstruct(x, inferred))
        # the digit matters: another label gives another code
        assert not torch.allclose(model.encode(x), model.encode(x, (inferred + 1) % 10))


@pytest.mark.parametrize("cls", CLASSES)
def test_reconstruct_and_restyle_are_decode_of_the_posterior_mean(cls):
    model = make(cls)
    x, y = batch()
    targets = torch.tensor([4, 9])
    with torch.no_grad():
        mu, _ = model.posterior(x, y)
        torch.testing.assert_close(model.reconstruct(x, y), model.decode(mu, y))
        restyled = model.restyle(x, y, targets)
        for j, digit in enumerate(targets.tolist()):
            torch.testing.assert_close(restyled[:, j], model.decode(mu, torch.full((N,), digit)))
        assert not torch.allclose(restyled[:, 0], restyled[:, 1])


@pytest.mark.parametrize("cls", CLASSES)
def test_generate_prior_is_reproducible_and_varied(cls):
    model = make(cls)
    labels = torch.full((5,), 3)
    first = model.generate(labels, torch.Generator().manual_seed(7), mode=PRIOR)
    again = model.generate(labels, torch.Generator().manual_seed(7), mode=PRIOR)
    other = model.generate(labels, torch.Generator().manual_seed(8), mode=PRIOR)
    torch.testing.assert_close(first, again)
    assert not torch.allclose(first, other)
    flat = first.reshape(5, -1)
    assert float(torch.cdist(flat, flat).add(torch.eye(5) * 1e9).min()) > 1e-4  # no two samples alike


@pytest.mark.parametrize("cls", CLASSES)
def test_generate_deterministic_decodes_the_prior_mean(cls):
    model = make(cls)
    labels = torch.tensor([2, 2, 5])
    images = model.generate(labels, mode=DETERMINISTIC)
    torch.testing.assert_close(images, model.decode(torch.zeros(3, LATENT), labels).detach())
    torch.testing.assert_close(images[0], images[1])
    assert not torch.allclose(images[0], images[2])


@pytest.mark.parametrize("cls", CLASSES)
def test_generate_refuses_an_unknown_mode(cls):
    with pytest.raises(ValueError, match="unknown generation mode"):
        make(cls).generate(torch.tensor([1]), mode="density")


@pytest.mark.parametrize("cls", CLASSES)
def test_loss_with_zero_image_logits_and_standard_posterior(cls):
    model = make(cls)
    zero_(model.decoder[-1])
    zero_(model.to_mu)
    zero_(model.to_logvar)
    x, y = batch()
    losses = model.training_loss(x, y, torch.Generator().manual_seed(0))
    assert set(losses) == set(model.loss_components)
    assert math.isclose(float(losses["bce"]), N_PIXELS * math.log(2), rel_tol=1e-5)
    assert abs(float(losses["kl"])) < 1e-6
    assert math.isclose(float(losses["loss"]), N_PIXELS * math.log(2), rel_tol=1e-5)
    val = model.validation_loss(x, y, torch.Generator().manual_seed(0))
    assert math.isclose(float(val["loss"]), N_PIXELS * math.log(2), rel_tol=1e-5)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("c", [0.5, -2.0])
def test_kl_of_a_shifted_posterior(cls, c):
    model = make(cls)
    zero_(model.decoder[-1])
    zero_(model.to_mu, c)
    zero_(model.to_logvar)
    x, y = batch()
    losses = model.training_loss(x, y, torch.Generator().manual_seed(0))
    assert math.isclose(float(losses["kl"]), 0.5 * LATENT * c * c, rel_tol=1e-5)
    assert math.isclose(float(losses["loss"]), float(losses["bce"]) + float(losses["kl"]), rel_tol=1e-6)
    assert math.isclose(float(losses["loss"]), N_PIXELS * math.log(2) + 0.5 * LATENT * c * c, rel_tol=1e-5)


@pytest.mark.parametrize("cls", CLASSES)
def test_training_noise_follows_the_generator(cls):
    model = make(cls)
    x, y = batch()
    first = model.training_loss(x, y, torch.Generator().manual_seed(3))["loss"]
    again = model.training_loss(x, y, torch.Generator().manual_seed(3))["loss"]
    other = model.training_loss(x, y, torch.Generator().manual_seed(4))["loss"]
    assert float(first) == float(again) and float(first) != float(other)


@pytest.mark.parametrize("cls", CLASSES)
def test_classify_is_bayes_rule_over_explicit_per_label_elbos(cls):
    model = make(cls)
    x, _ = batch()
    with torch.no_grad():
        elbos = []
        for digit in range(10):
            y = torch.full((N,), digit)
            mu, logvar = model.posterior(x, y)
            p = model.decode(mu, y).reshape(N, N_PIXELS).double()
            target = x.reshape(N, N_PIXELS).double()
            log_lik = (target * p.log() + (1 - target) * (1 - p).log()).sum(1)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).double()
            elbos.append(log_lik - kl)
        elbos = torch.stack(elbos, dim=1)  # (N, 10)
        logp = model.classify(x)
    torch.testing.assert_close(logp.double(), torch.log_softmax(elbos, 1), atol=1e-3, rtol=1e-4)
    assert torch.equal(logp.argmax(1), elbos.argmax(1))
    model.classify_chunk = 4  # chunking (here 4 + 2 images) does not change the result
    with torch.no_grad():
        torch.testing.assert_close(model.classify(x), logp)


@pytest.mark.parametrize("cls", CLASSES)
def test_classify_picks_the_label_whose_decoder_explains_the_image(cls, monkeypatch):
    model = make(cls)
    zero_(model.to_mu)
    zero_(model.to_logvar)  # KL = 0 for every label: the ELBO is the image likelihood alone
    gen = torch.Generator().manual_seed(1)
    templates = (torch.rand(10, N_PIXELS, generator=gen) > 0.5).float()  # one binary image per digit

    def decode_logits(z, y):
        return 6.0 * (2 * templates[y] - 1)

    monkeypatch.setattr(model, "decode_logits", decode_logits)
    truth = torch.tensor([3, 0, 9, 5, 5, 1])
    noisy = (templates[truth] - 0.3 * torch.rand(6, N_PIXELS, generator=gen)).clamp(0, 1)
    logp = model.classify(noisy.reshape(6, 1, 28, 28))
    assert torch.equal(logp.argmax(1), truth)
    assert torch.all(logp.exp().max(1).values > 0.99)


@pytest.mark.parametrize("cls", CLASSES)
def test_constructor_refuses_a_non_positive_latent_size(cls):
    with pytest.raises(ValueError, match="latent_dim"):
        cls(latent_dim=0)


@pytest.mark.parametrize("cls", CLASSES)
def test_model_args_rebuild_the_same_architecture(cls):
    model = make(cls, latent_dim=7)
    rebuilt = type(model)(**model.model_args)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == \
           {k: v.shape for k, v in model.state_dict().items()}
    assert rebuilt.latent_dim == 7


@pytest.fixture(scope="module")
def real_batches(mnist_splits):
    """60 batches of 64 real training images and their digits."""
    x, y = mnist_splits.train_x[:60 * 64], mnist_splits.train_y[:60 * 64]
    return list(zip(x.split(64), y.split(64)))


@pytest.mark.parametrize("cls", CLASSES)
def test_short_training_on_real_mnist_lowers_the_loss(cls, real_batches):
    torch.manual_seed(0)
    model = cls()
    optimizer = model.configure_optimizer(1e-3)
    gen = torch.Generator().manual_seed(0)
    losses = [float(model.train_step(x, y, optimizer, gen)["loss"]) for x, y in real_batches]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.8 * first, (first, last)
