"""The session archive (core/explore/archive.py): recording, CSV and zip exports."""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest

from core.explore.archive import MAX_ENTRIES, Archive, ArchiveEntry


def entry(key: str, digit: int, p: float = 0.9, labels=("CAE", "Judge")) -> ArchiveEntry:
    image = np.zeros((28, 28), np.float32)
    image[4:24, 13:15] = 1.0
    return ArchiveEntry(key=key, source="drawn", image=image, answers={lab: (digit, p) for lab in labels})


def test_a_growing_drawing_is_one_entry_and_a_new_one_starts_another():
    archive = Archive()
    archive.record(entry("drawn:0", 7, 0.4))
    archive.record(entry("drawn:0", 1, 0.95))  # the same drawing, answered again as it grew
    archive.record(entry("drawn:1", 3))
    archive.record(entry("upload:abc", 5, labels=("CVAE",)))
    assert len(archive) == 3
    assert [n for n, _ in archive.numbered()] == [1, 2, 3]
    assert archive.entries[0].answers["CAE"] == (1, 0.95)
    assert archive.labels() == ["CAE", "Judge", "CVAE"]
    assert archive.entries[0].image.dtype == np.uint8 and archive.entries[0].image.max() == 255


def test_csv_has_one_row_per_digit_and_blank_cells_for_absent_runs():
    archive = Archive()
    archive.record(entry("drawn:0", 1))
    archive.record(entry("upload:x", 5, 0.5, labels=("CVAE",)))
    rows = list(csv.reader(io.StringIO(archive.to_csv().decode("utf-8"))))
    assert rows[0][:5] == ["number", "time_utc", "source", "noise", "image"]
    assert rows[0][5:] == ["CAE: digit", "CAE: probability", "Judge: digit", "Judge: probability",
                           "CVAE: digit", "CVAE: probability", "true_digit"]
    assert rows[1][0] == "1" and rows[1][4] == "digits/0001.png" and rows[1][5:7] == ["1", "0.9000"]
    assert rows[2][5:9] == ["", "", "", ""] and rows[2][9:] == ["5", "0.5000", ""]
    assert len(rows) == 3


def test_zip_holds_every_image_and_the_csv():
    from PIL import Image

    archive = Archive()
    for i in range(3):
        archive.record(entry(f"drawn:{i}", i))
    with zipfile.ZipFile(io.BytesIO(archive.to_zip())) as z:
        assert sorted(z.namelist()) == ["archive.csv", "digits/0001.png", "digits/0002.png", "digits/0003.png"]
        image = np.asarray(Image.open(io.BytesIO(z.read("digits/0002.png"))))
        assert image.shape == (28, 28) and np.array_equal(image, archive.entries[1].image)
        assert z.read("archive.csv") == archive.to_csv()


def test_the_oldest_entries_go_first_and_numbers_stay():
    archive = Archive()
    for i in range(MAX_ENTRIES + 3):
        archive.record(entry(f"drawn:{i}", i % 10))
    numbers = [n for n, _ in archive.numbered()]
    assert len(archive) == MAX_ENTRIES and numbers[0] == 4 and numbers[-1] == MAX_ENTRIES + 3
    archive.clear()
    assert len(archive) == 0 and archive.to_csv().count(b"\n") == 1


def test_a_picture_of_the_wrong_size_is_refused_in_words():
    with pytest.raises(ValueError, match="28×28 pixels, not 32×32"):
        ArchiveEntry(key="k", source="drawn", image=np.zeros((32, 32)), answers={})


def test_a_number_read_again_replaces_its_digits_even_when_their_count_changes():
    archive = Archive()
    archive.record(entry("drawn:0", 7))
    archive.record_group([entry("number:0", 4), entry("number:0", 0)])  # "40" while still writing
    archive.record_group([entry("number:0", 4), entry("number:0", 0), entry("number:0", 7)])  # "407"
    assert [e.answers["CAE"][0] for e in archive.entries] == [7, 4, 0, 7]
    assert [n for n, _ in archive.numbered()] == [1, 2, 3, 4]
    archive.record_group([entry("number:1", 1)])
    assert [n for n, _ in archive.numbered()] == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="share one archive key"):
        archive.record_group([entry("number:2", 1), entry("number:3", 2)])
