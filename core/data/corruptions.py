"""Input corruptions: the kinds of noise a user (or the robustness study) puts on an image.

Seed 002 (Podoliak et al., ../shared/seeds/002_9f7c847ee0c5a580.txt, Fig. 10) adds noise to the
input image "to test the stability of the autoencoder to distortions". Here each kind of noise is one
:class:`NoiseKind` object in :data:`NOISE_KINDS` (adding a kind is adding one object: the study
script, the results page and the interactive controls read this tuple), and
:func:`core.evaluation.robustness.robustness` measures how the models hold up at each level.

Every corruption is drawn from an explicit ``torch.Generator``: the same seed gives the same noise.
Images are float (N, 1, 28, 28), pixels in [0, 1] (ink 1, paper 0), and stay in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

#: the noise seed of the shipped study; level k of kind K uses seed NOISE_SEED + 1000 * K + k
NOISE_SEED = 2024


def gaussian(x: torch.Tensor, sigma: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive Gaussian noise of standard deviation ``sigma`` (pixel units), clipped to [0, 1].

    Raises:
        ValueError: ``sigma`` negative or not finite.
    """
    sigma = _check_level(sigma, "sigma", upper=None)
    if sigma == 0:
        return x.clone()
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return (x + sigma * noise).clamp_(0.0, 1.0)


