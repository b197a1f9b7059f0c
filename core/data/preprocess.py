"""Turn a drawing or an uploaded picture into an MNIST-style image.

MNIST's own preprocessing (LeCun et al., "The MNIST database", yann.lecun.com/exdb/mnist): each
digit's bounding box was scaled, keeping its aspect ratio, to fit a 20×20 box (anti-aliased, hence
grey levels), then placed in a 28×28 image so that its centre of mass sits at the image centre.

Uploaded pictures (photos and scans of paper) first go through :func:`image_from_bytes`: the file is
checked against a pixel budget before it is decoded, read the right way round (dark digit on paper
or light digit on a dark ground), and its background (paper colour, uneven lighting, sensor noise)
is removed by :func:`remove_background`, so that only the digit's strokes are left as ink.
"""

from __future__ import annotations

import io
import math
import re
import warnings

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage
from skimage.filters import threshold_otsu


class EmptyDrawing(ValueError):
    """The drawing has no ink (nothing to classify)."""


class UploadError(ValueError):
    """An uploaded file Digit Lab cannot use.

    ``str(exc)`` is a sentence for the user (a student): what is wrong and what to do, with no
    file names, Python objects or exception names in it.
    """


#: pictures with more pixels than this (width × height, read from the file's header) are refused
#: before they are decoded: a small PNG can hold a huge, highly compressible picture
MAX_UPLOAD_PIXELS = 40_000_000
#: pictures larger than this on a side are shrunk (aspect ratio kept) right after decoding
MAX_UPLOAD_SIDE = 2048
#: file formats read from uploads (PIL's names; the dashboard asks for PNG, JPEG or BMP; MPO is how
#: some phone cameras' JPEG files are identified). Other formats PIL knows (EPS, PSD, …) are refused.
UPLOAD_FORMATS = ("PNG", "JPEG", "MPO", "BMP", "GIF", "WEBP", "TIFF")

_ASK = "Upload a PNG, JPEG or BMP image of one digit."
MSG_EMPTY_FILE = f"This file is empty. {_ASK}"
MSG_NOT_A_PICTURE = f"This file is not a picture Digit Lab can read. {_ASK}"
MSG_UNSUPPORTED = ("This picture's colours are stored in a way Digit Lab cannot read. "
                   "Save it as an ordinary PNG or JPEG and upload it again.")
MSG_DAMAGED = ("This picture is damaged or incomplete, so Digit Lab cannot read it. "
               "Save it again as PNG, JPEG or BMP and upload it again.")


def _megapixels(pixels: int) -> str:
    """'169' for 169,000,000 pixels; rounded up to a tenth so a picture just over the budget does
    not read as equal to it (40,000,001 → '40.1')."""
    return f"{math.ceil(pixels / 100_000) / 10:g}"


def _too_large(width: int | None, height: int | None, pixels: int) -> UploadError:
    size = f"{width:,} × {height:,} pixels ({_megapixels(pixels)} megapixels)" if width and height \
        else f"{_megapixels(pixels)} megapixels"
    return UploadError(f"This picture is {size}; Digit Lab reads pictures up to "
                       f"{_megapixels(MAX_UPLOAD_PIXELS)} megapixels. Shrink it and upload it again.")


def _open_upload(data: bytes) -> Image.Image:
    """The picture in ``data`` opened lazily (header read, pixels not decoded) and checked against
    :data:`MAX_UPLOAD_PIXELS`. Raises UploadError."""
    if not data:
        raise UploadError(MSG_EMPTY_FILE)
    try:
        with warnings.catch_warnings():
            # PIL warns above its own limit (89 megapixels) and refuses above twice that; our budget,
            # checked below, is smaller, so the warning adds nothing.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.init()  # registers every plugin (MPO, WebP, TIFF are not loaded up front); runs once
            picture = Image.open(io.BytesIO(data), formats=[name for name in UPLOAD_FORMATS if name in Image.OPEN])
    except Image.DecompressionBombError as exc:  # over twice PIL's limit: the size is in its message
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(None, None, int(found.group(1)) if found else 2 * Image.MAX_IMAGE_PIXELS + 1) from None
    except Exception:  # noqa: BLE001 - untrusted bytes: PIL's parsers raise many kinds of errors
        raise UploadError(MSG_NOT_A_PICTURE) from None
    width, height = picture.size
    if width < 1 or height < 1:
        picture.close()
        raise UploadError(MSG_NOT_A_PICTURE)
    if width * height > MAX_UPLOAD_PIXELS:
        picture.close()
        raise _too_large(width, height, width * height)
    return picture


