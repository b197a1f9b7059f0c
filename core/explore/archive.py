"""The upload service's archive (seed 002's ``/archive`` page): every digit classified in a browser.

Seed 002 (Podoliak et al., ../shared/seeds/002_9f7c847ee0c5a580.txt) serves uploads through a web
service with an archive of what was classified. Here an :class:`Archive` belongs to one browser and
holds one :class:`ArchiveEntry` per drawing or upload: while a drawing grows, its entry is updated in
place (the models answer several times a second as the pen moves); a new drawing or another upload
starts a new entry. The user may add the true digit of an entry, and the archive then gives each
model's accuracy on that handwriting (:meth:`Archive.truth_tally`). It exports as CSV and as a zip of
the 28×28 PNGs with the CSV.

:class:`ArchiveStore` keeps each browser's archive on the server, one JSON file per browser under
``core.paths.cache_root()/archives/`` named by the browser's random id (written atomically), so that
it survives reloads and browser restarts and no other browser can reach it (the id is 128 random
bits that only that browser holds). Caps: :data:`MAX_ENTRIES` digits per browser, and over all
browsers :data:`MAX_BROWSERS` archives, :data:`MAX_TOTAL_BYTES` bytes and :data:`MAX_AGE_DAYS` days
since an archive last changed (the oldest go first).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import os
import threading
import time as _time
import zipfile
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from core.atomic import write_text
from core.paths import BROWSER_ID, cache_root

#: the most entries kept per browser (the oldest are dropped first)
MAX_ENTRIES = 500
#: the most browsers whose archives the server keeps (the least recently changed are dropped first)
MAX_BROWSERS = 1000
#: the most bytes all archives together may take on the server (the least recently changed go first)
MAX_TOTAL_BYTES = 200 * 1024 * 1024
#: an archive unchanged for this many days is removed
MAX_AGE_DAYS = 90
#: a browser id: 128 random bits as 32 lowercase hexadecimal digits (nothing else is ever a file name)
_FORMAT = "digitlab-archive"
_VERSION = 1


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
        noise: the noise put on the input ("" for none), e.g. "Gaussian noise, σ 0.2 (seed 0)".
        time: when it was classified, UTC, ISO 8601 to the second.
        truth: the digit the user says it is (0–9), or None when not said.

    Raises:
        ValueError: the image is not 28×28, or ``truth`` is not None or a digit 0–9.
    """

    key: str
    source: str
    image: np.ndarray
    answers: dict[str, tuple[int, float]]
    noise: str = ""
    time: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    truth: int | None = None

    def __post_init__(self):
        image = np.asarray(self.image)
        if image.shape != (28, 28):
            raise ValueError(f"an archived digit is 28×28 pixels, not {'×'.join(map(str, image.shape))}")
        if image.dtype != np.uint8:
            image = (np.clip(image.astype(np.float64), 0.0, 1.0) * 255).round().astype(np.uint8)
        self.image = image
        self.truth = _digit_or_none(self.truth)

    def to_json(self, number: int) -> dict:
        """This entry as plain JSON values (the image as base64 of its 784 bytes), numbered ``number``."""
        return {"number": int(number), "key": self.key, "source": self.source, "noise": self.noise,
                "time": self.time, "truth": self.truth,
                "answers": {label: [int(d), float(p)] for label, (d, p) in self.answers.items()},
                "image": base64.b64encode(np.ascontiguousarray(self.image).tobytes()).decode("ascii")}

    @classmethod
    def from_json(cls, data: dict) -> tuple[int, ArchiveEntry]:
        """``(number, entry)`` from :meth:`to_json`'s output.

        Raises:
            ValueError: a field is missing or of the wrong kind (a damaged file).
        """
        try:
            raw = base64.b64decode(data["image"], validate=True)
            if len(raw) != 28 * 28:
                raise ValueError("an archived image is not 784 bytes")
            answers = {str(label): (int(d), float(p)) for label, (d, p) in dict(data["answers"]).items()}
            entry = cls(key=str(data["key"]), source=str(data["source"]), noise=str(data["noise"]),
                        time=str(data["time"]), truth=data.get("truth"), answers=answers,
                        image=np.frombuffer(raw, np.uint8).reshape(28, 28).copy())
            return int(data["number"]), entry
        except (KeyError, TypeError, AttributeError, binascii.Error) as exc:
            raise ValueError(f"an archive entry is damaged ({type(exc).__name__})") from None


