"""The latent sliders' directions (core/explore/directions.py): on every shipped run that decodes, each
of the first four sliders of the page's default basis changes the image; and the maths on toy decoders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.explore import latents as explore
from core.explore.directions import (
    ACTIVE,
    BASES,
    PRINCIPAL,
    NotDifferentiable,
    code_directions,
    decoder_directions,
    decoder_jacobian,
    decodes_differentiably,
    fit_codes,
    has_encoder,
    slider_directions,
    starting_code,
)
from core.models.base import DigitModel
from core.models.capabilities import DECODE, encoder_input
from core.paths import SHIPPED_CHECKPOINTS
from core.runs.catalog import is_judge, list_runs

RUNS = list_runs(SHIPPED_CHECKPOINTS)[0]
DECODERS = [name for name, run in RUNS.items() if not is_judge(run) and run.can(DECODE)]
#: the page's default basis (the radio's first option) and digit, its reference test codes
DEFAULT_BASIS = BASES[0]
DEFAULT_DIGIT = 3
N_REFERENCE = 2000
#: a full slider move (0 → +3σ) must change the decoded image by at least this much on average
MIN_CHANGE = 0.02


@pytest.fixture(scope="module")
def test_images():
    from core.data.mnist import shared_mnist

    x, y = shared_mnist(train=False)
    idx = torch.as_tensor(np.sort(np.random.default_rng(0).choice(len(x), N_REFERENCE, replace=False)))
    return x[idx], y[idx]


def test_shipped_decoders_are_all_tested():
    assert {"cvae-z32-s0", "cgan-z100-s0", "diffusion-z784-s0", "conv-vae-z2-s0"} <= set(DECODERS)


@pytest.mark.parametrize("name", DECODERS)
def test_each_of_the_first_four_sliders_changes_the_image(name, test_images, single_thread):
    """Moving each of the first four sliders of the default basis from 0 to +3 changes the decoded image by
    a mean |Δ| of at least 0.02 (pixels in [0, 1]), for every digit (the diffusion model, whose directions
    take 33 DDIM decodes each, for the page's default digit). On the latent coordinates z1..z4 this failed
    for the CVAEs (collapsed coordinates: z2 and z3 of cvae-z32-s0 change nothing) and the cGAN (its "1")."""
    model = RUNS[name].model
    x, y = test_images
    codes = explore.encode_dataset(model, x, y, encoder_input(model)) if has_encoder(model) else None
    digits = range(10) if has_encoder(model) or decodes_differentiably(model) else [DEFAULT_DIGIT]
    weak = []
    for digit in digits:
        found = slider_directions(model, DEFAULT_BASIS, digit, 4, codes=codes)
        assert len(found) == min(4, model.latent_dim)
        start = starting_code(model, digit, codes, y.numpy())
        moved = [found.move(start, [0.0] * i + [3.0]) for i in range(len(found))]
        images = explore.decode(model, np.stack([start] + moved), digit)
        change = (images[1:] - images[:1]).abs().mean((1, 2, 3))
        weak += [(digit, found.names[i], round(float(c), 4)) for i, c in enumerate(change) if c < MIN_CHANGE]
    assert not weak, f"{name}: these full slider moves (digit, direction, mean |Δ|) barely change the image: {weak}"


# --- the maths, on toy models -----------------------------------------------------------------------------
class ToyDecoder(DigitModel):
    """A 3-D latent decoded linearly into 784 pixels through a sigmoid: image = σ(z Wᵀ + b)."""

    name = "toy-decoder"
    capabilities = frozenset({DECODE})
    input_modes = ()

    def __init__(self, weights: torch.Tensor, gradients: bool = True):
        super().__init__()
        self.latent_dim = weights.shape[1]
        self.weights = torch.nn.Parameter(weights.float())
        self.gradients = gradients

    def decode(self, z, y=None):
        with torch.set_grad_enabled(self.gradients and torch.is_grad_enabled()):
            return torch.sigmoid(z.float() @ self.weights.T - 2).reshape(-1, 1, 28, 28)


def toy_weights() -> torch.Tensor:
    """Three orthogonal pixel patterns of lengths 30, 20 and 10 (so the Jacobian's singular vectors at
    z = 0 are the coordinates, in that order: the sigmoid scales every pixel alike there)."""
    patterns = torch.zeros(784, 3)
    patterns[:100, 0], patterns[200:300, 1], patterns[400:500, 2] = 3.0, 2.0, 1.0
    return patterns[:, [2, 0, 1]]  # coordinate 2 strongest, then 3, then 1


def test_code_directions_find_the_axes_of_largest_variance():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((5000, 4)) * np.array([0.1, 3.0, 0.01, 1.0])
    rotation = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    pcs = code_directions(codes @ rotation, PRINCIPAL, 2)
    assert pcs.names == ("PC1", "PC2")
    np.testing.assert_allclose(np.abs(pcs.vectors @ rotation.T), np.eye(4)[[1, 3]], atol=0.02)
    np.testing.assert_allclose(pcs.scales, [3.0, 1.0], rtol=0.05)
    active = code_directions(codes, ACTIVE, 3)
    assert active.names == ("z2", "z4", "z1")
    np.testing.assert_allclose(active.scales, [3.0, 1.0, 0.1], rtol=0.05)
    assert "2 of its 4 coordinates hold 99 %" in active.text
    np.testing.assert_allclose(active.move(np.zeros(4), [1.0, -2.0]), [0, active.scales[0], 0, -2 * active.scales[1]])
    with pytest.raises(ValueError, match="unknown basis"):
        code_directions(codes, "Latent coordinates", 2)


@pytest.mark.parametrize("gradients", [True, False])
def test_decoder_jacobian_exact_or_by_finite_differences(gradients):
    model = ToyDecoder(toy_weights(), gradients=gradients).eval()
    assert decodes_differentiably(model) is gradients
    jacobian = decoder_jacobian(model, np.zeros(3, np.float32), None, step=1e-2)
    sigmoid = torch.sigmoid(torch.tensor(-2.0))
    expected = (sigmoid * (1 - sigmoid) * toy_weights()).double().numpy()  # dσ(Wz − 2)/dz at z = 0
    assert jacobian.exact is gradients and jacobian.coordinates
    np.testing.assert_allclose(jacobian.matrix, expected, atol=1e-6, rtol=1e-5 if gradients else 0.05)


def test_decoder_directions_follow_the_jacobian_and_point_where_the_image_changes_most():
    model = ToyDecoder(toy_weights()).eval()
    start = np.zeros(3, np.float32)
    pcs = decoder_directions(model, start, None, PRINCIPAL, 3)
    np.testing.assert_allclose(np.abs(pcs.vectors), np.eye(3)[[1, 2, 0]], atol=1e-5)
    np.testing.assert_allclose(pcs.scales, 1.0)
    for v in pcs.vectors:  # from z = 0 the sigmoid saturates downwards: + is the side that adds ink
        plus, minus = (explore.decode(model, (s * 3 * v)[None]) - explore.decode(model, start[None]) for s in (1, -1))
        assert plus.abs().mean() >= minus.abs().mean()
    active = decoder_directions(model, start, None, ACTIVE, 2)
    assert active.names == ("z2", "z3") and "most active coordinates" in active.text


def test_fit_codes_inverts_a_decoder_and_refuses_one_without_gradients(single_thread):
    model = ToyDecoder(toy_weights()).eval()
    truth = torch.tensor([[0.5, 0.4, 0.8], [1.0, 0.2, -0.2]])
    with torch.no_grad():
        images = model.decode(truth)
    fitted = fit_codes(model, images, None, steps=300, prior_weight=0.0)
    assert fitted.codes.shape == (2, 3) and (fitted.error < 1e-3).all(), fitted
    np.testing.assert_allclose(fitted.codes, truth.numpy(), atol=0.05)
    with pytest.raises(NotDifferentiable):
        fit_codes(ToyDecoder(toy_weights(), gradients=False).eval(), images, None, steps=5)


def test_fitted_codes_redraw_shipped_cgan_test_images(test_images, single_thread):
    """The cGAN has no encoder: codes fitted to two test images redraw them closely, read as their digits."""
    model = RUNS["cgan-z100-s0"].model
    judge = next(run for run in RUNS.values() if is_judge(run)).model
    x, y = test_images
    fitted = fit_codes(model, x[:2], y[:2])
    redrawn = torch.cat([explore.decode(model, fitted.codes[i:i + 1], int(y[i])) for i in range(2)])
    assert (fitted.error < 0.06).all(), fitted.error
    np.testing.assert_allclose((redrawn - x[:2]).abs().mean((1, 2, 3)).numpy(), fitted.error, atol=1e-5)
    assert (explore.predicted_digits(judge, redrawn) == y[:2].numpy()).all()


class IgnoresItsCode(ToyDecoder):
    """A decoder whose image has a gradient (from its weights) but does not depend on the code."""

    def decode(self, z, y=None):
        return torch.sigmoid(self.weights.sum(1)).reshape(1, 1, 28, 28).expand(z.shape[0], 1, 28, 28)


def test_a_decoder_that_ignores_its_code_cannot_be_inverted():
    model = IgnoresItsCode(toy_weights()).eval()
    assert decodes_differentiably(model) is False
    with pytest.raises(NotDifferentiable, match="passes no gradient to its code"):
        fit_codes(model, torch.zeros(1, 1, 28, 28), None, steps=5)


def test_starting_code_needs_test_codes_for_the_mean_code():
    model = RUNS["conv-vae-z2-s0"].model
    with pytest.raises(ValueError, match="no test codes of the digit 3"):
        starting_code(model, 3)
    with pytest.raises(ValueError, match="pass codes="):
        slider_directions(model, PRINCIPAL, 3, 2)
