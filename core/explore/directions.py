"""Directions in a latent space that change the decoded image (the latent sliders' bases), and codes
fitted to images for decoders without an encoder (no streamlit here).

Why not the latent coordinates z1, z2, …: a VAE's posterior collapses onto the prior on many of them
(measured on the shipped cvae-z32-s0: a +3σ move of z2 or z3 from the digit-only code of a "3" changes
the image by less than 0.0003 on average, pixels in [0, 1]), and a GAN's single noise coordinates
each change its image little (cgan-z100-s0: a +3σ move of z1 or z4 changes its "1" by under 0.01 on
average). Two bases that do move the image (each of the first four sliders by 0.03 or more, every
shipped run, every digit; tests/test_directions.py), for every model that decodes:

* :data:`PRINCIPAL` — for a model with an encoder, the principal axes of the codes of test images
  (PCA, largest variance first), one slider unit = the codes' standard deviation along the axis; for a
  decoder without an encoder, the top right-singular vectors of the decoder's Jacobian at the digit's
  starting code (the directions along which the image changes most), one slider unit = one standard
  deviation of the N(0, I) prior.
* :data:`ACTIVE` — latent coordinates ranked by their activity: the variance of the test codes
  (posterior means for a VAE: Burda et al. 2016's "active units") for an encoder; the image change
  per prior standard deviation (the norm of the Jacobian's column) for a decoder alone.

The Jacobian is exact (autograd) when the decoder passes gradients (the cGAN's MLP); otherwise (the
diffusion model, whose decoder runs DDIM without gradients) it is measured by forward differences
along the model's own :meth:`~core.models.base.DigitModel.latent_axes` (for the diffusion model its
lowest-frequency cosine patterns of the starting noise), a few decodes in one batch.

Conventions of :mod:`core.models.base`: images float32 (N, 1, 28, 28) with pixels in [0, 1], codes
float32 (N, d), digits int.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.models.base import DigitModel
from core.models.capabilities import DIGIT_ONLY, ENCODE, N_PIXELS

PRINCIPAL = "Principal directions"
ACTIVE = "Most active coordinates"
#: the slider bases, the default first
BASES = (PRINCIPAL, ACTIVE)
#: at most this many decodes measure a Jacobian by finite differences (one per latent axis probed)
MAX_PROBES = 32
#: step of those finite differences, in prior standard deviations
PROBE_STEP = 0.5
#: Adam steps and draws of the prior per image with which :func:`fit_codes` fits codes to images
FIT_STEPS = 200
FIT_RESTARTS = 4


class NotDifferentiable(ValueError):
    """The model's decoder passes no gradient to its code (e.g. a sampler run without autograd)."""


@dataclass(frozen=True)
class Directions:
    """Directions to move a code along, and their slider units.

    Attributes:
        vectors: (k, d) float32 unit vectors, most important first.
        scales: (k,) float32: one slider unit along each vector, in latent units (a standard deviation).
        names: k short names for a caption, e.g. ``("PC1", "PC2")`` or ``("z7", "z3")``.
        text: what the directions are, in a reader's words (completes "moved along …").
        unit: what one slider unit is, in a reader's words (completes "one unit is …").
    """

    vectors: np.ndarray
    scales: np.ndarray
    names: tuple[str, ...]
    text: str
    unit: str

    def __len__(self) -> int:
        return len(self.names)

    def move(self, z: np.ndarray, offsets) -> np.ndarray:
        """The code ``z`` (d,) moved by ``offsets`` (up to k numbers, in slider units) along the
        first directions: (d,) float32."""
        offsets = np.asarray(list(offsets)[:len(self)], dtype=np.float32)
        n = len(offsets)
        return (np.asarray(z, np.float32) + (offsets * self.scales[:n]) @ self.vectors[:n]).astype(np.float32)


def has_encoder(model: DigitModel) -> bool:
    """True when the model encodes images (it has codes of test images to measure)."""
    return model.can(ENCODE) and bool(model.input_modes)


def _labels(model: DigitModel, digit: int | None, n: int) -> torch.Tensor | None:
    if not model.decoder_needs_label:
        return None
    if digit is None:
        raise ValueError(f"{model.describe()} decodes with a digit: pass digit=")
    return torch.full((n,), int(digit), dtype=torch.long, device=model.device)