def salt_and_pepper(x: torch.Tensor, rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each pixel, with probability ``rate``, replaced by 0 or 1 (equally likely): impulse noise.

    Raises:
        ValueError: ``rate`` outside [0, 1].
    """
    rate = _check_level(rate, "rate", upper=1.0)
    out = x.clone()
    if rate == 0:
        return out
    hit = torch.rand(x.shape, generator=generator, device=x.device) < rate
    salt = torch.rand(x.shape, generator=generator, device=x.device) < 0.5
    out[hit] = salt[hit].to(x.dtype)
    return out


def occlusion(x: torch.Tensor, side: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A ``side`` × ``side`` square of paper (0) pasted at a uniformly random place inside each image
    (one square per image; its top-left corner uniform over the positions that keep it inside).

    Raises:
        ValueError: ``side`` not a whole number of pixels between 0 and the image size.
    """
    n, _, h, w = x.shape
    s = _square_side(side, h, w)
    out = x.clone()
    if s == 0:
        return out
    top = torch.randint(0, h - s + 1, (n,), generator=generator, device=x.device)
    left = torch.randint(0, w - s + 1, (n,), generator=generator, device=x.device)
    rows = torch.arange(h, device=x.device)
    cols = torch.arange(w, device=x.device)
    inside = (((rows[None, :] >= top[:, None]) & (rows[None, :] < top[:, None] + s))[:, :, None]
              & ((cols[None, :] >= left[:, None]) & (cols[None, :] < left[:, None] + s))[:, None, :])
    out[inside[:, None].expand_as(out)] = 0.0
    return out


def flip_pixels(x: torch.Tensor, rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each pixel, with probability ``rate``, flipped: ``1 − x`` (paper becomes ink: salt; ink becomes
    paper: pepper). Unlike :func:`salt_and_pepper`, whose black hits vanish on black paper, every hit
    shows on a drawing.

    Raises:
        ValueError: ``rate`` outside [0, 1].
    """
    rate = _check_level(rate, "rate", upper=1.0)
    out = x.clone()
    if rate == 0:
        return out
    hit = torch.rand(x.shape, generator=generator, device=x.device) < rate
    out[hit] = 1.0 - out[hit]
    return out


def occlusion_on_ink(x: torch.Tensor, side: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A ``side`` × ``side`` square of paper (0) centred on a pixel of each image's ink, the pixel drawn
    at random with probability proportional to its ink (so the square always hides some of the digit;
    moved inside the image where it would stick out). An image without ink gets the square in its
    middle. Unlike :func:`occlusion`, whose square often lands on the empty paper around a digit.

    Raises:
        ValueError: ``side`` not a whole number of pixels between 0 and the image size.
    """
    n, _, h, w = x.shape
    s = _square_side(side, h, w)
    out = x.clone()
    if s == 0:
        return out
    for i in range(n):
        ink = x[i].sum(dim=0).flatten().clamp(min=0).float()
        if float(ink.sum()) > 0:
            row, col = divmod(int(torch.multinomial(ink, 1, generator=generator).item()), w)
        else:
            row, col = h // 2, w // 2
        top = min(max(row - s // 2, 0), h - s)
        left = min(max(col - s // 2, 0), w - s)
        out[i, :, top:top + s, left:left + s] = 0.0
    return out


def _square_side(side: float, h: int, w: int) -> int:
    """An occluding square's side in whole pixels, between 0 and the image's smaller side.

    Raises:
        ValueError: anything else.
    """
    side_f = _check_level(side, "side", upper=float(min(h, w)))
    if side_f != int(side_f):
        raise ValueError(f"the occluding square's side must be a whole number of pixels, not {side}")
    return int(side_f)


def _check_level(value: float, name: str, upper: float | None) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"the noise {name} must be a number, not {value!r}") from None
    if not math.isfinite(value) or value < 0 or (upper is not None and value > upper):
        bound = f"between 0 and {upper:g}" if upper is not None else "0 or more"
        raise ValueError(f"the noise {name} must be {bound}, not {value:g}")
    return value


@dataclass(frozen=True)
class NoiseKind:
    """One kind of input corruption.

    Attributes:
        name: short id, e.g. ``"gaussian"`` (a column value of the results table).
        label: what the dashboard calls it, e.g. "Gaussian noise".
        level_name: what the level is, with its unit, e.g. "σ (pixel units)".
        levels: the study's levels (the first is 0: clean images).
        step: the interactive control's step.
        description: one line on what it does.
        apply: ``apply(x, level, generator) -> noisy x``.
    """

    name: str
    label: str
    level_name: str
    levels: tuple[float, ...]
    step: float
    description: str
    apply: Callable[[torch.Tensor, float, torch.Generator | None], torch.Tensor]

    def __call__(self, x: torch.Tensor, level: float, seed: int | None = None) -> torch.Tensor:
        """``x`` corrupted at ``level``, the noise drawn with ``torch.Generator().manual_seed(seed)``."""
        generator = None if seed is None else torch.Generator(device=x.device).manual_seed(int(seed))
        return self.apply(x, level, generator)


NOISE_KINDS: tuple[NoiseKind, ...] = (
    NoiseKind("gaussian", "Gaussian noise", "σ (pixel units)", (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0), 0.05,
              "x + σ·N(0, 1) on every pixel, clipped to [0, 1]", gaussian),
    NoiseKind("salt_pepper", "Salt and pepper", "rate (share of pixels)", (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5), 0.05,
              "each pixel, with probability rate, set to black or white", salt_and_pepper),
    NoiseKind("occlusion", "Occluding square", "side (pixels)", (0.0, 4.0, 8.0, 10.0, 12.0, 14.0, 16.0), 1.0,
              "one square of paper pasted at a random place", occlusion),
)


#: the kinds the Draw page offers: the same three, made to show on a drawing (salt and pepper flips
#: pixels, so that its pepper is not lost on the black paper; the square is put on the ink). They are
#: not the study's: NOISE_KINDS defines what the Noise robustness study measures.
DRAWING_NOISE_KINDS: tuple[NoiseKind, ...] = (
    NOISE_KINDS[0],
    NoiseKind("flip", "Salt and pepper (flipped pixels)", "rate (share of pixels)", (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5),
              0.01, "each pixel, with probability rate, flipped: paper becomes ink (salt), ink becomes paper (pepper)",
              flip_pixels),
    NoiseKind("occlusion_ink", "Occluding square on the ink", "side (pixels)", (0.0, 4.0, 8.0, 10.0, 12.0, 14.0, 16.0),
              1.0, "one square of paper centred on a point of the digit's ink (the seed chooses which)",
              occlusion_on_ink),
)


def noise_kind(name: str) -> NoiseKind:
    """The kind called ``name``.

    Raises:
        ValueError: no such kind (the message lists them).
    """
    for kind in NOISE_KINDS:
        if kind.name == name:
            return kind
    raise ValueError(f"unknown noise kind {name!r}; the kinds are {', '.join(k.name for k in NOISE_KINDS)}")


def level_seed(kind: NoiseKind, level_index: int, seed: int = NOISE_SEED) -> int:
    """The noise seed of level ``level_index`` of ``kind`` in a study seeded ``seed``."""
    return int(seed) + 1000 * NOISE_KINDS.index(kind) + int(level_index)
