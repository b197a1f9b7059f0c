"""MNIST-style preprocessing of drawings (core.preprocess)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from core.preprocess import EmptyDrawing, image_from_bytes, mnist_preprocess, to_grayscale


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


@pytest.mark.parametrize("data", [b"", b"hello, not an image", NOISE_PNG[: len(NOISE_PNG) // 2]],
                         ids=["empty", "text", "truncated-png"])
def test_odd_uploads_are_refused_with_a_clear_message(data):
    with pytest.raises(ValueError, match="not a readable image"):
        image_from_bytes(data)


def test_huge_uploads_are_shrunk():
    ink = image_from_bytes(png_bytes(np.zeros((3000, 1500), np.uint8)))
    assert max(ink.shape) == 2048 and ink.shape[0] == 2 * ink.shape[1]


def test_an_uploaded_mnist_digit_is_classified_by_the_shipped_model(mnist_splits):
    """A real test digit, saved as dark-on-white PNG, uploaded, preprocessed, classified."""
    from core import explore
    from core.checkpoints import DEFAULT_CHECKPOINT_DIR, load_run

    model = load_run(DEFAULT_CHECKPOINT_DIR / "cae-z32-s0").model
    correct = 0
    for i in range(20):
        digit = (255 - mnist_splits.test_x[i, 0].numpy() * 255).round().astype(np.uint8)
        big = np.kron(digit, np.ones((8, 8), dtype=np.uint8))
        x = mnist_preprocess(image_from_bytes(png_bytes(big)))
        correct += int(explore.class_probabilities(model, x).argmax() == int(mnist_splits.test_y[i]))
    assert correct >= 19
