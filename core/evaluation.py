"""Test-set metrics of seed 000's Table 1 that need no generated images.

Source: seed 000, appendix A.3.4 (Classification Accuracy) and A.3.5 (Reconstruction Error).

Units: reconstruction error is the binary cross-entropy between a test image and its
reconstruction **summed over the 784 pixels**, in nats per image, averaged over the test images.
Seed 000's eq. (5) writes a per-pixel mean, but its Table 1 values (61–93) are only reachable as a
per-image sum (a per-pixel mean is ~0.08–0.12 nats); we report the per-image sum and compare with
Table 1 on that reading.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .models.base import CLASSIFY, IMAGE_AND_DIGIT, IMAGE_ONLY, RECONSTRUCT, DigitModel


@torch.no_grad()
def classification_accuracy(model: DigitModel, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of images ``x`` (N, 1, 28, 28) whose argmax of ``model.classify`` equals ``y`` (N,)."""
    correct = 0
    for i in range(0, x.shape[0], batch_size):
        logp = model.classify(x[i:i + batch_size].to(model.device))
        correct += int((logp.argmax(1).cpu() == y[i:i + batch_size].cpu()).sum())
    return correct / x.shape[0]


def bce_per_image(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """BCE of reconstructions ``x_hat`` against images ``x`` (both (N, 1, 28, 28), pixels in
    [0, 1]), summed over the pixels: float tensor (N,) in nats. Reconstructions are clamped to
    [1e-7, 1 - 1e-7] (torch's BCE clamps log at -100 otherwise)."""
    x_hat = x_hat.clamp(1e-7, 1 - 1e-7)
    return F.binary_cross_entropy(x_hat.reshape(x.shape[0], -1), x.reshape(x.shape[0], -1),
                                  reduction="none").sum(1)


@torch.no_grad()
def reconstruction_error(model: DigitModel, x: torch.Tensor, y: torch.Tensor | None,
                         batch_size: int = 1000) -> float:
    """Mean BCE per image (nats, summed over 784 pixels) of ``model.reconstruct(x, y)``.

    ``y=None`` reconstructs from the image alone; otherwise from image+digit.
    """
    total = 0.0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size].to(model.device)
        yb = None if y is None else y[i:i + batch_size].to(model.device)
        total += float(bce_per_image(xb, model.reconstruct(xb, yb)).sum())
    return total / x.shape[0]


def evaluate_test_metrics(model: DigitModel, test_x: torch.Tensor, test_y: torch.Tensor) -> dict[str, Any]:
    """Every test metric the model's capabilities allow, each with its protocol.

    Returns:
        ``{metric: {"value": float, "n": int, "protocol": str}}`` for
        ``classification_accuracy`` (classifiers), ``reconstruction_bce`` (image+digit input when
        the model accepts it, else image only) and ``reconstruction_bce_image_only``.
    """
    was_training = model.training
    model.eval()
    n = int(test_x.shape[0])
    out: dict[str, Any] = {}
    if model.can(CLASSIFY):
        out["classification_accuracy"] = {
            "value": classification_accuracy(model, test_x, test_y), "n": n,
            "protocol": "argmax of classify(image) with the image alone as input, MNIST test images"}
    if model.can(RECONSTRUCT):
        both = IMAGE_AND_DIGIT in model.input_modes
        out["reconstruction_bce"] = {
            "value": reconstruction_error(model, test_x, test_y if both else None), "n": n,
            "protocol": ("BCE summed over 784 pixels, nats per image, mean over MNIST test images; "
                         f"input {'image+digit' if both else 'image'}; deterministic code (posterior mean)")}
        if both and IMAGE_ONLY in model.input_modes:
            out["reconstruction_bce_image_only"] = {
                "value": reconstruction_error(model, test_x, None), "n": n,
                "protocol": "as reconstruction_bce, with the image alone as input"}
    model.train(was_training)
    return out