# --- models with an encoder: the codes of test images -------------------------------------------------
def starting_code(model: DigitModel, digit: int, codes: np.ndarray | None = None,
                  code_digits: np.ndarray | None = None) -> np.ndarray:
    """Where the sliders start for ``digit``: (d,) float32.

    The digit-only code for a model that encodes a digit alone; the model's own origin
    (:meth:`~core.models.base.DigitModel.latent_origin`, z = 0 for most) for a decoder that takes the
    digit as a label or has no encoder; else the mean of the test ``codes`` (N, d) whose digits
    ``code_digits`` (N,) are ``digit``.

    Raises:
        ValueError: the mean code is needed and no codes of that digit are given.
    """
    if DIGIT_ONLY in model.input_modes:
        with torch.no_grad():
            y = torch.tensor([int(digit)], device=model.device)
            return model.encode(None, y)[0].float().cpu().numpy()
    if model.decoder_needs_label or not has_encoder(model):
        return model.latent_origin(int(digit)).float().cpu().numpy()
    if codes is None or code_digits is None or not np.any(np.asarray(code_digits) == int(digit)):
        raise ValueError(f"no test codes of the digit {digit} to average for {model.describe()}")
    return np.asarray(codes, np.float32)[np.asarray(code_digits) == int(digit)].mean(0)


def starting_text(model: DigitModel) -> str:
    """What :func:`starting_code` is for this model, in a reader's words."""
    if DIGIT_ONLY in model.input_modes:
        return "the digit-only code"
    if model.decoder_needs_label or not has_encoder(model):
        return model.origin_text
    return "the mean code of the digit's test images"


