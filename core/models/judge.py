"""The judge: an independent convolutional MNIST classifier that scores the other models.

It is not one of the compared models (``role = JUDGE``): the evaluation metrics use it to judge
generated digits, the dashboard to judge drawn ones. Architecture: a small VGG-style network
(two 3×3 convolution blocks with batch normalization and max-pooling, a 128-unit hidden layer
with dropout), trained with light random affine augmentation (±10°, ±2 pixels, scale 0.9–1.1) so it
also reads digits drawn on the canvas, and with random blur and dimming so it also reads the soft,
gray digits that autoencoders generate (a judge trained on crisp digits alone reads a blurred,
dimmed "2" as an "8"). Its 128-d penultimate features serve a fast FID.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import DigitModel
from core.models.capabilities import CLASSIFY, JUDGE


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
        nn.MaxPool2d(2),
    )


def random_affine(x: torch.Tensor, generator: torch.Generator, degrees: float = 10.0,
                  shift: float = 2.0, scale: tuple[float, float] = (0.9, 1.1)) -> torch.Tensor:
    """Randomly rotate, shift and scale images x (N, 1, 28, 28) (bilinear, zero fill)."""
    n = x.shape[0]
    rand = torch.rand(n, 4, generator=generator).to(x.device)
    angle = (rand[:, 0] * 2 - 1) * math.radians(degrees)
    s = scale[0] + rand[:, 1] * (scale[1] - scale[0])
    t = (rand[:, 2:] * 2 - 1) * (2 * shift / 28)  # in normalised [-1, 1] coordinates
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, t[:, 0]], 1), torch.stack([sin, cos, t[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


def random_blur_and_dim(x: torch.Tensor, generator: torch.Generator, max_sigma: float = 1.5,
                        min_gain: float = 0.4, p: float = 0.5) -> torch.Tensor:
    """Blur each image (N, 1, 28, 28) with probability ``p`` by a 5×5 Gaussian of σ ~ U(0.3,
    max_sigma) pixels, and independently, with probability ``p``, multiply it by a gain ~ U(min_gain, 1)."""
    n = x.shape[0]
    r = torch.rand(n, 4, generator=generator).to(x.device)
    sigma = 0.3 + r[:, 0] * (max_sigma - 0.3)
    offsets = torch.arange(5, device=x.device, dtype=x.dtype) - 2
    g = torch.exp(-offsets[None] ** 2 / (2 * sigma[:, None] ** 2))
    g = g / g.sum(1, keepdim=True)                                   # (N, 5)
    kernels = (g[:, :, None] * g[:, None, :])[:, None]               # (N, 1, 5, 5)
    blurred = F.conv2d(x.reshape(1, n, 28, 28), kernels, padding=2, groups=n).reshape(n, 1, 28, 28)
    x = torch.where((r[:, 1] < p).view(n, 1, 1, 1), blurred, x)
    gain = torch.where(r[:, 2] < p, min_gain + r[:, 3] * (1 - min_gain), torch.ones_like(r[:, 3]))
    return x * gain.view(n, 1, 1, 1)


class JudgeClassifier(DigitModel):
    """Independent CNN digit classifier (the judge).

    Input images (N, 1, 28, 28) in [0, 1]; :meth:`classify` gives log-probabilities (N, 10),
    :meth:`features` the 128-d penultimate activations (N, 128). Loss: cross-entropy (NLL) of the
    digit in nats per image; ``error`` is the fraction misclassified (logged, not optimised).
    """

    name = "judge"
    display_name = "Judge CNN"
    summary = "independent convolutional classifier that scores generated and drawn digits; never compared"
    source = "Digit Lab's own evaluation classifier (issue 3)"
    capabilities = frozenset({CLASSIFY})
    input_modes = ()
    role = JUDGE
    loss_components = ("loss", "error")
    loss_units = {"loss": "cross-entropy (nats per image)", "error": "error rate (fraction)"}
    default_training = {"epochs": 8, "batch_size": 128, "lr": 1e-3}
    training_inputs = "images with random affine, blur and dimming augmentation, and their digits"

    def __init__(self, width: int = 32, dropout: float = 0.3):
        super().__init__()
        if int(width) < 1 or not 0 <= float(dropout) < 1:
            raise ValueError(f"need width >= 1 and 0 <= dropout < 1, got {width}, {dropout}")
        self.model_args = {"width": int(width), "dropout": float(dropout)}
        self.latent_dim = 0
        self.body = nn.Sequential(_block(1, width), _block(width, 2 * width), nn.Flatten(),  # (N, 2w·7·7)
                                  nn.Linear(2 * width * 49, 128), nn.BatchNorm1d(128), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(128, 10)

    def describe(self) -> str:
        return self.display_name

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, 128) of images x (N, 1, 28, 28)."""
        return self.body(x.reshape(-1, 1, 28, 28))

    def classify(self, x):
        """Log-probabilities (N, 10) of each digit."""
        return self.classify_features(self.features(x))

    def classify_features(self, features: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (N, 10) from penultimate features (N, 128) (:meth:`features`): one pass of the
        network gives both, e.g. for a judge FID and a judged accuracy of the same samples."""
        return F.log_softmax(self.head(self.dropout(features)), dim=-1)

    def _losses(self, x, y):
        logp = self.classify(x)
        return {"loss": F.nll_loss(logp, y), "error": (logp.argmax(1) != y).float().mean().detach()}

    def training_loss(self, x, y, generator):
        """Cross-entropy on randomly augmented images (:func:`random_affine`, then
        :func:`random_blur_and_dim`)."""
        return self._losses(random_blur_and_dim(random_affine(x, generator), generator), y)

    def validation_loss(self, x, y, generator):
        """Cross-entropy and error rate on the images as they are."""
        return self._losses(x, y)
