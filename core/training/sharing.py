"""Share a run trained from the dashboard by link.

A user's runs (``<user runs>/<browser id>/<run>``, see :mod:`core.training.jobs`) are visible to the
browser that trained them only. Sharing one writes a share file ``<user runs>/shares/<token>`` naming
it, where ``token`` is a fresh random 32-hexadecimal-digit secret: whoever holds a link with that
token (``?shared=<token>``) sees the run in every view, read-only; nobody can list the shares nor
guess a token. Stopping the share removes the file; a run that is deleted (by its owner or the
disk cap) leaves its share pointing nowhere, which :func:`resolve` reports in words.

Torch-free, like the rest of the run files' plumbing.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from core.atomic import write_text
from core.paths import BROWSER_ID, browser_folder

SHARES = "shares"  # the folder of share files under the user-runs root (not a browser id: ids are hexadecimal)
TOKEN = BROWSER_ID  # a token has the form of a browser id: 32 lowercase hexadecimal digits


class ShareError(ValueError):
    """A link's share token that does not lead to a run; ``str()`` is a sentence for the user."""


def _shares(root: str | os.PathLike) -> Path:
    return Path(root) / SHARES


def _entries(root: str | os.PathLike) -> dict[str, str]:
    """Every share file's token and the ``<owner>/<run>`` it names (unreadable files skipped)."""
    found = {}
    try:
        paths = list(_shares(root).iterdir())
    except OSError:
        return found
    for path in paths:
        if TOKEN.fullmatch(path.name) is None:
            continue
        try:
            found[path.name] = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
    return found


def share_token(root: str | os.PathLike, owner: str, run: str) -> str | None:
    """The token that shares ``owner``'s run ``run``, or None when it is not shared."""
    target = f"{owner}/{run}"
    return next((token for token, named in sorted(_entries(root).items()) if named == target), None)


def share(root: str | os.PathLike, owner: str, run: str) -> str:
    """Share ``owner``'s finished run ``run`` (the same token when it is shared already); returns the token.

    Raises:
        ShareError: there is no such finished run (nothing is written).
        ValueError: ``owner`` is not a browser id.
    """
    path = browser_folder(root, owner) / run
    if Path(run).name != run or run.startswith(".") or not (path / "config.json").is_file():
        raise ShareError("Only a finished training can be shared.")
    token = share_token(root, owner, run)
    if token is None:
        token = secrets.token_hex(16)
        _shares(root).mkdir(parents=True, exist_ok=True)
        write_text(_shares(root) / token, f"{owner}/{run}\n")
    return token


def unshare(root: str | os.PathLike, owner: str, run: str) -> None:
    """Stop sharing ``owner``'s run ``run``: its links lead nowhere from now on (nothing if not shared)."""
    target = f"{owner}/{run}"
    for token, named in _entries(root).items():
        if named == target:
            (_shares(root) / token).unlink(missing_ok=True)


def resolve(root: str | os.PathLike, token: str) -> Path:
    """The run folder a share token leads to.

    Raises:
        ShareError: the token is malformed, unknown (never shared, or shared no longer) or its run was deleted.
    """
    if not isinstance(token, str) or TOKEN.fullmatch(token.strip().lower()) is None:
        raise ShareError("This link's shared run is not valid: its code should be 32 letters and digits. "
                         "Ask for the link again.")
    try:
        named = (_shares(root) / token.strip().lower()).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise ShareError("This link's run is not shared any more (or never was). Ask its owner for a new link.") from None
    owner, _, run = named.partition("/")
    try:
        path = browser_folder(root, owner) / run
    except ValueError:
        raise ShareError("This link's run is not shared any more (or never was). Ask its owner for a new link.") from None
    if Path(run).name != run or not (path / "config.json").is_file():
        raise ShareError("The run this link shared has been deleted from this server.")
    return path