def _decode_brightness(picture: Image.Image) -> np.ndarray:
    """Brightness float32 (H, W) in [0, 1] of an opened picture's first frame, shrunk to at most
    :data:`MAX_UPLOAD_SIDE` on a side. Transparent pixels take the colour that contrasts with the
    opaque ones (white behind dark strokes, black behind light ones). Raises UploadError."""
    width, height = picture.size
    scale = min(1.0, MAX_UPLOAD_SIDE / max(width, height))
    try:
        if picture.format in ("JPEG", "MPO") and scale < 1.0:
            # the JPEG decoder itself reduces by 1/2, 1/4 or 1/8 (never below the requested size)
            picture.draft("L" if picture.mode == "RGB" else None,
                          (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))))
        picture.load()
    except Exception:  # noqa: BLE001 - truncated or corrupt pixel data
        raise UploadError(MSG_DAMAGED) from None
    try:
        ImageOps.exif_transpose(picture, in_place=True)  # a camera's orientation tag (no copy)
        mode = picture.mode
        if mode.startswith("I") or mode == "F":  # 16-bit or 32-bit grey (PNG, TIFF)
            values = np.asarray(picture, dtype=np.float32)
            top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
            top = 1.0 if mode == "F" and values.max(initial=0) <= 1.0 else top
            grey = Image.fromarray(np.clip(values / top, 0.0, 1.0).astype(np.float32))
            alpha = None
        elif picture.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in picture.info:
            grey, alpha = picture.convert("LA").split()
        else:
            grey, alpha = picture.convert("L"), None
    except Exception:  # noqa: BLE001 - colour modes PIL cannot turn into grey (rare TIFF variants)
        raise UploadError(MSG_UNSUPPORTED) from None
    if max(grey.size) > MAX_UPLOAD_SIDE:
        grey.thumbnail((MAX_UPLOAD_SIDE, MAX_UPLOAD_SIDE))
        if alpha is not None:
            alpha = alpha.resize(grey.size, Image.BOX)
    brightness = np.asarray(grey, dtype=np.float32)
    if grey.mode != "F":
        brightness = brightness / 255.0
    if alpha is not None:
        opacity = np.asarray(alpha, dtype=np.float32) / 255.0
        covered = float(opacity.sum())
        behind = 0.0 if covered > 0 and float((brightness * opacity).sum()) / covered >= 0.5 else 1.0
        brightness = brightness * opacity + behind * (1.0 - opacity)
    return np.ascontiguousarray(brightness, dtype=np.float32)


def _reduce(image: np.ndarray, factor: int) -> np.ndarray:
    """Area-average (box) reduction of a float32 (H, W) picture by ``factor`` on each side."""
    if factor <= 1:
        return image
    h, w = image.shape
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    small = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32)).resize(size, Image.BOX)
    return np.asarray(small, dtype=np.float32)


#: the background is estimated on a copy reduced (box average) to about this many pixels on the short side
BACKGROUND_WORK_SIDE = 256
#: width of the opening window as a fraction of the picture's shorter side: strokes (and blobs where
#: strokes merge) narrower than this are ink; broader light or shade is background
BACKGROUND_WINDOW = 0.4
#: ink must stand at least this far (in ink units, 0..1) above the background to count as a digit
MIN_INK_CONTRAST = 0.1
#: ... and at least this many times the background's noise (robust sigma from the median absolute deviation)
MIN_INK_TO_NOISE = 6.0
#: ink regions (of strong ink) smaller than this fraction of the largest one are dropped as specks
MIN_PIECE_FRACTION = 0.05


