"""Turn a drawing into an MNIST-style image.

MNIST's own preprocessing (LeCun et al., "The MNIST database", yann.lecun.com/exdb/mnist): each
digit's bounding box was scaled, keeping its aspect ratio, to fit a 20×20 box (anti-aliased, hence
grey levels), then placed in a 28×28 image so that its centre of mass sits at the image centre.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage


class EmptyDrawing(ValueError):
    """The drawing has no ink (nothing to classify)."""


MAX_UPLOAD_SIDE = 2048


def image_from_bytes(data: bytes, invert: bool = True) -> np.ndarray:
    """Decode an uploaded picture (PNG, JPEG, BMP, …) into ink intensity.

    Args:
        data: the file's bytes.
        invert: the picture shows a dark digit on a light background (paper, most scans), so ink
            is ``1 - brightness``; with ``False`` the digit is light on dark, as in MNIST.

    Returns:
        float32 (H, W) in [0, 1]; pictures larger than 2048 pixels on a side are shrunk first.

    Raises:
        ValueError: the bytes are not a picture PIL can read (the message says so).
    """
    try:
        with Image.open(io.BytesIO(data)) as picture:
            picture.load()
            grey = picture.convert("L")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable image ({type(exc).__name__}: {exc})") from None
    if max(grey.size) > MAX_UPLOAD_SIDE:
        grey.thumbnail((MAX_UPLOAD_SIDE, MAX_UPLOAD_SIDE))
    ink = np.asarray(grey, dtype=np.float32) / 255.0
    return 1.0 - ink if invert else ink


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """Ink intensity in [0, 1] (float32, (H, W)) of a drawing.

    Accepts (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA arrays, uint8 in [0, 255] or float in
    [0, 1]. White-on-black is assumed (ink is bright, as in MNIST); for RGBA the ink is the
    brightness times the alpha (the canvas leaves untouched pixels transparent).

    Raises:
        ValueError: an array of another shape, or values outside the expected range.
    """
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or min(arr.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {arr.shape}")
    arr = arr.astype(np.float32)
    if arr.size and arr.max() > 1.0:
        arr = arr / 255.0
    if arr.size and (arr.min() < 0 or arr.max() > 1.0):
        raise ValueError("pixel values must lie in [0, 1] or [0, 255]")
    if arr.ndim == 2:
        return arr
    grey = arr[..., :3].mean(axis=2)
    if arr.shape[2] == 4:
        grey = grey * arr[..., 3]
    return grey


def mnist_preprocess(image: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """MNIST-style 28×28 image of a drawing.

    Steps: grey ink in [0, 1] → crop to the bounding box of pixels above ``threshold`` → resize
    (Lanczos, aspect ratio kept) so the longer side is 20 pixels → paste into 28×28 → shift so the
    centre of mass is at (14, 14) (bilinear sub-pixel shift).

    Returns:
        float32 (28, 28), pixels in [0, 1].

    Raises:
        EmptyDrawing: no pixel above the threshold.
        ValueError: see :func:`to_grayscale`.
    """
    grey = to_grayscale(image)
    ys, xs = np.nonzero(grey > threshold)
    if ys.size == 0:
        raise EmptyDrawing("the drawing is empty")
    crop = grey[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = Image.fromarray((crop * 255).astype(np.uint8)).resize((new_w, new_h), Image.LANCZOS)
    box = np.asarray(resized, dtype=np.float32) / 255.0
    canvas = np.zeros((28, 28), dtype=np.float32)
    top, left = (28 - new_h) // 2, (28 - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = box
    if canvas.sum() <= 0:
        raise EmptyDrawing("the drawing is empty after resizing")
    cy, cx = ndimage.center_of_mass(canvas)
    shifted = ndimage.shift(canvas, (14.0 - cy, 14.0 - cx), order=1, mode="constant", cval=0.0)
    return np.clip(shifted, 0.0, 1.0).astype(np.float32)
