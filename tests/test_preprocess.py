"""MNIST-style preprocessing of drawings (core.data.preprocess)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import core.data.preprocess as preprocess
from core.data.preprocess import (
    EmptyDrawing,
    UploadError,
    digit_is_light,
    image_from_bytes,
    mnist_preprocess,
    remove_background,
    to_grayscale,
)


def canvas_with_bar(h0, h1, w0, w1, size=280) -> np.ndarray:
    """RGBA canvas (size, size, 4) uint8, white ink on black, a filled rectangle of ink."""
    rgba = np.zeros((size, size, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[h0:h1, w0:w1, :3] = 255
    return rgba


def test_bounding_box_fits_20_pixels_and_centre_of_mass_is_centred():
    # a tall off-centre bar: 200 px high, 40 px wide, in the top-left corner
    out = mnist_preprocess(canvas_with_bar(10, 210, 20, 60))
    assert out.shape == (28, 28) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    rows = np.nonzero(out.max(axis=1) > 0.5)[0]
    cols = np.nonzero(out.max(axis=0) > 0.5)[0]
    assert 19 <= rows.max() - rows.min() + 1 <= 21  # the longer side is 20 px
    assert 3 <= cols.max() - cols.min() + 1 <= 5    # aspect ratio 5:1 kept
    cy, cx = ndimage.center_of_mass(out)
    assert abs(cy - 14) < 0.5 and abs(cx - 14) < 0.5


def test_same_digit_anywhere_on_the_canvas_gives_the_same_image():
    a = mnist_preprocess(canvas_with_bar(10, 210, 20, 60))
    b = mnist_preprocess(canvas_with_bar(60, 260, 200, 240))
    assert np.abs(a - b).max() < 1e-5


def test_transparent_background_counts_as_no_ink():
    rgba = np.zeros((100, 100, 4), dtype=np.uint8)
    rgba[20:80, 45:55] = 255  # opaque white stroke, rest fully transparent
    grey = to_grayscale(rgba)
    assert grey[0, 0] == 0 and grey[50, 50] == 1


def test_empty_drawing_is_refused():
    with pytest.raises(EmptyDrawing):
        mnist_preprocess(np.zeros((280, 280, 4), dtype=np.uint8))


@pytest.mark.parametrize("bad", [np.zeros((5,)), np.zeros((10, 10, 2)), np.full((4, 4), -3.0)])
def test_odd_arrays_are_refused_with_a_clear_message(bad):
    with pytest.raises(ValueError):
        mnist_preprocess(bad)


def test_an_upscaled_mnist_digit_survives_preprocessing(mnist_splits):
    """A real test digit blown up to canvas size comes back close to the original."""
    digit = mnist_splits.test_x[0, 0].numpy()
    big = np.kron(digit, np.ones((10, 10), dtype=np.float32))  # 280 x 280
    out = mnist_preprocess(big)
    assert np.abs(out - digit).mean() < 0.08


# --- uploads -------------------------------------------------------------------------------------

def png_bytes(array: np.ndarray, mode: str = "L") -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_of_a_dark_digit_on_paper_is_inverted_to_ink():
    paper = np.full((50, 40), 255, dtype=np.uint8)
    paper[10:40, 18:22] = 0  # a black bar
    ink = image_from_bytes(png_bytes(paper))
    assert ink.shape == (50, 40) and ink.dtype == np.float32
    assert ink[20, 20] == 1.0 and ink[0, 0] == 0.0
    assert image_from_bytes(png_bytes(paper), invert=False)[20, 20] == 0.0


NOISE_PNG = png_bytes(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))


@pytest.mark.parametrize("data, says", [
    (b"", "This file is empty."),
    (b"hello, not an image", "This file is not a picture Digit Lab can read."),
    (NOISE_PNG[: len(NOISE_PNG) // 2], "This picture is damaged or incomplete"),
], ids=["empty", "text", "truncated-png"])
def test_odd_uploads_are_refused_with_a_clear_message(data, says):
    with pytest.raises(UploadError) as caught:  # an UploadError is a ValueError
        image_from_bytes(data)
    assert isinstance(caught.value, ValueError) and str(caught.value).startswith(says)
    assert_plain_sentence(str(caught.value))


def test_huge_uploads_are_shrunk():
    ink = image_from_bytes(png_bytes(np.zeros((3000, 1500), np.uint8)))
    assert max(ink.shape) == 2048 and ink.shape[0] == 2 * ink.shape[1]


def test_an_uploaded_mnist_digit_is_classified_by_the_shipped_model(mnist_splits):
    """A real test digit, saved as dark-on-white PNG, uploaded, preprocessed, classified."""
    from core.explore import latents as explore
    from core.paths import SHIPPED_CHECKPOINTS
    from core.runs.store import load_run

    model = load_run(SHIPPED_CHECKPOINTS / "cae-z32-s0").model
    correct = 0
    for i in range(20):
        digit = (255 - mnist_splits.test_x[i, 0].numpy() * 255).round().astype(np.uint8)
        big = np.kron(digit, np.ones((8, 8), dtype=np.uint8))
        x = mnist_preprocess(image_from_bytes(png_bytes(big)))
        correct += int(explore.class_probabilities(model, x).argmax() == int(mnist_splits.test_y[i]))
    assert correct >= 19


# --- photos of paper: background removal ----------------------------------------------------------

#: MNIST test digits used as "handwriting": indices 0-9 (labels 7 2 1 0 4 1 4 9 5 9), 11 (6), 30 (3), 61 (8)
PHOTO_DIGITS = [*range(10), 11, 30, 61]


def assert_plain_sentence(message: str) -> None:
    """A message for a student: a sentence, no Python object reprs, class names or paths."""
    assert message.endswith(".") and message[0].isupper()
    for bad in ("<", ">", "object at", "Error", "BytesIO", "Exception", "/", "\\\\", "PIL"):
        assert bad not in message, (bad, message)


def paper_photo(digit: np.ndarray, kind: str, seed: int = 0) -> bytes:
    """A photo-like picture (file bytes) of an MNIST digit (28, 28) in [0, 1] written in dark ink.

    The digit is blown up 8 times (bicubic) and padded to 320 × 320; brightness = paper × (1 − ink)
    + pen × ink with pen 0.12 and paper:
    ``offwhite``: 0.86–0.90 (a faint horizontal wave), PNG;
    ``gradient``: left-to-right lighting 0.55 → 0.95, PNG;
    ``noisy``: the gradient plus Gaussian noise (sigma 0.05) and a slight blur (sigma 1 px), JPEG 85.
    """
    big = Image.fromarray((digit * 255).round().astype(np.uint8)).resize((224, 224), Image.BICUBIC)
    ink = np.pad(np.asarray(big, dtype=np.float32) / 255.0, 48)
    h, w = ink.shape
    if kind == "offwhite":
        paper = np.broadcast_to(0.88 + 0.02 * np.sin(np.linspace(0.0, 3.0, w)), (h, w))
    else:
        paper = np.broadcast_to(np.linspace(0.55, 0.95, w), (h, w))
    brightness = paper * (1.0 - ink) + 0.12 * ink
    if kind == "noisy":
        noise = np.random.default_rng(seed).normal(0.0, 0.05, brightness.shape)
        brightness = ndimage.gaussian_filter(brightness + noise, 1.0)
    picture = Image.fromarray((np.clip(brightness, 0.0, 1.0) * 255).round().astype(np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85) if kind == "noisy" else picture.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def judge():
    """The shipped judge classifier (checkpoints/judge-s0)."""
    from core.paths import SHIPPED_CHECKPOINTS
    from core.runs.store import load_run

    return load_run(SHIPPED_CHECKPOINTS / "judge-s0").model


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("kind", ["offwhite", "gradient", "noisy"])
def test_a_photo_of_a_digit_on_paper_reads_like_the_clean_digit(kind, mnist_splits, judge):
    """Before background removal the judge read 3, 9 and 9 of the first 100 test digits right in such
    photos (the 28 × 28 image was a grey square); now the 28 × 28 image matches the clean digit's."""
    from core.explore.latents import class_probabilities

    for i in PHOTO_DIGITS:
        digit, label = mnist_splits.test_x[i, 0].numpy(), int(mnist_splits.test_y[i])
        clean = mnist_preprocess(digit)
        seen = mnist_preprocess(image_from_bytes(paper_photo(digit, kind, seed=i), invert=True))
        assert correlation(seen, clean) > 0.85, i
        background = clean == 0
        assert seen[background].mean() < 0.02 and np.percentile(seen[background], 99) < 0.25, i
        assert seen.max() > clean.max() - 0.2, i  # the strokes are about as bright as the clean digit's
        assert int(class_probabilities(judge, seen).argmax()) == label, i


