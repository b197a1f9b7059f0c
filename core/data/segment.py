"""Reading a handwritten number: find the digits of a picture, left to right, as MNIST images.

Seed 002 (Podoliak et al., ../shared/seeds/002_9f7c847ee0c5a580.txt) names bank-card, cheque,
postal-code and phone numbers as the use of its digit recognizer. A picture of several digits in a
row is cut into digits here, then each goes through :func:`core.data.preprocess.mnist_preprocess`:

1. ink above ``threshold`` is labelled into connected components (scikit-image, 8-connectivity);
   specks smaller than 5 % of the largest component are dropped;
2. components whose boxes overlap horizontally by at least half the narrower one are merged
   (a broken stroke: the bar of a 5 or a 7 apart from its body);
3. a piece shorter than 60 % of the typical digit height (a detached stroke) joins the nearest
   full-height box;
4. with a reader (a classifier, e.g. the judge), a box at least 0.9 typical digit widths wide is
   read as 1, 2 or 3 digits and cut the way the reader is surest of; without one,
   a box at least 1.65 typical digit widths wide (touching digits; the typical width is the median
   of the boxes not thin like a 1) is cut at the columns with the least ink, into as many parts as
   its width holds digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.data.preprocess import EmptyDrawing, mnist_preprocess, to_grayscale

#: the most digits a picture may hold
MAX_DIGITS = 12
#: a box this many typical digit widths wide (or wider) holds touching digits and is cut
SPLIT_WIDTH = 1.65


class TooManyDigits(ValueError):
    """The picture holds more separate marks than a number this page reads."""


@dataclass(frozen=True)
class DigitBox:
    """One digit's box in the picture, in pixels: rows ``top:bottom``, columns ``left:right``."""

    left: int
    right: int
    top: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top


def _merge_overlapping(boxes: list[DigitBox]) -> list[DigitBox]:
    boxes = sorted(boxes, key=lambda b: b.left)
    merged: list[DigitBox] = []
    for box in boxes:
        if merged:
            last = merged[-1]
            overlap = min(last.right, box.right) - max(last.left, box.left)
            if overlap >= 0.5 * min(last.width, box.width):
                merged[-1] = DigitBox(min(last.left, box.left), max(last.right, box.right),
                                      min(last.top, box.top), max(last.bottom, box.bottom))
                continue
        merged.append(box)
    return merged


def _merge_fragments(boxes: list[DigitBox], typical_height: float) -> list[DigitBox]:
    """Join each short piece (under 60 % of the typical digit height: a detached stroke) to the
    horizontally nearest full-height box."""
    full = [b for b in boxes if b.height >= 0.6 * typical_height]
    if not full:
        return boxes
    out = list(full)
    for piece in (b for b in boxes if b.height < 0.6 * typical_height):
        centre = (piece.left + piece.right) / 2
        k = min(range(len(out)), key=lambda i: max(out[i].left - centre, centre - out[i].right, 0.0))
        box = out[k]
        out[k] = DigitBox(min(box.left, piece.left), max(box.right, piece.right),
                          min(box.top, piece.top), max(box.bottom, piece.bottom))
    return sorted(out, key=lambda b: b.left)


def _split_wide(box: DigitBox, ink: np.ndarray, typical_width: float) -> list[DigitBox]:
    """Cut a box at least :data:`SPLIT_WIDTH` typical digit widths wide (touching digits) into as
    many parts as it holds digits, each cut at the emptiest column near an equal split."""
    if box.width < SPLIT_WIDTH * typical_width:
        return [box]
    return _cut(box, ink, max(2, int(round(box.width / typical_width))))


def _cut(box: DigitBox, ink: np.ndarray, parts: int) -> list[DigitBox]:
    """``box`` cut into ``parts`` at the emptiest column near each equal split."""
    columns = ink[box.top:box.bottom, box.left:box.right].sum(0)
    cuts = []
    for k in range(1, parts):
        centre = box.width * k / parts
        lo, hi = int(centre - box.width / (3 * parts)), int(centre + box.width / (3 * parts)) + 1
        lo, hi = max(lo, 1), min(hi, box.width - 1)
        cuts.append(lo + int(np.argmin(columns[lo:hi])) if hi > lo else int(centre))
    edges = [0] + sorted(set(cuts)) + [box.width]
    out = []
    for a, b in zip(edges, edges[1:]):
        rows = np.nonzero(ink[box.top:box.bottom, box.left + a:box.left + b].any(1))[0]
        if b > a and rows.size:
            out.append(DigitBox(box.left + a, box.left + b, box.top + int(rows[0]), box.top + int(rows[-1]) + 1))
    return out


def _read_cut(box: DigitBox, ink: np.ndarray, mask: np.ndarray, typical_height: float, reader,
              margin: float = 0.0) -> list[DigitBox]:
    """Recognition-based cutting: ``box`` as 1, 2 or 3 digits, whichever ``reader`` is surest of
    (mean of the highest probability over the parts; more parts must win by ``margin``; 0 was best
    of 0.15, 0.05, 0 and −0.03 on the first 300 strips of seed 0, so scripts/read_numbers.py reports
    on seed 1)."""
    best, best_score = [box], None
    for parts in (1, 2, 3):
        if parts > 1 and box.width < parts * 0.4 * typical_height:
            break
        pieces = [box] if parts == 1 else _cut(box, mask, parts)
        if len(pieces) != parts or min(p.width for p in pieces) < 0.15 * typical_height:
            continue
        probs = reader(digit_images(ink, pieces))
        score = float(np.mean(np.max(probs, axis=1)))
        if best_score is None or score > best_score + margin:
            best, best_score = pieces, score
    return best


