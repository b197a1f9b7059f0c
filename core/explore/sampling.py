"""Watch a model sample: every step of an iterative sampler, read by the judge (the dashboard's
"Watch it sample" page; no streamlit here).

A model that can :data:`~core.models.capabilities.TRACE` keeps each step of its sampler
(:meth:`core.models.base.DigitModel.trace`): the noisy sample x_t and the clean image x̂₀ its
network predicts. :func:`trace_sampling` runs that once for one digit and one seed and adds what a
reader wants beside the pictures: the judge's reading of every x̂₀ (when does the digit appear?) and
of the final image, and the final image's haze (:func:`core.evaluation.metrics.pixel_statistics`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from core.evaluation.metrics import pixel_statistics
from core.models.base import DigitModel
from core.models.capabilities import N_CLASSES


@dataclass(frozen=True)
class TracedSampling:
    """One traced sampling run of one image.

    Attributes:
        timesteps: (S,) float32, the noise level of each step's input (a diffusion model's t).
        x_t: (S + 1, 28, 28) float32 in [0, 1]: the starting noise, then each step's output;
            ``x_t[-1]`` is the generated image.
        x0: (S, 28, 28) float32 in [0, 1]: the clean image predicted at each step.
        judge_x0: (S, 10) float32 probabilities of each digit that the judge gives every x̂₀, or None
            without a judge.
        judge_final: (10,) float32 probabilities for the generated image, or None.
        haze: share of the generated image's pixels in 0.001–0.1 (see ``pixel_statistics``).
        seconds: wall-clock time of the sampling, in seconds.
    """

    timesteps: np.ndarray
    x_t: np.ndarray
    x0: np.ndarray
    judge_x0: np.ndarray | None
    judge_final: np.ndarray | None
    haze: float
    seconds: float

    @property
    def steps(self) -> int:
        """S, the number of sampling steps."""
        return len(self.timesteps)


@torch.no_grad()
def trace_sampling(model: DigitModel, digit: int, seed: int, *, steps: int = 20, eta: float = 0.0,
                   guidance: float | None = None, clean_end: bool = True,
                   judge: DigitModel | None = None) -> TracedSampling:
    """Sample one image of ``digit`` with ``model``'s iterative sampler, the starting noise (and any
    fresh noise, η > 0) drawn from a generator seeded with ``seed``, and keep every step.

    Args:
        steps, eta, guidance, clean_end: the sampler's settings (see ``DigitModel.trace``).
        judge: a classifier whose reading of each x̂₀ and of the final image is kept (optional).

    Raises:
        ValueError: a digit outside 0–9 or settings the model's sampler refuses (its message).
        core.models.base.UnsupportedCapability: the model cannot trace its sampling.
    """
    if not 0 <= int(digit) < N_CLASSES:
        raise ValueError(f"the digit must be 0–9, got {digit}")
    start = time.perf_counter()
    traced = model.trace(torch.tensor([int(digit)]), torch.Generator().manual_seed(int(seed)), steps=int(steps),
                         eta=float(eta), guidance=guidance, clean_end=bool(clean_end))
    seconds = time.perf_counter() - start
    x_t, x0 = traced.x_t[:, 0], traced.x0[:, 0]  # (S + 1, 1, 28, 28), (S, 1, 28, 28)
    judge_x0 = judge_final = None
    if judge is not None:
        read = judge.classify(torch.cat([x0, x_t[-1:]]).to(judge.device)).exp().float().cpu().numpy()
        judge_x0, judge_final = read[:-1], read[-1]
    return TracedSampling(traced.timesteps.numpy().astype(np.float32), x_t[:, 0].numpy(), x0[:, 0].numpy(),
                          judge_x0, judge_final, pixel_statistics(x_t[-1])["haze"], seconds)