def test_clean_pictures_are_left_as_they_are(mnist_splits):
    """MNIST digits (white on exact black) go through background removal unchanged."""
    for i in range(50):
        digit = mnist_splits.test_x[i, 0].numpy()
        out = remove_background(digit)
        assert out.shape == digit.shape and out.dtype == np.float32
        assert np.abs(out - digit).max() < 0.02, i
        assert np.abs(mnist_preprocess(out) - mnist_preprocess(digit)).max() < 0.02, i


def test_a_clean_dark_on_white_upload_is_unchanged(mnist_splits):
    digit = mnist_splits.test_x[3, 0].numpy()
    big = np.kron(digit, np.ones((8, 8), dtype=np.float32))
    ink = image_from_bytes(png_bytes((255 - big * 255).round().astype(np.uint8)))
    assert np.abs(ink - big).max() < 0.02
    assert np.array_equal(image_from_bytes(png_bytes((255 - big * 255).round().astype(np.uint8)), clean=False),
                          1.0 - (255 - big * 255).round().astype(np.uint8) / np.float32(255.0))


def test_a_light_digit_on_a_dark_ground_is_read_the_right_way_round(mnist_splits, judge):
    """invert=True (the dashboard's default) on a clearly light-on-dark picture reads it as it is."""
    from core.explore.latents import class_probabilities

    digit = mnist_splits.test_x[0, 0].numpy()
    big = np.kron(digit, np.ones((8, 8), dtype=np.float32))
    data = png_bytes((big * 255).round().astype(np.uint8))
    assert np.array_equal(image_from_bytes(data, invert=True), image_from_bytes(data, invert=False))
    # a photo of chalk on a blackboard: light strokes (0.95) on a dark, unevenly lit ground (0.05 → 0.3)
    ground = np.broadcast_to(np.linspace(0.05, 0.3, 320), (320, 320))
    chalk = np.pad(np.asarray(Image.fromarray((digit * 255).round().astype(np.uint8)).resize((224, 224), Image.BICUBIC),
                              np.float32) / 255.0, 48)
    board = ground * (1.0 - chalk) + 0.95 * chalk
    seen = mnist_preprocess(image_from_bytes(png_bytes((board * 255).round().astype(np.uint8)), invert=True))
    assert correlation(seen, mnist_preprocess(digit)) > 0.85
    assert int(class_probabilities(judge, seen).argmax()) == int(mnist_splits.test_y[0])


