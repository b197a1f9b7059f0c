"""The upload service's archive (seed 002's ``/archive`` page): every digit classified in a session.

Seed 002 (Podoliak et al., ../shared/seeds/002_9f7c847ee0c5a580.txt) serves uploads through a web
service with an archive of what was classified. Here an :class:`Archive` lives in one browser
session (the dashboard keeps it in that session's state: one visitor never sees another's digits)
and holds one :class:`ArchiveEntry` per drawing or upload: while a drawing grows, its entry is
updated in place (the models answer several times a second as the pen moves); a new drawing or
another upload starts a new entry. It exports as CSV and as a zip of the 28×28 PNGs with the CSV.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

#: the most entries kept per session (the oldest are dropped first)
MAX_ENTRIES = 500


@dataclass
class ArchiveEntry:
    """One classified digit.

    Attributes:
        key: identifies the drawing or upload; a later classification with the same key replaces
            this entry.
        source: "drawn", or "uploaded: FILE NAME"; a digit of a number read on the Read a number
            page adds ", digit K of N" (e.g. "number drawn, digit 2 of 4").
        image: uint8 (28, 28), what the models saw (after the MNIST preprocessing and any noise).
        answers: run label -> (digit read, its probability in [0, 1]), in the order shown.
        noise: the noise put on the input ("" for none), e.g. "Gaussian noise σ (pixel units) 0.2".
        time: when it was classified, UTC, ISO 8601 to the second.
    """

    key: str
    source: str
    image: np.ndarray
    answers: dict[str, tuple[int, float]]
    noise: str = ""
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self):
        image = np.asarray(self.image)
        if image.shape != (28, 28):
            raise ValueError(f"an archived digit is 28×28 pixels, not {'×'.join(map(str, image.shape))}")
        if image.dtype != np.uint8:
            image = (np.clip(image.astype(np.float64), 0.0, 1.0) * 255).round().astype(np.uint8)
        self.image = image


class Archive:
    """The digits classified in one session, oldest first (at most :data:`MAX_ENTRIES`)."""

    def __init__(self):
        self.entries: list[ArchiveEntry] = []
        self._number = 0  # entries ever started (their numbers stay put when old ones are dropped)
        self._numbers: list[int] = []

    def __len__(self) -> int:
        return len(self.entries)

    def record(self, entry: ArchiveEntry) -> None:
        """Add ``entry``, or replace the newest entry when it has the same ``key``."""
        self.record_group([entry])

    def record_group(self, entries: list[ArchiveEntry]) -> None:
        """Add the digits of one input (e.g. the digits of a number, left to right), replacing the
        newest entries when they came from the same input (same ``key``): a number read again as
        it is written replaces its previous reading, even when the count of digits changed.

        Raises:
            ValueError: the entries do not share one key.
        """
        if not entries:
            return
        key = entries[0].key
        if any(entry.key != key for entry in entries):
            raise ValueError("the digits of one input share one archive key")
        while self.entries and self.entries[-1].key == key:  # the same input's previous reading
            self.entries.pop()
            self._numbers.pop()
            self._number -= 1
        for entry in entries:
            self._number += 1
            self.entries.append(entry)
            self._numbers.append(self._number)
        while len(self.entries) > MAX_ENTRIES:
            del self.entries[0], self._numbers[0]

    def clear(self) -> None:
        """Forget every entry."""
        self.entries.clear()
        self._numbers.clear()

    def numbered(self) -> list[tuple[int, ArchiveEntry]]:
        """(number, entry) pairs, oldest first; numbers start at 1 and never change."""
        return list(zip(self._numbers, self.entries))

    def labels(self) -> list[str]:
        """Every run label that answered, in order of first appearance."""
        return list(dict.fromkeys(label for entry in self.entries for label in entry.answers))

    def to_csv(self) -> bytes:
        """UTF-8 CSV: number, time, source, noise, image file (in the zip), then a digit and a
        probability column per run label (empty where that run did not answer)."""
        labels = self.labels()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["number", "time_utc", "source", "noise", "image"]
                        + [c for label in labels for c in (f"{label}: digit", f"{label}: probability")])
        for number, entry in self.numbered():
            row = [number, entry.time, entry.source, entry.noise, _png_name(number)]
            for label in labels:
                digit, p = entry.answers.get(label, ("", ""))
                row += [digit, "" if p == "" else f"{float(p):.4f}"]
            writer.writerow(row)
        return out.getvalue().encode("utf-8")

    def to_zip(self) -> bytes:
        """A zip of ``digits/NNNN.png`` (the 28×28 images, grey, ink white) and ``archive.csv``."""
        from PIL import Image

        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("archive.csv", self.to_csv())
            for number, entry in self.numbered():
                png = io.BytesIO()
                Image.fromarray(entry.image, mode="L").save(png, format="PNG")
                archive.writestr(_png_name(number), png.getvalue())
        return buffer.getvalue()


def _png_name(number: int) -> str:
    return f"digits/{number:04d}.png"
