"""Where Digit Lab's files live: the one place that knows the repository's folders.

Every module and script asks here instead of computing paths from ``__file__``:

* :data:`REPO_ROOT`: the checkout (or installed tree) holding ``core/``;
* :func:`checkpoint_root`: the run folders, ``$DIGITLAB_CHECKPOINTS`` when set, else the shipped
  ``checkpoints/`` (:data:`SHIPPED_CHECKPOINTS`); the dashboard and every script honour it;
* :func:`data_dir`: MNIST, ``$DIGITLAB_DATA`` when set, else ``data/`` (never in git);
* :func:`cache_root`: features, projections and downloads, ``$DIGITLAB_CACHE`` when set, else
  ``.cache/`` (never in git);
* :data:`EXPERIMENTS_DIR`: the experiment files (``experiments/*.toml``);
* :func:`user_runs_root`: runs trained from the dashboard, one folder per browser,
  ``$DIGITLAB_USER_RUNS`` when set, else ``.cache/user-runs`` (never in git), and :func:`browser_folder`,
  the one check that a browser's id may name a folder.

Nothing here imports anything but the standard library.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_CHECKPOINTS = REPO_ROOT / "checkpoints"
EXPERIMENTS_DIR = REPO_ROOT / "experiments"

CHECKPOINTS_ENV_VAR = "DIGITLAB_CHECKPOINTS"
DATA_ENV_VAR = "DIGITLAB_DATA"
CACHE_ENV_VAR = "DIGITLAB_CACHE"
USER_RUNS_ENV_VAR = "DIGITLAB_USER_RUNS"
#: a browser's id (made by the browser: 128 random bits as 32 lowercase hexadecimal digits)
BROWSER_ID = re.compile(r"[0-9a-f]{32}")


def checkpoint_root() -> Path:
    """Folder of the run folders: ``$DIGITLAB_CHECKPOINTS`` when set (and not empty), else the
    shipped ``checkpoints/``."""
    env = os.environ.get(CHECKPOINTS_ENV_VAR)
    return Path(env) if env else SHIPPED_CHECKPOINTS


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The data directory: ``root`` if given, else ``$DIGITLAB_DATA``, else ``<repo>/data``."""
    if root is not None:
        return Path(root)
    env = os.environ.get(DATA_ENV_VAR)
    return Path(env) if env else REPO_ROOT / "data"


def cache_root() -> Path:
    """Digit Lab's cache folder: ``$DIGITLAB_CACHE`` when set, else ``<repo>/.cache``."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env) if env else REPO_ROOT / ".cache"


def user_runs_root() -> Path:
    """Folder of the runs trained from the dashboard: ``$DIGITLAB_USER_RUNS`` when set, else
    ``<cache>/user-runs``."""
    env = os.environ.get(USER_RUNS_ENV_VAR)
    return Path(env) if env else cache_root() / "user-runs"


def browser_folder(root: str | os.PathLike, browser_id: str) -> Path:
    """``root/<browser_id>``, for an id of the form :data:`BROWSER_ID` only (so no id reaches outside ``root``).

    Raises:
        ValueError: ``browser_id`` is not such an id.
    """
    if not isinstance(browser_id, str) or BROWSER_ID.fullmatch(browser_id) is None:
        raise ValueError("not a browser id (32 lowercase hexadecimal digits)")
    return Path(root) / browser_id


def relative(path: str | os.PathLike) -> str:
    """``path`` as a user should read it in a message: relative to the repository when inside it
    (``checkpoints/results.csv``), else as given (a folder the user named)."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except (ValueError, OSError):
        return str(path)
