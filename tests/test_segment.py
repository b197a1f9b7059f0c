"""Cutting a picture of a number into digits (core/data/segment.py) on synthetic pictures."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.preprocess import EmptyDrawing
from core.data.segment import MAX_DIGITS, TooManyDigits, digit_images, find_digits, synthetic_strip


def bar(canvas, top, bottom, left, right):
    canvas[top:bottom, left:right] = 1.0


def test_spaced_digits_are_found_left_to_right():
    canvas = np.zeros((60, 200), np.float32)
    for left in (150, 10, 80):  # drawn out of order
        bar(canvas, 10, 50, left, left + 6)
        bar(canvas, 10, 14, left, left + 25)
    boxes = find_digits(canvas)
    assert [b.left for b in boxes] == [10, 80, 150] and all(b.height == 40 for b in boxes)
    assert digit_images(canvas, boxes).shape == (3, 1, 28, 28)


def test_a_broken_stroke_stays_one_digit():
    canvas = np.zeros((60, 120), np.float32)
    bar(canvas, 20, 50, 10, 16)   # the body of a 5 ...
    bar(canvas, 10, 14, 14, 40)   # ... and its bar, not touching (a short piece: joins the nearest digit)
    bar(canvas, 10, 50, 70, 76)   # a 1
    boxes = find_digits(canvas)
    assert len(boxes) == 2 and boxes[0].left == 10 and boxes[0].right == 40 and boxes[0].top == 10


def test_touching_digits_are_cut_where_the_ink_is_thinnest():
    canvas = np.zeros((60, 200), np.float32)
    for left in (10, 60):         # two separate, 30 wide
        bar(canvas, 10, 50, left, left + 30)
    bar(canvas, 10, 50, 110, 140)  # and two that touch through a thin bridge
    bar(canvas, 10, 50, 142, 172)
    bar(canvas, 29, 31, 140, 142)
    boxes = find_digits(canvas)
    assert len(boxes) == 4 and abs(boxes[2].right - 141) <= 2 and abs(boxes[3].left - 141) <= 2


def test_no_ink_and_too_many_marks_get_sentences():
    with pytest.raises(EmptyDrawing, match="no ink"):
        find_digits(np.zeros((40, 40)))
    dots = np.zeros((40, 20 * (MAX_DIGITS + 2)), np.float32)
    for k in range(MAX_DIGITS + 1):
        bar(dots, 5, 35, 20 * k + 5, 20 * k + 12)
    with pytest.raises(TooManyDigits, match=f"13 separate marks; a number here has at most {MAX_DIGITS}"):
        find_digits(dots)


def test_synthetic_strips_are_reproducible():
    digits = np.zeros((4, 28, 28), np.uint8)
    digits[:, 6:22, 12:16] = 255
    a = synthetic_strip(digits, np.random.default_rng(3))
    b = synthetic_strip(digits, np.random.default_rng(3))
    assert np.array_equal(a, b) and a.shape[0] == 56 and a.max() == pytest.approx(1.0)
    assert not np.array_equal(a, synthetic_strip(digits, np.random.default_rng(4)))


def test_a_reader_decides_how_a_touching_pair_is_cut(mnist_splits):
    """Two MNIST digits pasted so that they touch: the judge-guided cut finds both."""
    from core.paths import SHIPPED_CHECKPOINTS
    from core.runs.catalog import read_run

    judge = read_run(SHIPPED_CHECKPOINTS / "judge-s0").model
    x, y = mnist_splits.test_x, mnist_splits.test_y
    a, b = int((y == 4).nonzero()[0, 0]), int((y == 7).nonzero()[0, 0])
    canvas = np.zeros((28, 60), np.float32)
    canvas[:, 4:32] = x[a, 0].numpy()
    np.maximum(canvas[:, 22:50], x[b, 0].numpy(), out=canvas[:, 22:50])  # overlapping by 10 columns

    def reader(images):
        import torch

        with torch.no_grad():
            return judge.classify(torch.from_numpy(images)).exp().numpy()

    boxes = find_digits(canvas, reader=reader)
    assert len(boxes) == 2
    assert reader(digit_images(canvas, boxes)).argmax(1).tolist() == [4, 7]


def test_the_reading_benchmark_script_end_to_end(tmp_path):
    import json

    from scripts import read_numbers

    out = tmp_path / "reading.json"
    assert read_numbers.main(["--strips", "12", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["strips"] == 12 and 3 * 12 <= result["digits"] <= 8 * 12
    assert 0 <= result["count_right"] <= 1 and result["cut_reader"].startswith("Judge")
    judge = result["readers"]["judge-s0"]
    assert judge["number_accuracy"] <= result["count_right"] + 1e-9  # a number is read only when cut right
