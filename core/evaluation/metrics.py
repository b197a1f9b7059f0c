"""Metric arithmetic of seed 000's Table 1, delegated to torchmetrics; feature extraction in batches.

Source: seed 000 (../shared/seeds/000_a441d5d5b502ff7e.txt), appendix A.3: A.3.1 Generated Images
Accuracy (eq. 1), A.3.2 FID (eq. 2, Heusel et al. 2017), A.3.3 Inception Score (eq. 3, Salimans et
al. 2016), A.3.4 Classification Accuracy (eq. 4).

The networks (InceptionV3, the judge) only *extract* features or logits here (:func:`extract`);
the Fréchet distance and the Inception Score are torchmetrics' own code, fed with the extracted
arrays through an identity "feature network". That split lets the evaluation cache the 10,000 test
images' features once per extractor instead of recomputing them for every run.

:func:`accuracy` is the one place that counts how often a classifier reads the digit asked for
(seed 000's Generated Images Accuracy and Classification Accuracy, the dashboard's judged grids,
the noise study); :func:`classifier_accuracy` runs a model's ``classify`` and counts with it. Both
need torch only: torchmetrics (seconds to import) is imported where the FID and IS are computed.
"""

from __future__ import annotations

import warnings
from typing import Callable, Iterable

import torch
from torch import nn

#: optional progress wrapper, e.g. ``functools.partial(tqdm, desc=...)``; receives an iterable
Progress = Callable[[Iterable], Iterable]


class _Precomputed(nn.Module):
    """Identity "feature network": hands torchmetrics features that were extracted beforehand."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@torch.no_grad()
def extract(network: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor, batch_size: int = 250,
            device: torch.device | str = "cpu", progress: Progress | None = None) -> torch.Tensor:
    """Run ``network`` over ``images`` in batches; returns its outputs float32 (N, d) on the CPU.

    Args:
        network: maps float (B, 1, 28, 28) images on ``device`` to (B, d) features or logits.
        images: float (N, 1, 28, 28), pixels in [0, 1] (any device).
        progress: wraps the batch iterator (a progress bar), or None.

    Raises:
        ValueError: ``images`` is empty or not (N, 1, 28, 28).
    """
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28) or images.shape[0] == 0:
        raise ValueError(f"expected images of shape (N, 1, 28, 28) with N >= 1, got {tuple(images.shape)}")
    starts = range(0, images.shape[0], batch_size)
    out = [network(images[i:i + batch_size].to(device)).float().cpu() for i in (progress or iter)(starts)]
    return torch.cat(out)


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (seed 000 eq. 2), in float64.

    ``‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2 (Σ_r Σ_g)^{1/2})``, computed by torchmetrics'
    ``FrechetInceptionDistance`` from features extracted beforehand. With InceptionV3 pool features
    it is the FID; with the judge's 128-d penultimate features it is our fast "judge FID".

    Args:
        real, fake: float (N_r, d) and (N_g, d), same d; N ≥ 2 each. Unitless result (squared
            feature units), ≥ 0 up to rounding.

    Raises:
        ValueError: feature sizes differ or a set has fewer than 2 rows.
    """
    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"need two (N, d) feature sets with the same d, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if real.shape[0] < 2 or fake.shape[0] < 2:
        raise ValueError("the Fréchet distance needs at least 2 feature vectors in each set")
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]), reset_real_features=False)
    metric.set_dtype(torch.float64)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    return float(metric.compute())


def inception_score(logits: torch.Tensor, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """Inception Score (seed 000 eq. 3): exp E_x KL(p(y|x) ‖ p(y)), mean and std over ``splits``.

    torchmetrics' ``InceptionScore`` on logits computed beforehand (by InceptionV3, or the judge
    for the MNIST variant). torchmetrics shuffles the rows before splitting; the shuffle is seeded
    with ``seed`` so the figure is reproducible, and the global RNG is left as it was.

    Args:
        logits: float (N, C) unnormalised log-probabilities (log-softmax outputs work too).
        splits: number of disjoint splits (10, as in Salimans et al. 2016).

    Returns:
        (mean, std) over the splits; 1 ≤ IS ≤ C.

    Raises:
        ValueError: ``logits`` is not 2-D or has fewer rows than ``splits``.
    """
    if logits.dim() != 2 or logits.shape[0] < splits or splits < 1:
        raise ValueError(f"need (N, C) logits with N >= splits >= 1, got {tuple(logits.shape)} and splits={splits}")
    from torchmetrics.image.inception import InceptionScore

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = InceptionScore(feature=_Precomputed(logits.shape[1]), splits=int(splits))
    metric.update(logits.double())
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*degrees of freedom.*")  # std of a single split
        torch.manual_seed(int(seed))
        mean, std = metric.compute()
    return float(mean), (float(std) if splits > 1 else 0.0)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose argmax equals the label (seed 000 eqs. 1 and 4): the share of images a
    classifier reads as the digit asked for. Counted in float32, the same figure as torchmetrics'
    micro-averaged ``multiclass_accuracy`` (tested), without importing torchmetrics.

    Args:
        logits: float (N, C) logits, log-probabilities or probabilities; labels: int64 (N,) digits.

    Raises:
        ValueError: shapes disagree, or no rows.
    """
    if logits.dim() != 2 or labels.dim() != 1 or logits.shape[0] != labels.shape[0] or logits.shape[0] == 0:
        raise ValueError(f"need (N, C) scores and (N,) labels, N >= 1, got {tuple(logits.shape)} and {tuple(labels.shape)}")
    return float((logits.argmax(1).cpu() == labels.cpu()).float().mean())


@torch.no_grad()
def classifier_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of ``images`` (N, 1, 28, 28) in [0, 1] that ``model.classify`` (the judge, or a
    model's own digit head) reads as ``labels`` (N,) int64: :func:`accuracy` of its scores, computed
    in batches of ``batch_size`` on the model's device.

    Raises:
        ValueError: ``images`` is empty or not (N, 1, 28, 28), or the counts disagree.
    """
    return accuracy(extract(model.classify, images, batch_size, model.device), labels)


#: the haze band: pixels brighter than paper but far below ink (pixels in [0, 1])
HAZE_BAND = (1e-3, 0.1)
#: the haze of the 10,000 MNIST test images (pixel_statistics(test images)["haze"] = 0.01713, checked by
#: tests/test_sampling_page.py): anti-aliased strokes have a thin faint rim
TEST_SET_HAZE = 0.017


def pixel_statistics(images: torch.Tensor) -> dict[str, float]:
    """Ink and haze of images (N, 1, 28, 28) in [0, 1]: ``ink`` is the share of pixels above 0.5,
    ``haze`` the share of pixels strictly inside :data:`HAZE_BAND` (0.001–0.1), a faint background
    that InceptionV3 punishes (real MNIST test digits: :data:`TEST_SET_HAZE`; see ``scripts/fid_probe.py``).
    """
    low, high = HAZE_BAND
    images = torch.as_tensor(images)
    return {"ink": float((images > 0.5).float().mean()),
            "haze": float(((images > low) & (images < high)).float().mean())}