def test_polarity_is_judged_from_the_border_not_from_the_lighting():
    lit = np.broadcast_to(np.linspace(0.55, 0.95, 200), (200, 200)).copy()
    assert not digit_is_light(lit)  # a lit page with nothing on it: not sure, so not light-on-dark
    dark_digit, light_digit = lit.copy(), np.broadcast_to(np.linspace(0.05, 0.3, 200), (200, 200)).copy()
    dark_digit[40:160, 90:110] = 0.1
    light_digit[40:160, 90:110] = 0.95
    assert not digit_is_light(dark_digit) and digit_is_light(light_digit)
    assert not digit_is_light(np.full((10, 10), 0.5))


def blank(kind: str) -> np.ndarray:
    rng = np.random.default_rng(1)
    return {
        "uniform-grey": np.full((200, 300), 0.8),
        "white": np.ones((120, 120)),
        "black": np.zeros((120, 120)),
        "uniform-noise": rng.random((200, 300)),
        "gaussian-noise": 0.5 + rng.normal(0.0, 0.15, (300, 300)),
        "lit-paper": np.broadcast_to(np.linspace(0.5, 0.95, 300), (200, 300)) + rng.normal(0.0, 0.03, (200, 300)),
    }[kind]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
@pytest.mark.parametrize("kind", ["uniform-grey", "white", "black", "uniform-noise", "gaussian-noise", "lit-paper"])
def test_a_picture_without_a_digit_is_an_empty_drawing(kind, fmt):
    picture = Image.fromarray((np.clip(blank(kind), 0, 1) * 255).round().astype(np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt)
    for invert in (True, False):
        ink = image_from_bytes(buffer.getvalue(), invert=invert)
        assert ink.max() == 0.0
        with pytest.raises(EmptyDrawing):
            mnist_preprocess(ink)


def test_remove_background_refuses_odd_arrays():
    for bad in (np.zeros((3, 3, 3)), np.full((4, 4), 2.0), np.full((4, 4), np.nan)):
        with pytest.raises(ValueError):
            remove_background(bad)


# --- file formats ----------------------------------------------------------------------------------

def encoded(picture: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def digit_pictures(digit: np.ndarray) -> dict[str, bytes]:
    """The same dark digit on white paper (224 × 224) in the formats and modes students upload."""
    grey = Image.fromarray(((1.0 - np.kron(digit, np.ones((8, 8)))) * 255).round().astype(np.uint8))
    ink = Image.fromarray((np.kron(digit, np.ones((8, 8))) * 255).round().astype(np.uint8))
    black = Image.new("L", grey.size, 0)
    white = Image.new("L", grey.size, 255)
    frames = [grey.convert("P"), Image.new("P", grey.size, 0)]
    return {
        "png-grey": encoded(grey, "PNG"),
        "png-rgb": encoded(grey.convert("RGB"), "PNG"),
        "png-1bit": encoded(grey.point(lambda v: 255 if v > 127 else 0).convert("1"), "PNG"),
        "png-palette": encoded(grey.convert("RGB").convert("P", palette=Image.ADAPTIVE, colors=16), "PNG"),
        "png-16bit": encoded(Image.fromarray(np.asarray(grey, np.uint16) * 257), "PNG"),
        # dark strokes on a transparent ground, and light strokes on a transparent ground
        "png-rgba-dark-strokes": encoded(Image.merge("RGBA", (black, black, black, ink)), "PNG"),
        "png-la-light-strokes": encoded(Image.merge("LA", (white, ink)), "PNG"),
        "png-palette-transparent": encoded(grey.convert("P"), "PNG", transparency=255),
        "jpeg": encoded(grey, "JPEG", quality=90),
        "jpeg-cmyk": encoded(grey.convert("CMYK"), "JPEG", quality=90),
        "bmp": encoded(grey.convert("RGB"), "BMP"),
        "gif": encoded(grey, "GIF"),
        "gif-animated": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100),
        "tiff": encoded(grey, "TIFF"),
    }


def test_every_kind_of_picture_gives_the_digit(mnist_splits):
    digit = mnist_splits.test_x[1, 0].numpy()
    clean = mnist_preprocess(digit)
    for name, data in digit_pictures(digit).items():
        ink = image_from_bytes(data, invert=True)
        assert ink.shape == (224, 224) and ink.dtype == np.float32, name
        assert correlation(mnist_preprocess(ink), clean) > 0.95, name


def test_the_camera_orientation_is_applied():
    paper = np.full((40, 80), 255, dtype=np.uint8)
    paper[10:30, 5:15] = 0
    picture = Image.fromarray(paper)
    exif = picture.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    ink = image_from_bytes(encoded(picture, "JPEG", exif=exif.tobytes()))
    assert ink.shape == (80, 40)


def test_other_formats_pil_knows_are_not_read():
    picture = Image.fromarray(np.zeros((20, 20), np.uint8))
    for fmt in ("PPM", "ICO", "PCX"):
        with pytest.raises(UploadError, match="not a picture Digit Lab can read"):
            image_from_bytes(encoded(picture, fmt))


@pytest.mark.parametrize("data", [
    b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,                      # a PNG signature and nothing sensible
    b"GIF89a" + b"\xff" * 20,
    b"\xff\xd8\xff\xe0" + b"\x00" * 10,                        # the start of a JPEG
    b"BM" + b"\x00" * 60,
    bytes(range(256)) * 4,
    "1,2,3\n4,5,6\n".encode(),
], ids=["png-signature", "gif-header", "jpeg-start", "bmp-header", "binary", "csv"])
def test_junk_bytes_give_a_sentence_for_the_user(data):
    with pytest.raises(UploadError) as caught:
        image_from_bytes(data)
    assert_plain_sentence(str(caught.value))
    assert "Upload a PNG, JPEG or BMP" in str(caught.value) or "upload it again" in str(caught.value)


def test_truncated_pictures_give_a_sentence_for_the_user(mnist_splits):
    pictures = digit_pictures(mnist_splits.test_x[1, 0].numpy())
    for name in ("png-grey", "jpeg", "bmp", "gif"):
        data = pictures[name]
        with pytest.raises(UploadError) as caught:
            image_from_bytes(data[: len(data) * 2 // 3])
        assert_plain_sentence(str(caught.value))


# --- the pixel budget ------------------------------------------------------------------------------

def png_of_zeros(width: int, height: int) -> bytes:
    """A valid 1-bit black PNG of any size, built row by row without holding the picture: a few
    kilobytes for 13,000 × 13,000 pixels (a decompression bomb: 169 megapixels when decoded)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte 0, then the bits
    body = b"".join(packer.compress(row * 500) for _ in range(height // 500))
    body += packer.compress(row * (height % 500)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.fixture
def no_decoding(monkeypatch):
    """Records every decoding of pixel data (PIL's ImageFile.load) while the test runs."""
    from PIL import ImageFile

    calls = []
    original = ImageFile.ImageFile.load

    def load(self):
        calls.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


def test_a_huge_picture_is_refused_before_it_is_decoded(no_decoding):
    import time
    import tracemalloc

    data = png_of_zeros(13_000, 13_000)
    assert len(data) < 100_000
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(UploadError) as caught:
        image_from_bytes(data)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert str(caught.value) == ("This picture is 13,000 × 13,000 pixels (169 megapixels); Digit Lab reads "
                                 "pictures up to 40 megapixels. Shrink it and upload it again.")
    assert no_decoding == []
    assert seconds < 0.5 and peak < 5_000_000


def test_a_picture_over_pils_own_bomb_limit_is_refused_in_the_same_words(no_decoding):
    with pytest.raises(UploadError) as caught:
        image_from_bytes(png_of_zeros(20_000, 20_000))
    assert str(caught.value) == ("This picture is 400 megapixels; Digit Lab reads pictures up to 40 megapixels. "
                                 "Shrink it and upload it again.")
    assert no_decoding == []


def test_the_pixel_budget_is_checked_before_decoding(monkeypatch, no_decoding):
    data = png_bytes(np.zeros((1000, 1500), np.uint8))
    monkeypatch.setattr(preprocess, "MAX_UPLOAD_PIXELS", 1_000_000)
    with pytest.raises(UploadError, match=r"1,500 × 1,000 pixels \(1\.5 megapixels\)"):
        image_from_bytes(data)
    assert no_decoding == []
    monkeypatch.setattr(preprocess, "MAX_UPLOAD_PIXELS", 1_500_000)
    assert image_from_bytes(data).shape == (1000, 1500)  # exactly at the budget: read


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(no_decoding):
    paper = np.full((3000, 4400), 230, dtype=np.uint8)
    paper[1000:2000, 2000:2150] = 20  # a dark bar: a "1"
    ink = image_from_bytes(encoded(Image.fromarray(paper), "JPEG", quality=80))
    assert ink.shape == (1396, 2048)
    assert set(no_decoding) == {(2200, 1500)}  # the decoder's 1/2 scale, never 4400 × 3000
    rows, cols = np.nonzero(ink > 0.5)
    assert abs(rows.mean() - 1500 * 1396 / 3000) < 10 and abs(cols.mean() - 2075 * 2048 / 4400) < 10
