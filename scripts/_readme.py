"""README.md's generated blocks: the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``.

A block is written by a command (``python scripts/evaluate.py --summary --readme`` writes the
``results`` block) and checked by tests/test_readme.py; nothing outside the markers is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.atomic import write_text
from core.paths import REPO_ROOT, relative

README = REPO_ROOT / "README.md"


class ReadmeError(ValueError):
    """README.md lacks a block's markers, has them twice or in the wrong order; the message says which."""


def markers(name: str) -> tuple[str, str]:
    """The start and end marker lines of block ``name``: ``<!-- name:start -->``, ``<!-- name:end -->``."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _span(text: str, name: str, where: str) -> tuple[int, int]:
    """Character offsets of the block's content in ``text``: after the start marker's line, up to the
    end marker's line."""
    start, end = markers(name)
    for marker in (start, end):
        count = text.count(marker)
        if count != 1:
            raise ReadmeError(f"{where} has {'no' if count == 0 else count} {marker} line{'s' if count > 1 else ''}; "
                              f"the {name} block needs exactly one {start} and one {end}")
    first, last = text.index(start) + len(start), text.index(end)
    if last < first:
        raise ReadmeError(f"{where}: {end} comes before {start}")
    if text[first:first + 1] == "\n":
        first += 1
    return first, last


def read_block(text: str, name: str, where: str = "README.md") -> str:
    """The lines between block ``name``'s markers in ``text``, without the final newline.

    Raises:
        ReadmeError: the markers are missing, doubled or in the wrong order (``where`` names the file).
    """
    first, last = _span(text, name, where)
    return text[first:last].rstrip("\n")


def replace_block(text: str, name: str, content: str, where: str = "README.md") -> str:
    """``text`` with the lines between block ``name``'s markers replaced by ``content``; the rest,
    markers included, is kept byte for byte.

    Raises:
        ReadmeError: the markers are missing, doubled or in the wrong order.
    """
    first, last = _span(text, name, where)
    return text[:first] + content.rstrip("\n") + "\n" + text[last:]


def write_block(name: str, content: str, path: str | os.PathLike = README) -> bool:
    """Write ``content`` into block ``name`` of the Markdown file at ``path`` (atomically: an
    interrupted write leaves the old file); True when the file changed, False when it already held it.

    Raises:
        ReadmeError: the file is missing or its markers are missing, doubled or out of order (the
            file is left as it is).
    """
    path = Path(path)
    where = relative(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReadmeError(f"no file {where}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReadmeError(f"{where} cannot be read: {exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'}") from None
    new = replace_block(text, name, content, where)
    if new == text:
        return False
    write_text(path, new)
    return True
