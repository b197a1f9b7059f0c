"""Noise robustness: how well each model classifies and reconstructs corrupted inputs.

Seed 002 (Podoliak et al., ../shared/seeds/002_9f7c847ee0c5a580.txt, Fig. 10) adds noise to the
input image "to test the stability of the autoencoder to distortions". :func:`robustness` measures,
at each level of a :class:`core.data.corruptions.NoiseKind`, the test classification accuracy on the
noisy images and the reconstruction error of the noisy images against the clean ones; the study
(``scripts/noise_study.py``) writes them to ``checkpoints/noise_robustness.csv``.
"""

from __future__ import annotations

from typing import Any

import torch

from core.data.corruptions import NOISE_SEED, NoiseKind, level_seed
from core.evaluation.metrics import classifier_accuracy
from core.models.capabilities import CLASSIFY, IMAGE_AND_DIGIT, RECONSTRUCT, encoder_input
from core.models.functional import bce_per_image


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
        when the model accepts image+digit (:func:`~core.models.capabilities.encoder_input`); None when
        it cannot reconstruct), ``input`` (the reconstruction's input mode).
    """
    levels = kind.levels if levels is None else tuple(levels)
    mode = encoder_input(model)
    rows = []
    for i, level in enumerate(levels):
        noisy = kind(x, level, level_seed(kind, kind.levels.index(level) if level in kind.levels else 100 + i, seed))
        bce = 0.0
        if model.can(RECONSTRUCT):
            for start in range(0, x.shape[0], batch_size):
                xb = noisy[start:start + batch_size].to(model.device)
                yb = y[start:start + batch_size].to(model.device) if mode == IMAGE_AND_DIGIT else None
                clean = x[start:start + batch_size].to(model.device)
                bce += float(bce_per_image(clean, model.reconstruct(xb, yb).float()).sum())
        n = int(x.shape[0])
        rows.append({"kind": kind.name, "level": float(level), "n": n,
                     "accuracy": classifier_accuracy(model, noisy, y, batch_size) if model.can(CLASSIFY) else None,
                     "bce": bce / n if model.can(RECONSTRUCT) else None,
                     "input": mode if model.can(RECONSTRUCT) else ""})
    return rows