def digit_is_light(brightness: np.ndarray) -> bool:
    """Whether a picture clearly shows a light digit on a dark ground (rather than dark on light).

    The picture's border is taken as background (a digit seldom fills the edges of a photo): the
    digit is light when the brightest pixels stand at least twice as far above the border's median
    brightness as the darkest pixels stand below it, with some contrast overall. Uneven lighting
    across the paper does not fool it, because the strokes are further from the paper than the
    paper's own spread.

    Args:
        brightness: float (H, W) in [0, 1] (0 black, 1 white).

    Returns:
        True for light on dark (MNIST's own polarity), False for dark on light or when unsure.

    Raises:
        ValueError: not a 2-D array.
    """
    b = np.asarray(brightness, dtype=np.float32)
    if b.ndim != 2 or min(b.shape) < 1:
        raise ValueError(f"expected a 2-D brightness array, got shape {b.shape}")
    b = _reduce(b, max(1, math.ceil(min(b.shape) / BACKGROUND_WORK_SIDE)))  # also averages noise away
    ring = max(1, min(b.shape) // 50)
    border = np.concatenate([b[:ring].ravel(), b[-ring:].ravel(), b[:, :ring].ravel(), b[:, -ring:].ravel()])
    middle = float(np.median(border))
    low, high = np.percentile(b, [0.5, 99.5])
    return bool(high - low > 0.2 and high - middle > 2.0 * (middle - low))


def _pad_background(small: np.ndarray, width: int) -> np.ndarray:
    """``small`` (H, W) padded by ``width`` on every side with a smooth continuation of its
    background: a quadratic surface (least squares) fitted to a stroke-free lower envelope (a
    grey opening). Mirroring would bring strokes near the edge into the padding (odd mirroring as
    deep valleys the opening then spreads), edge extension would make the opening lag behind a
    background that darkens towards the edge (vignetting)."""
    envelope = ndimage.grey_opening(small, size=(width, width), mode="nearest")
    h, w = small.shape
    step = max(1, min(h, w) // 64)
    side = float(max(h, w))

    def basis(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        y, x = y / side, x / side
        return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)

    yy, xx = np.mgrid[0:h:step, 0:w:step].astype(np.float64)
    coef, *_ = np.linalg.lstsq(basis(yy, xx).reshape(-1, 6), envelope[::step, ::step].reshape(-1).astype(np.float64),
                               rcond=None)
    py, px = np.mgrid[-width:h + width, -width:w + width].astype(np.float64)
    padded = (basis(py, px) @ coef).astype(np.float32)
    padded[width:width + h, width:width + w] = small
    return padded


def remove_background(ink: np.ndarray) -> np.ndarray:
    """Keep only the digit's strokes of an ink picture: background to 0, strokes rescaled to reach 1.

    Meant for photos and scans (paper that is not white, uneven lighting, noise, JPEG artefacts);
    a clean picture (ink on an exactly black background, strokes reaching 1, as MNIST or the
    sketchpad) comes back unchanged, up to a rescaling of about 1% and isolated faint specks.

    Method:

    1. Background: a grey-scale morphological opening (a minimum then a maximum filter over a
       square window of :data:`BACKGROUND_WINDOW` × the shorter side) of a box-reduced copy
       (:data:`BACKGROUND_WORK_SIDE`), padded beyond the edges with a quadratic surface fitted to
       it and smoothed. The opening removes every bright structure narrower than the window — the
       strokes — and keeps broad light and shade: paper colour, lighting gradients, vignetting,
       shadows with sharp edges (a flat-window form of Sternberg's 1983 rolling ball). It is
       subtracted from the ink.
    2. Noise: the background is most of the picture, so the median of what is left is its level
       and 1.4826 × the median absolute deviation its noise; ink must rise 4 noise above the level.
    3. Strong ink: Otsu's threshold (N. Otsu, "A threshold selection method from gray-level
       histograms", IEEE Trans. SMC 9(1):62-66, 1979) among the pixels above that low threshold
       splits the strokes' cores from their soft edges. Regions above the low threshold that hold
       strong ink are kept (hysteresis), except those whose strong ink is under
       :data:`MIN_PIECE_FRACTION` of the largest region's (specks, dust); everything else is 0.
    4. Scale: kept pixels are ramped linearly, background level → 0 and the strokes' 95th
       percentile → 1 (clipped to [0, 1]).

    When nothing stands clearly above the background (:data:`MIN_INK_CONTRAST`,
    :data:`MIN_INK_TO_NOISE`: a blank page, a uniform colour, a gradient, pure noise) the result is
    all zeros, which :func:`mnist_preprocess` refuses with :class:`EmptyDrawing`. The digit is
    assumed to cover less than half of the picture's pixels (true of MNIST-like crops, about 20%).

    Args:
        ink: float (H, W) ink intensity in [0, 1], the digit brighter than its background (for a
            dark digit on paper pass ``1 - brightness``).

    Returns:
        float32 (H, W) in [0, 1], same shape: 0 on the background, the strokes up to 1.

    Raises:
        ValueError: not a 2-D array, or values outside [0, 1] or not finite.
    """
    arr = np.asarray(ink, dtype=np.float32)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ValueError(f"expected a 2-D ink array (H, W), got shape {arr.shape}")
    if not np.isfinite(arr).all() or arr.min() < -1e-6 or arr.max() > 1.0 + 1e-6:
        raise ValueError("ink values must be finite and lie in [0, 1]")
    arr = np.clip(arr, 0.0, 1.0)
    empty = np.zeros_like(arr)
    if float(arr.max() - arr.min()) < MIN_INK_CONTRAST:
        return empty
    h, w = arr.shape
    factor = max(1, math.ceil(min(h, w) / BACKGROUND_WORK_SIDE))
    small = _reduce(arr, factor)
    window = max(3, round(BACKGROUND_WINDOW * min(small.shape)))
    padded = _pad_background(small, window)
    opened = ndimage.grey_opening(padded, size=(window, window))
    # smooth the opening's flat plateaus, never below the opening itself (so narrow dark valleys,
    # e.g. a dark digit given with the wrong polarity, are not turned into a bright outline)
    background = np.maximum(opened, ndimage.gaussian_filter(opened, window / 4))[window:-window, window:-window]
    if factor > 1:
        background = Image.fromarray(np.ascontiguousarray(background, dtype=np.float32)).resize((w, h), Image.BILINEAR)
        background = np.asarray(background, dtype=np.float32)
    flat = np.clip(arr - background, 0.0, 1.0)
    if factor > 1:  # large pictures: average the pixel noise out at about the working scale
        flat = ndimage.gaussian_filter(flat, factor / 2.0)
    # the background is most of the picture: its level and noise come from all pixels (robustly)
    level = float(np.median(flat))
    noise = 1.4826 * float(np.median(np.abs(flat - level)))
    low = level + 4.0 * noise
    candidates = flat[flat > low]
    if candidates.size == 0 or float(candidates.max()) - level < MIN_INK_CONTRAST:
        return empty
    # Otsu among the pixels above the noise: strokes' cores versus their soft edges and specks
    # (over the whole picture, a small digit would be outweighed by the background's own spread)
    high = float(threshold_otsu(candidates)) if float(candidates.max() - candidates.min()) > 1e-6 else low
    strong = flat > high
    if not strong.any():
        strong = flat >= high
    contrast = float(flat[strong].mean()) - level
    if contrast < MIN_INK_CONTRAST or contrast < MIN_INK_TO_NOISE * noise:
        return empty
    pieces, count = ndimage.label(flat > low, structure=np.ones((3, 3), dtype=bool))
    strong_area = np.bincount(pieces[strong], minlength=count + 1)
    strong_area[0] = 0
    keep = strong_area >= MIN_PIECE_FRACTION * strong_area.max()
    kept = keep[pieces]
    top = float(np.percentile(flat[strong & kept], 95))
    out = np.clip((flat - level) / max(top - level, 1e-6), 0.0, 1.0)
    out[~kept] = 0.0
    return out.astype(np.float32)


def image_from_bytes(data: bytes, invert: bool = True, clean: bool = True) -> np.ndarray:
    """Decode an uploaded picture of one digit into ink intensity (the digit bright, as in MNIST).

    The file's header is read first and a picture over :data:`MAX_UPLOAD_PIXELS` is refused before
    its pixels are decoded; JPEGs larger than :data:`MAX_UPLOAD_SIDE` are decoded at a reduced
    scale, other large pictures shrunk right after decoding. Animated pictures give their first
    frame; a camera's EXIF orientation is applied; 16-bit, palette, CMYK and transparent pictures
    are read as grey (transparent pixels take the colour that contrasts with the digit).

    Args:
        data: the file's bytes (PNG, JPEG, BMP; GIF, WebP and TIFF are read too).
        invert: ``True`` (the default): the picture shows a dark digit on a light background
            (paper, most scans), so ink is ``1 - brightness`` — unless the picture is clearly a
            light digit on a dark ground (:func:`digit_is_light`), which is then read as it is.
            ``False``: the digit is light on dark, as in MNIST; taken as given, never turned round.
        clean: remove the background (paper colour, uneven lighting, noise) with
            :func:`remove_background`; ``False`` gives the raw ink.

    Returns:
        float32 (H, W) in [0, 1], at most :data:`MAX_UPLOAD_SIDE` pixels on a side. A picture with
        no digit standing out of its background comes back all zeros (``mnist_preprocess`` then
        raises :class:`EmptyDrawing`).

    Raises:
        UploadError (a ValueError) whose message is a sentence for the user: the file is empty, is
            not a picture in a format read here, is damaged or truncated, or has more than
            :data:`MAX_UPLOAD_PIXELS` pixels.
    """
    with _open_upload(data) as picture:
        brightness = _decode_brightness(picture)
    if invert and not digit_is_light(brightness):
        ink = 1.0 - brightness
    else:
        ink = brightness
    ink = np.clip(ink, 0.0, 1.0).astype(np.float32)
    return remove_background(ink) if clean else ink


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