def _encoded(number: int, entry: ArchiveEntry) -> str:
    """``entry.to_json(number)`` as JSON text, kept on the entry while its number and true digit stay
    (an archive is written whole after each change: only the changed entry is encoded again)."""
    held = getattr(entry, "_encoded", None)
    if held is None or held[0] != (number, entry.truth):
        held = ((number, entry.truth), json.dumps(entry.to_json(number), ensure_ascii=False, separators=(",", ":")))
        entry._encoded = held
    return held[1]


def _digit_or_none(value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= int(value) <= 9:
        raise ValueError(f"a true digit is one of 0–9, not {value!r}")
    return int(value)


class Archive:
    """The digits classified in one browser, oldest first (at most :data:`MAX_ENTRIES`).

    An archive opened from an :class:`ArchiveStore` saves itself after every change; one made with
    ``Archive()`` lives in memory only. Its methods may be called from several threads (two tabs of
    one browser share one archive). ``problem`` is a sentence for the user when the stored archive
    could not be read (it then starts empty), else "".
    """

    def __init__(self):
        self.entries: list[ArchiveEntry] = []
        self._number = 0  # entries ever started (their numbers stay put when old ones are dropped)
        self._numbers: list[int] = []
        self._lock = threading.RLock()
        self._save: Callable[[Archive], None] | None = None
        self.problem = ""

    def __len__(self) -> int:
        return len(self.entries)

    def record(self, entry: ArchiveEntry) -> None:
        """Add ``entry``, or replace the entry with the same ``key`` (its number kept)."""
        self.record_group([entry])

    def record_group(self, entries: list[ArchiveEntry]) -> None:
        """Add the digits of one input (e.g. the digits of a number, left to right), replacing the
        entries that came from the same input (same ``key``): a number read again as it is written
        replaces its previous reading, even when the count of digits changed. Replaced entries keep
        their numbers when as many digits come back, and their true digits when the new entries
        say none; otherwise the old ones are removed and the new ones added as the newest.

        Raises:
            ValueError: the entries do not share one key.
        """
        if not entries:
            return
        key = entries[0].key
        if any(entry.key != key for entry in entries):
            raise ValueError("the digits of one input share one archive key")
        with self._lock:
            old = [i for i, entry in enumerate(self.entries) if entry.key == key]
            for i, entry in zip(old, entries):
                if entry.truth is None:
                    entry.truth = self.entries[i].truth
            if old and len(old) == len(entries):  # the same input answered again: in place
                for i, entry in zip(old, entries):
                    self.entries[i] = entry
            else:
                if old and old[-1] == len(self.entries) - 1 and old == list(range(old[0], len(self.entries))):
                    self._number = self._numbers[old[0]] - 1  # the newest entries: their numbers are reused
                for i in reversed(old):
                    del self.entries[i], self._numbers[i]
                for entry in entries:
                    self._number += 1
                    self.entries.append(entry)
                    self._numbers.append(self._number)
                while len(self.entries) > MAX_ENTRIES:
                    del self.entries[0], self._numbers[0]
            self._changed()

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self.entries.clear()
            self._numbers.clear()
            self._changed()

    def numbered(self) -> list[tuple[int, ArchiveEntry]]:
        """(number, entry) pairs, oldest first; numbers start at 1 and never change."""
        with self._lock:
            return list(zip(self._numbers, self.entries))

    def entry_for(self, key: str) -> ArchiveEntry | None:
        """The newest entry recorded with ``key``, or None."""
        with self._lock:
            return next((entry for entry in reversed(self.entries) if entry.key == key), None)

    def set_truth(self, number: int, digit: int | None) -> None:
        """Say which digit entry ``number`` really is (None: not said).

        Raises:
            ValueError: ``digit`` is not None or 0–9.
            KeyError: no entry has that number.
        """
        digit = _digit_or_none(digit)
        with self._lock:
            if number not in self._numbers:
                raise KeyError(f"no archive entry numbered {number}")
            self.entries[self._numbers.index(number)].truth = digit
            self._changed()

    def set_truth_of(self, key: str, digit: int | None) -> None:
        """Say which digit the entries recorded with ``key`` really are (None: not said); nothing
        happens when there are none.

        Raises:
            ValueError: ``digit`` is not None or 0–9.
        """
        digit = _digit_or_none(digit)
        with self._lock:
            hits = [entry for entry in self.entries if entry.key == key]
            for entry in hits:
                entry.truth = digit
            if hits:
                self._changed()

    def labels(self) -> list[str]:
        """Every run label that answered, in order of first appearance."""
        with self._lock:
            return list(dict.fromkeys(label for entry in self.entries for label in entry.answers))

    def truth_tally(self) -> list[tuple[str, int, int]]:
        """Each run's answers against the true digits the user gave: ``(label, right, n)`` per label (in
        :meth:`labels` order), ``n`` the entries with a true digit that the run answered, ``right``
        those it read as that digit (labels with ``n == 0`` are left out); its accuracy on this
        handwriting is ``right / n``. A tally of stored answers: a model's accuracy from its outputs
        is :func:`core.evaluation.metrics.accuracy`."""
        with self._lock:
            out = []
            for label in self.labels():
                judged = [(entry.answers[label][0], entry.truth) for entry in self.entries
                          if entry.truth is not None and label in entry.answers]
                if judged:
                    out.append((label, sum(int(d == t) for d, t in judged), len(judged)))
            return out

    def to_csv(self) -> bytes:
        """UTF-8 CSV: number, time, source, noise, image file (in the zip), then a digit and a
        probability column per run label (empty where that run did not answer), then the true digit
        (empty where not said)."""
        labels = self.labels()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["number", "time_utc", "source", "noise", "image"]
                        + [c for label in labels for c in (f"{label}: digit", f"{label}: probability")]
                        + ["true_digit"])
        for number, entry in self.numbered():
            row = [number, entry.time, entry.source, entry.noise, _png_name(number)]
            for label in labels:
                digit, p = entry.answers.get(label, ("", ""))
                row += [digit, "" if p == "" else f"{float(p):.4f}"]
            writer.writerow(row + ["" if entry.truth is None else entry.truth])
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

    def to_json(self) -> str:
        """The whole archive as one JSON document (what :class:`ArchiveStore` writes)."""
        with self._lock:
            head = json.dumps({"format": _FORMAT, "version": _VERSION, "last_number": self._number},
                              ensure_ascii=False, separators=(",", ":"))
            return head[:-1] + ',"entries":[' + ",".join(map(_encoded, self._numbers, self.entries)) + "]}"

    @classmethod
    def from_json(cls, text: str) -> Archive:
        """An archive from :meth:`to_json`'s output.

        Raises:
            ValueError: not such a document (damaged, truncated, another format), or its numbers
                are not increasing.
        """
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise ValueError("not a JSON document") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("entries"), list):
            raise ValueError("not a Digit Lab archive")
        if data.get("version") != _VERSION:
            raise ValueError(f"an archive of another version ({data.get('version')!r})")
        archive = cls()
        for item in data["entries"][-MAX_ENTRIES:]:
            if not isinstance(item, dict):
                raise ValueError("an archive entry is damaged")
            number, entry = ArchiveEntry.from_json(item)
            if archive._numbers and number <= archive._numbers[-1]:
                raise ValueError("the archive's numbers are not increasing")
            archive.entries.append(entry)
            archive._numbers.append(number)
        last = data.get("last_number")
        if not isinstance(last, int) or isinstance(last, bool) or last < (archive._numbers[-1] if archive._numbers else 0):
            raise ValueError("the archive's count is damaged")
        archive._number = last
        return archive

    def _changed(self) -> None:
        if self._save is not None:
            self._save(self)


