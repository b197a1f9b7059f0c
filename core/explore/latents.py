"""Model-agnostic computations behind the dashboard's views (no streamlit here).

Everything goes through the model interface of ``core.models.base``: encode, decode, reconstruct,
classify, generate. Inputs and outputs use its conventions (images float32 (N, 1, 28, 28) in
[0, 1], labels int64 (N,), codes float32 (N, d)).
"""

from __future__ import annotations

import numpy as np
import torch

from core.models.base import DigitModel
from core.models.capabilities import DIGIT_ONLY, IMAGE_ONLY, N_CLASSES


def _inputs(mode: str, x: torch.Tensor | None, y: torch.Tensor | None):
    return (None if mode == DIGIT_ONLY else x), (None if mode == IMAGE_ONLY else y)


@torch.no_grad()
def encode_dataset(model: DigitModel, x: torch.Tensor, y: torch.Tensor, mode: str,
                   batch_size: int = 2000) -> np.ndarray:
    """Latent codes (N, d) float32 of images ``x`` / digits ``y`` seen in input ``mode``.

    Raises:
        ValueError: the model does not accept ``mode`` (see ``model.input_modes``).
    """
    if mode not in model.input_modes:
        raise ValueError(f"{model.describe()} does not take input mode {mode!r}")
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb, yb = _inputs(mode, x[i:i + batch_size].to(model.device), y[i:i + batch_size].to(model.device))
        out.append(model.encode(xb, yb).float().cpu())
    return torch.cat(out).numpy()


@torch.no_grad()
def reconstruct(model: DigitModel, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """Reconstructions (N, 1, 28, 28) on the CPU; ``y=None`` means image-only input."""
    return model.reconstruct(x.to(model.device), None if y is None else y.to(model.device)).float().cpu()


@torch.no_grad()
def generation_grid(model: DigitModel, per_digit: int = 10, seed: int = 0, mode: str | None = None,
                    preview: bool = False) -> torch.Tensor:
    """Images (10 * per_digit, 1, 28, 28) in [0, 1]: row r holds ``per_digit`` samples of digit r.

    The same ``seed`` gives the same grid (a CPU ``torch.Generator`` drives all sampling). With
    ``preview``, the grid of the mode's cheap preview (:attr:`core.models.modes.GenerationMode.preview`),
    drawn from the same seed.

    Raises:
        ValueError: an unknown mode, or ``preview`` for a mode that has none.
    """
    labels = torch.arange(N_CLASSES).repeat_interleave(per_digit).to(model.device)
    generator = torch.Generator().manual_seed(int(seed))
    if not preview:
        return model.generate(labels, generator=generator, mode=mode).float().cpu()
    chosen = model.generation_mode(mode)
    if chosen.preview is None:
        raise ValueError(f"generation mode {chosen} has no preview")
    with torch.no_grad():
        return chosen.preview.sample(model, labels, generator).float().cpu()


@torch.no_grad()
def decode(model: DigitModel, z: np.ndarray | torch.Tensor, digit: int | None = None) -> torch.Tensor:
    """Decoded images (N, 1, 28, 28) on the CPU from codes (N, d); ``digit`` is the label given to
    decoders that need one (``model.decoder_needs_label``) and ignored by the others."""
    z = torch.as_tensor(np.asarray(z, dtype=np.float32)).to(model.device)
    y = None
    if model.decoder_needs_label:
        if digit is None:
            raise ValueError(f"{model.describe()} decodes with a digit: pass digit=")
        y = torch.full((z.shape[0],), int(digit), dtype=torch.long, device=model.device)
    return model.decode(z, y).float().cpu()


@torch.no_grad()
def manifold_grid(model: DigitModel, limit: float, steps: int) -> torch.Tensor:
    """Decode a ``steps`` × ``steps`` grid over [−limit, limit]² of a 2-D latent plane.

    Returns images (steps², 1, 28, 28), row-major with z2 decreasing down the rows and z1
    increasing along them (so the picture matches a plot with z2 pointing up).

    Raises:
        ValueError: the model's latent is not 2-D.
    """
    if model.latent_dim != 2:
        raise ValueError(f"{model.describe()} has a {model.latent_dim}-D latent, not 2-D")
    axis = np.linspace(-limit, limit, int(steps), dtype=np.float32)
    z1, z2 = np.meshgrid(axis, axis[::-1])
    return decode(model, np.stack([z1.ravel(), z2.ravel()], axis=1))


def interpolate_codes(z_a: np.ndarray, z_b: np.ndarray, n_frames: int) -> np.ndarray:
    """Linear interpolation: (n_frames, d) codes from ``z_a`` (d,) to ``z_b`` (d,), both included."""
    t = np.linspace(0.0, 1.0, int(n_frames), dtype=np.float32)[:, None]
    return (1 - t) * np.asarray(z_a, np.float32)[None] + t * np.asarray(z_b, np.float32)[None]


@torch.no_grad()
def class_probabilities(model: DigitModel, image: np.ndarray | torch.Tensor) -> np.ndarray:
    """Probabilities (10,) float64 of each digit for one image (28, 28) or (1, 28, 28) in [0, 1]."""
    x = torch.as_tensor(np.asarray(image, dtype=np.float32)).reshape(1, 1, 28, 28).to(model.device)
    return model.classify(x).exp().double().cpu().numpy()[0]


@torch.no_grad()
def batch_probabilities(model: DigitModel, x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Probabilities float32 (N, 10) of each digit for images ``x`` (N, 1, 28, 28) in [0, 1].

    Raises:
        core.models.base.UnsupportedCapability (via ``classify``): the model cannot classify.
    """
    return model.classify(torch.as_tensor(x).to(model.device)).exp().float().cpu().numpy()


def predicted_digits(model: DigitModel, x: torch.Tensor | np.ndarray) -> np.ndarray:
    """The digit each image of ``x`` (N, 1, 28, 28) in [0, 1] is read as: int64 (N,), argmax of ``classify``."""
    return batch_probabilities(model, x).argmax(1)


def tile(images: torch.Tensor | np.ndarray, nrow: int, scale: int = 1, padding: int = 1,
         pad_value: float = 0.35) -> np.ndarray:
    """Tile images (N, 1, 28, 28) in [0, 1] into one uint8 (H, W) picture, ``nrow`` images per row,
    ``padding`` pixels of grey ``pad_value`` around and between them (torchvision's ``make_grid``
    layout; one image comes back without padding, as there), upscaled ``scale`` times (nearest
    neighbour, so pixels stay crisp). Written with numpy: importing torchvision costs the dashboard
    seconds on its first model page.

    Raises:
        ValueError: ``images`` is not (N, 1, H, W) with N ≥ 1.
    """
    arr = images.detach().float().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, np.float32)
    if arr.ndim != 4 or arr.shape[1] != 1 or arr.shape[0] < 1:
        raise ValueError(f"expected images shaped (N, 1, H, W), got {arr.shape}")
    arr = np.clip(arr[:, 0], 0.0, 1.0)
    n, h, w = arr.shape
    if n == 1:
        grid = arr[0]
    else:
        cols = min(int(nrow), n)
        rows = -(-n // cols)
        grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding), pad_value, np.float32)
        for i in range(n):
            top, left = padding + (i // cols) * (h + padding), padding + (i % cols) * (w + padding)
            grid[top:top + h, left:left + w] = arr[i]
    if scale > 1:
        grid = grid.repeat(scale, 0).repeat(scale, 1)
    return (grid * 255).round().astype(np.uint8)