def code_directions(codes: np.ndarray, basis: str, k: int) -> Directions:
    """Directions of basis ``basis`` measured on test codes (N, d), at most ``k`` of them.

    :data:`PRINCIPAL`: principal axes (PCA), largest variance first, each scaled by the codes' standard
    deviation along it. :data:`ACTIVE`: the coordinates of largest variance first, each scaled by its
    standard deviation.

    Raises:
        ValueError: an unknown basis, or codes that are not (N ≥ 2, d).
    """
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] < 2:
        raise ValueError(f"need codes shaped (N >= 2, d), got {codes.shape}")
    n, d = codes.shape
    k = int(min(k, d))
    if basis == PRINCIPAL:
        centred = codes - codes.mean(0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        vt = vt * np.where(vt[np.arange(len(vt)), np.abs(vt).argmax(1)] < 0, -1.0, 1.0)[:, None]  # largest entry > 0
        stds = s / np.sqrt(n - 1)
        share = stds ** 2 / max(float((stds ** 2).sum()), 1e-30)
        held = min(int(np.searchsorted(np.cumsum(share), 0.9) + 1), len(share))
        return Directions(vt[:k].astype(np.float32), stds[:k].astype(np.float32),
                          tuple(f"PC{i + 1}" for i in range(k)),
                          f"the principal directions of {n:,} test codes (PC1 holds {100 * share[0]:.0f} % of their "
                          f"variance; the first {held} of {d} hold 90 %)",
                          "the test codes' standard deviation σ along each direction")
    if basis == ACTIVE:
        variance = codes.var(0, ddof=1)
        order = np.argsort(-variance, kind="stable")
        held = int(np.searchsorted(np.cumsum(variance[order]) / max(float(variance.sum()), 1e-30), 0.99) + 1)
        return Directions(np.eye(d, dtype=np.float32)[order[:k]], np.sqrt(variance[order[:k]]).astype(np.float32),
                          tuple(f"z{j + 1}" for j in order[:k]),
                          f"its most active coordinates, ranked by the variance of {n:,} test codes "
                          f"({min(held, d)} of its {d} coordinates hold 99 % of it)",
                          "the test codes' standard deviation σ along each coordinate")
    raise ValueError(f"unknown basis {basis!r}; choose one of {BASES}")


# --- decoders without an encoder: the decoder's Jacobian -------------------------------------------------
@dataclass(frozen=True)
class Jacobian:
    """The decoder's Jacobian at a code, along some latent axes.

    Attributes:
        matrix: (784, m) float64: change of each pixel (in [0, 1] units) per unit move along each axis.
        axes: (m, d) float32 orthonormal latent axes the columns belong to.
        exact: True when computed with autograd, False when by forward differences of :data:`PROBE_STEP`.
        coordinates: True when the axes are latent coordinates (rows of the identity).
    """

    matrix: np.ndarray
    axes: np.ndarray
    exact: bool
    coordinates: bool


def decoder_jacobian(model: DigitModel, z: np.ndarray, digit: int | None, max_probes: int = MAX_PROBES,
                     step: float = PROBE_STEP, batch_size: int = 16) -> Jacobian:
    """The Jacobian of ``model.decode`` at code ``z`` (d,) with ``digit`` (the label of a decoder that
    needs one), along the model's :meth:`~core.models.base.DigitModel.latent_axes`.

    Exact, along all ``d`` axes, when the decoder passes gradients (one vectorised autograd pass);
    otherwise by forward differences (decode(z + step·a) − decode(z)) / step along the first
    ``max_probes`` axes, decoded in batches of ``batch_size`` (``max_probes`` + 1 decodes in all).

    Raises:
        ValueError: ``z`` is not (d,), or a digit is needed and missing.
    """
    z = torch.as_tensor(np.asarray(z, dtype=np.float32)).to(model.device)
    if z.shape != (model.latent_dim,):
        raise ValueError(f"expected a code of shape ({model.latent_dim},), got {tuple(z.shape)}")
    y = _labels(model, digit, 1)
    with torch.enable_grad():
        probe = z.clone().requires_grad_(True)
        base = model.decode(probe[None], y).reshape(-1)
        differentiable = base.requires_grad
    if differentiable:
        axes = model.latent_axes(model.latent_dim).float().to(model.device)
        with torch.enable_grad():
            def pixels(a: torch.Tensor) -> torch.Tensor:
                return model.decode((z + a @ axes)[None], y).reshape(-1)

            matrix = torch.autograd.functional.jacobian(pixels, torch.zeros(len(axes), device=model.device),
                                                        vectorize=True)
    else:
        axes = model.latent_axes(max_probes).float().to(model.device)
        columns = []
        with torch.no_grad():
            for chunk in axes.split(batch_size):
                moved = model.decode(z[None] + step * chunk, _labels(model, digit, len(chunk)))
                columns.append((moved.reshape(len(chunk), -1) - base.detach()[None]) / step)
        matrix = torch.cat(columns).T
    axes_np = axes.cpu().numpy()
    coordinates = bool(np.allclose(np.abs(axes_np).max(1), 1.0) and np.allclose(np.abs(axes_np).sum(1), 1.0))
    return Jacobian(matrix.detach().double().cpu().numpy().reshape(N_PIXELS, len(axes_np)), axes_np,
                    bool(differentiable), coordinates)


def _axis_name(jacobian: Jacobian, i: int) -> str:
    if jacobian.coordinates:
        return f"z{int(np.abs(jacobian.axes[i]).argmax()) + 1}"
    return f"axis {i + 1}"


def decoder_directions(model: DigitModel, z: np.ndarray, digit: int | None, basis: str, k: int,
                       jacobian: Jacobian | None = None, reach: float = 3.0) -> Directions:
    """Directions of basis ``basis`` for a decoder at code ``z`` (d,) with ``digit``, from its
    :class:`Jacobian` (computed with :func:`decoder_jacobian` when not given), at most ``k``; one
    slider unit is one standard deviation of the N(0, I) prior (the directions are unit vectors).

    :data:`PRINCIPAL`: the top right-singular vectors of the Jacobian (the image changes fastest along
    the first), each oriented so that a move of +``reach`` changes the decoded image at least as much
    as a move of −``reach`` (a singular vector's sign is arbitrary, and a saturating decoder can barely
    change on one side; 2k decodes in one batch). :data:`ACTIVE`: the Jacobian's axes ranked by how
    much the image changes along each (its column's norm). The model's ``axes_text`` names those axes
    when they are not all of the latent coordinates.

    Raises:
        ValueError: an unknown basis.
    """
    if basis not in BASES:
        raise ValueError(f"unknown basis {basis!r}; choose one of {BASES}")
    jacobian = decoder_jacobian(model, z, digit) if jacobian is None else jacobian
    matrix, axes = jacobian.matrix, jacobian.axes.astype(np.float64)
    m, d = axes.shape
    k = int(min(k, m))
    among = "" if m == d else f" among its {m} {model.axes_text.split(',')[0]}"
    how = "exact, by autograd" if jacobian.exact else f"measured by finite differences of {PROBE_STEP:g}σ"
    unit = "one standard deviation σ of the prior N(0, I)"
    if basis == ACTIVE:
        change = np.linalg.norm(matrix, axis=0)
        order = np.argsort(-change, kind="stable")[:k]
        what = "coordinates" if jacobian.coordinates else "axes"
        return Directions(axes[order].astype(np.float32), np.ones(k, np.float32),
                          tuple(_axis_name(jacobian, int(i)) for i in order),
                          f"its most active {what}{among}, ranked by how much the image changes along each "
                          f"at this code ({how})", unit)
    _, _, vt = np.linalg.svd(matrix, full_matrices=False)
    vectors = vt[:k] @ axes
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
    vectors = vectors.astype(np.float32)
    z = np.asarray(z, np.float32)
    ends = np.concatenate([z[None] + reach * vectors, z[None] - reach * vectors])
    with torch.no_grad():
        images = model.decode(torch.as_tensor(np.concatenate([z[None], ends])).to(model.device),
                              _labels(model, digit, 1 + 2 * k)).float().cpu()
    change = (images[1:] - images[:1]).abs().mean((1, 2, 3)).numpy()
    vectors *= np.where(change[:k] < change[k:], -1.0, 1.0).astype(np.float32)[:, None]
    return Directions(vectors, np.ones(k, np.float32), tuple(f"PC{i + 1}" for i in range(k)),
                      f"the principal directions of its decoder at this code{among} (top right-singular "
                      f"vectors of its Jacobian, {how})", unit)


def slider_directions(model: DigitModel, basis: str, digit: int | None, k: int, codes: np.ndarray | None = None,
                      jacobian: Jacobian | None = None) -> Directions:
    """The latent sliders' directions for a model: :func:`code_directions` of its test ``codes``
    (N, d) when it has an encoder (the same for every digit), else :func:`decoder_directions` at the
    ``digit``'s :func:`starting_code` (with its ``jacobian`` when already computed).

    Raises:
        ValueError: an unknown basis, or a model with an encoder and no ``codes``.
    """
    if has_encoder(model):
        if codes is None:
            raise ValueError(f"{model.describe()} has an encoder: its directions are measured on test codes; pass codes=")
        return code_directions(codes, basis, k)
    return decoder_directions(model, starting_code(model, int(digit)), digit, basis, k, jacobian=jacobian)


# --- codes for images, for a decoder without an encoder ------------------------------------------------
def decodes_differentiably(model: DigitModel) -> bool:
    """True when ``model.decode`` passes gradients to its code (tried on the code of
    :meth:`~core.models.base.DigitModel.latent_origin` for digit 0: one decode and, when its output
    has a gradient, one backward pass)."""
    z = model.latent_origin(0).float().to(model.device)[None].requires_grad_(True)
    with torch.enable_grad():
        image = model.decode(z, _labels(model, 0, 1))
        if not image.requires_grad:
            return False
        (gradient,) = torch.autograd.grad(image.sum(), z, allow_unused=True)
    return gradient is not None


@dataclass(frozen=True)
class FittedCodes:
    """Codes found for images by fitting the decoder's output to them.

    Attributes:
        codes: (N, d) float32.
        error: (N,) float32: mean absolute pixel difference (pixels in [0, 1]) between each image and
            the decoding of its code.
        steps: Adam steps taken.
    """

    codes: np.ndarray
    error: np.ndarray
    steps: int


def fit_codes(model: DigitModel, x: torch.Tensor, digits: torch.Tensor | None, steps: int = FIT_STEPS, lr: float = 0.1,
              restarts: int = FIT_RESTARTS, prior_weight: float = 1e-3, seed: int = 0) -> FittedCodes:
    """Invert a decoder: codes z whose decodings ``model.decode(z, digits)`` match images ``x``
    (N, 1, 28, 28) in [0, 1] (digits (N,) int64, for a decoder that needs them).

    Minimises the mean squared pixel error plus ``prior_weight`` · mean z² (keeps the codes where the
    N(0, I) prior puts them) with Adam (``steps`` steps at learning rate ``lr``) from ``restarts``
    draws of the prior per image (seeded with ``seed``), all in one batch; keeps the best per image.
    A few hundred steps take well under a second for the cGAN on a CPU.

    Raises:
        NotDifferentiable: the decoder passes no gradient to its code (checked first: one decode).
    """
    if not decodes_differentiably(model):
        raise NotDifferentiable(f"{model.describe()}'s decoded image passes no gradient to its code")
    n, d = x.shape[0], model.latent_dim
    target = x.float().to(model.device).repeat_interleave(restarts, 0)
    y = None if digits is None else digits.long().to(model.device).repeat_interleave(restarts, 0)
    start = torch.randn(n * restarts, d, generator=torch.Generator().manual_seed(int(seed))).to(model.device)
    z = start.requires_grad_(True)
    optimiser = torch.optim.Adam([z], lr=lr)
    with torch.enable_grad():
        for _ in range(int(steps)):
            loss = ((model.decode(z, y) - target) ** 2).mean((1, 2, 3)) + prior_weight * (z ** 2).mean(1)
            optimiser.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimiser.step()
    with torch.no_grad():
        error = (model.decode(z, y) - target).abs().mean((1, 2, 3)).reshape(n, restarts)
        best = error.argmin(1)
        codes = z.detach().reshape(n, restarts, d)[torch.arange(n), best]
        return FittedCodes(codes.float().cpu().numpy(), error[torch.arange(n), best].float().cpu().numpy(), int(steps))