def find_digits(image: np.ndarray, threshold: float = 0.2, reader=None) -> list[DigitBox]:
    """The digits of a picture of a number, left to right.

    Args:
        image: ink (H, W) in [0, 1] (white ink on black, as the canvas and the upload decoder give),
            or any picture :func:`core.data.preprocess.to_grayscale` takes.
        threshold: ink level counted as a stroke.
        reader: optional ``reader(images float32 (N, 1, 28, 28)) -> probabilities (N, 10)``, e.g. the
            judge: then every box at least 0.9 typical widths wide is read as 1, 2 or 3 digits and
            cut the way the reader is surest of (recognition-based segmentation); without it, the
            width rule above decides.

    Returns:
        one :class:`DigitBox` per digit, sorted left to right.

    Raises:
        EmptyDrawing: no ink.
        TooManyDigits: more than :data:`MAX_DIGITS` marks after merging (a sentence says so).
    """
    from skimage.measure import label, regionprops

    ink = to_grayscale(image)
    mask = ink > threshold
    if not mask.any():
        raise EmptyDrawing("there is no ink in this picture")
    regions = regionprops(label(mask, connectivity=2))
    largest = max(r.area for r in regions)
    boxes = [DigitBox(r.bbox[1], r.bbox[3], r.bbox[0], r.bbox[2]) for r in regions if r.area >= 0.05 * largest]
    if len(boxes) > 4 * MAX_DIGITS:
        raise TooManyDigits(f"this picture holds {len(boxes)} separate marks; a number here has at most "
                            f"{MAX_DIGITS} digits")
    boxes = _merge_overlapping(boxes)
    tallest = max(b.height for b in boxes)
    typical = float(np.median([b.height for b in boxes if b.height >= 0.5 * tallest]))
    boxes = _merge_fragments(boxes, typical)
    # a digit's typical width, from the boxes that are not thin like a 1
    widths = [b.width for b in boxes if b.width >= 0.45 * b.height] or [b.width for b in boxes]
    typical_width = max(float(np.median(widths)), 0.3 * typical)
    if reader is None:
        boxes = [part for box in boxes for part in _split_wide(box, mask, typical_width)]
    else:
        boxes = [part for box in boxes
                 for part in (_read_cut(box, ink, mask, typical, reader) if box.width >= 0.9 * typical_width else [box])]
    if len(boxes) > MAX_DIGITS:
        raise TooManyDigits(f"this picture holds {len(boxes)} separate marks; a number here has at most "
                            f"{MAX_DIGITS} digits")
    return sorted(boxes, key=lambda b: b.left)


def digit_images(image: np.ndarray, boxes: list[DigitBox], threshold: float = 0.2) -> np.ndarray:
    """The digits cut out at ``boxes`` as MNIST images: float32 (len(boxes), 1, 28, 28) in [0, 1].
    Ink of the neighbours that reaches into a box is left out (only the box's own columns count).

    Raises:
        ValueError: as :func:`core.data.preprocess.mnist_preprocess`.
    """
    ink = to_grayscale(image)
    out = np.zeros((len(boxes), 1, 28, 28), np.float32)
    for i, box in enumerate(boxes):
        crop = ink[box.top:box.bottom, box.left:box.right]
        try:
            out[i, 0] = mnist_preprocess(np.where(crop > threshold * 0.25, crop, 0.0))
        except EmptyDrawing:
            pass
    return out


def synthetic_strip(images: np.ndarray, rng: np.random.Generator, height: int = 56) -> np.ndarray:
    """MNIST digits pasted side by side into one picture of a number (the reading benchmark).

    Each digit (uint8 or float (28, 28), ink white) is cropped to its ink, scaled by a random factor
    in [0.8, 1.2] of ``height`` · 0.7 (aspect kept), pasted with a random gap of −2 to 8 pixels (a
    negative gap: slight overlap, the ink combined by max) and a random vertical offset of ±4 pixels.

    Returns:
        float32 (height, W) ink in [0, 1].
    """
    from PIL import Image

    pieces, gaps, offsets = [], [], []
    for image in images:
        grey = np.asarray(image, dtype=np.float32)
        grey = grey / 255.0 if grey.max() > 1.0 else grey
        ys, xs = np.nonzero(grey > 0.05)
        crop = grey[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        target = height * 0.7 * rng.uniform(0.8, 1.2)
        scale = target / crop.shape[0]
        w, h = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
        pieces.append(np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize((w, h), Image.BILINEAR),
                                 dtype=np.float32) / 255.0)
        gaps.append(int(rng.integers(-2, 9)))
        offsets.append(int(rng.integers(-4, 5)))
    width = 8 + sum(p.shape[1] for p in pieces) + sum(gaps[1:]) + 8
    strip = np.zeros((height, max(width, 16)), np.float32)
    x = 8
    for k, piece in enumerate(pieces):
        if k:
            x += gaps[k]
        h, w = piece.shape
        top = int(np.clip((height - h) // 2 + offsets[k], 0, height - h)) if h <= height else 0
        piece = piece[:height]
        region = strip[top:top + piece.shape[0], x:x + w]
        np.maximum(region, piece[:, :region.shape[1]], out=region)
        x += w
    return strip