class ArchiveStore:
    """Each browser's :class:`Archive`, kept on the server: ``<root>/<browser id>.json``.

    Args:
        root: the folder (default ``core.paths.cache_root() / "archives"``, read when first used).
        max_browsers, max_bytes, max_age_days: the caps over all browsers (defaults
            :data:`MAX_BROWSERS`, :data:`MAX_TOTAL_BYTES`, :data:`MAX_AGE_DAYS`); when a file is
            written and they are exceeded, the archives changed longest ago are removed first (never
            the one just written).
        memory: how many browsers' archives are kept in memory (read again from disk when evicted).

    An archive is read once and kept in memory, read again when its file changed (same file size and
    modification time: the same archive), and written whole, atomically, after each change.
    """

    def __init__(self, root: str | os.PathLike | None = None, max_browsers: int = MAX_BROWSERS,
                 max_bytes: int = MAX_TOTAL_BYTES, max_age_days: float = MAX_AGE_DAYS, memory: int = 64):
        self._root = None if root is None else Path(root)
        self.max_browsers, self.max_bytes, self.max_age_days = int(max_browsers), int(max_bytes), float(max_age_days)
        self._memory = int(memory)
        self._open: OrderedDict[str, tuple[tuple, Archive]] = OrderedDict()
        self._lock = threading.Lock()
        self._last_prune = 0.0

    @property
    def root(self) -> Path:
        """The folder of the archive files."""
        return self._root if self._root is not None else cache_root() / "archives"

    @staticmethod
    def valid_id(browser_id: object) -> bool:
        """True when ``browser_id`` has the form of a browser id (32 lowercase hex digits): only such
        ids ever name a file, so no id can reach outside :attr:`root`."""
        return isinstance(browser_id, str) and BROWSER_ID.fullmatch(browser_id) is not None

    def path(self, browser_id: str) -> Path:
        """The archive file of ``browser_id``.

        Raises:
            ValueError: not a valid browser id.
        """
        if not self.valid_id(browser_id):
            raise ValueError("not a browser id (32 lowercase hexadecimal digits)")
        return self.root / f"{browser_id}.json"

    def open(self, browser_id: str) -> Archive:
        """The archive of ``browser_id``: empty when it has none yet; empty with a ``problem``
        sentence when its file cannot be read (the file is replaced at the next change; no other
        browser's archive is touched). It saves itself on every change.

        Raises:
            ValueError: not a valid browser id.
        """
        path = self.path(browser_id)
        with self._lock:
            signature = _signature(path)
            held = self._open.get(browser_id)
            if held is not None and held[0] == signature:
                self._open.move_to_end(browser_id)
                return held[1]
            archive, problem = Archive(), ""
            if signature is not None:
                try:
                    archive = Archive.from_json(path.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError, ValueError):
                    problem = ("This browser's archive on the server was damaged and could not be read, so it "
                               "starts again empty; the next digit you draw replaces the damaged file.")
            archive.problem = problem
            archive._save = lambda a, bid=browser_id: self._write(bid, a)
            self._open[browser_id] = (signature, archive)
            self._open.move_to_end(browser_id)
            while len(self._open) > self._memory:
                self._open.popitem(last=False)
            return archive

    def clear(self, browser_id: str) -> None:
        """Empty the archive of ``browser_id`` (its file removed).

        Raises:
            ValueError: not a valid browser id.
        """
        self.open(browser_id).clear()

    def _write(self, browser_id: str, archive: Archive) -> None:
        path = self.path(browser_id)
        with self._lock:
            new = not path.exists()
            if archive.entries:
                write_text(path, archive.to_json())
            else:
                try:
                    path.unlink()
                except FileNotFoundError:
                    pass
            archive.problem = ""
            self._open[browser_id] = (_signature(path), archive)
            if new or _time.monotonic() - self._last_prune > 60:
                self._prune(keep=path)

    def _prune(self, keep: Path) -> None:
        """Remove the archives older than the age cap, then the least recently changed ones while
        over the browser or byte cap (never ``keep``). Called with the lock held."""
        self._last_prune = _time.monotonic()
        files = []
        try:
            with os.scandir(self.root) as found:
                for item in found:
                    name = item.name
                    if not (name.endswith(".json") and self.valid_id(name[:-5])):
                        continue
                    try:
                        stat = item.stat()
                    except OSError:
                        continue
                    files.append((stat.st_mtime, stat.st_size, Path(item.path)))
        except OSError:
            return
        files.sort(key=lambda f: f[0])
        limit = _time.time() - self.max_age_days * 86400
        count, total = len(files), sum(size for _, size, _ in files)
        for mtime, size, path in files:
            if path == keep:
                continue
            if mtime >= limit and count <= self.max_browsers and total <= self.max_bytes:
                break
            try:
                path.unlink()
            except OSError:
                continue
            count, total = count - 1, total - size
            self._open.pop(path.name[:-5], None)


def _signature(path: Path) -> tuple | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _png_name(number: int) -> str:
    return f"digits/{number:04d}.png"
