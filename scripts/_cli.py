"""Shared helpers of the command-line scripts (argument types, the repository's root)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from core.paths import relative


def _whole_number_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number of at least {minimum}, got {value}")
        return value

    return parse


#: argparse type: an integer >= 1, refused with a clear message otherwise
positive_int = _whole_number_at_least(1)
#: argparse type: an integer >= 0
non_negative_int = _whole_number_at_least(0)


def positive_float(text: str) -> float:
    """argparse type: a float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def mnist_available() -> bool:
    """Fetch and verify MNIST if needed (progress printed); False, with the reason on stderr, when it
    cannot be had."""
    from core.data.mnist import DataError, ensure_mnist

    try:
        ensure_mnist(log=print)
    except DataError as exc:
        print(f"MNIST is not available: {exc}", file=sys.stderr)
        return False
    return True


def unwritable(folder: str | Path) -> str | None:
    """Why files cannot be written into ``folder`` (made with its parents when missing), in words
    naming the path as the user gave it (:func:`core.paths.relative`), or None when they can.

    Tried the way writing really fails, not from permission bits (root may write where they say
    no, and a read-only file system says no to root): a temporary file is created in ``folder``, or
    in the nearest folder above it that exists, and removed again. Nothing else is written.
    """
    folder = Path(folder)
    for existing in (folder, *folder.parents):
        try:
            if existing.exists():
                break
        except OSError as exc:  # e.g. a parent that may not be listed
            return f"{relative(existing)} cannot be read ({exc.strerror or type(exc).__name__})"
    if not existing.is_dir():
        return f"{relative(existing)} is a file, not a folder"
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-test-"):
            pass
    except OSError as exc:
        return f"{relative(existing)} cannot be written ({exc.strerror or type(exc).__name__})"
    return None
