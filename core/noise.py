"""Noise robustness: corrupt the input images and measure how the models hold up.

Seed 002 (Podoliak et al., ../shared/seeds/002_9f7c847ee0c5a580.txt, Fig. 10) adds noise to the
input image "to test the stability of the autoencoder to distortions". Here each kind of noise is one
:class:`NoiseKind` object in :data:`NOISE_KINDS` (adding a kind is adding one object: the study
script, the results page and the interactive controls read this tuple), and :func:`robustness`
measures, at each level, the test classification accuracy on the noisy images and the
reconstruction error of the noisy images against the clean ones.

Every corruption is drawn from an explicit ``torch.Generator``: the same seed gives the same noise.
Images are float (N, 1, 28, 28), pixels in [0, 1] (ink 1, paper 0), and stay in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from .models.capabilities import CLASSIFY, IMAGE_AND_DIGIT, RECONSTRUCT

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
    side_f = _check_level(side, "side", upper=float(min(h, w)))
    if side_f != int(side_f):
        raise ValueError(f"the occluding square's side must be a whole number of pixels, not {side}")
    s = int(side_f)
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


@torch.no_grad()
def robustness(model, x: torch.Tensor, y: torch.Tensor, kind: NoiseKind, levels=None, seed: int = NOISE_SEED,
               batch_size: int = 1000) -> list[dict[str, Any]]:
    """Accuracy and reconstruction error of ``model`` on images ``x`` corrupted at each level.

    Args:
        model: a :class:`core.models.base.DigitModel` (eval mode); what it cannot do is left out.
        x: float (N, 1, 28, 28) clean images in [0, 1]; y: int64 (N,) their digits.
        kind: the corruption; levels: the levels (default ``kind.levels``).
        seed: the study's noise seed (each level draws with :func:`level_seed`, the same noise for
            every model).

    Returns:
        one dict per level: ``kind``, ``level``, ``n``, ``accuracy`` (argmax of ``classify`` on the
        noisy image; None when the model cannot classify) and ``bce`` (nats per image: BCE summed
        over the 784 pixels of ``reconstruct(noisy, digit)`` against the *clean* image, the digit given
        when the model accepts image+digit; None when it cannot reconstruct), ``input`` (the
        reconstruction's input mode).
    """
    from .evaluation import bce_per_image

    levels = kind.levels if levels is None else tuple(levels)
    with_digit = IMAGE_AND_DIGIT in getattr(model, "input_modes", ())
    rows = []
    for i, level in enumerate(levels):
        noisy = kind(x, level, level_seed(kind, kind.levels.index(level) if level in kind.levels else 100 + i, seed))
        correct, bce = 0, 0.0
        for start in range(0, x.shape[0], batch_size):
            xb = noisy[start:start + batch_size].to(model.device)
            yb = y[start:start + batch_size].to(model.device)
            if model.can(CLASSIFY):
                correct += int((model.classify(xb).argmax(1) == yb).sum())
            if model.can(RECONSTRUCT):
                clean = x[start:start + batch_size].to(model.device)
                bce += float(bce_per_image(clean, model.reconstruct(xb, yb if with_digit else None).float()).sum())
        n = int(x.shape[0])
        rows.append({"kind": kind.name, "level": float(level), "n": n,
                     "accuracy": correct / n if model.can(CLASSIFY) else None,
                     "bce": bce / n if model.can(RECONSTRUCT) else None,
                     "input": ("image+digit" if with_digit else "image") if model.can(RECONSTRUCT) else ""})
    return rows
