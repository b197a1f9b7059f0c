"""The run folder format, without torch: file names, errors, JSON reading, config checks, run names.

A run folder (e.g. ``checkpoints/cae-z32-s0/``) holds:

* ``config.json``  – model name, constructor arguments, model card, split seed, training settings,
  library versions;
* ``weights.pt``   – the state dict only (floats stored as float16 to keep the folder small),
  loaded with ``torch.load(..., weights_only=True)``: no pickled code;
* ``history.json`` – per-epoch training and validation losses with their components;
* ``metrics.json`` – test metrics, each with its sample count and protocol;
* optionally ``samplers/`` (fitted latent samplers, :mod:`core.models.samplers`) and
  ``projections.npz`` (shipped 2-D projections, :mod:`core.explore.projections`).

Modelled on pythae's self-describing model folders and nanoGPT's checkpoints that carry their
constructor arguments. This module is the leaf of :mod:`core.runs`: the catalogue
(:mod:`core.runs.catalog`) and save/load (:mod:`core.runs.store`) build on it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

CONFIG, WEIGHTS, HISTORY, METRICS = "config.json", "weights.pt", "history.json", "metrics.json"
#: the first bytes of a torch.save file (a zip archive)
ZIP_MAGIC = b"PK"



class CheckpointError(RuntimeError):
    """A run folder is missing a file or holds something unreadable.

    Attributes:
        kind: the fault in a reader's words, without paths or library internals (e.g.
            ``"its weights file is damaged"``): what a page may show.
        details: the technical account (paths, the library's message): for logs and the CLI.

    ``str(exc)`` is ``"<kind>: <details>"``.
    """

    def __init__(self, kind: str, details: str = ""):
        super().__init__(f"{kind}: {details}" if details else kind)
        self.kind = kind
        self.details = details


#: the largest run JSON file read (a long run's history is well under 1 MB; larger is not a run's)
MAX_JSON_BYTES = 16 * 1024 * 1024
#: the deepest nesting of lists and tables a run's JSON file may have (config.json needs 3)
MAX_JSON_DEPTH = 32


def _depth_above(value: Any, limit: int) -> bool:
    """True when ``value`` nests lists/tables more than ``limit`` levels deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def read_json(path: Path, required: bool) -> Any:
    """The parsed JSON file ``path`` of a run folder; ``{}`` when it is absent and not ``required``.

    Raises:
        CheckpointError: the file is missing (and required), unreadable, not valid JSON, larger than
            :data:`MAX_JSON_BYTES` or nested deeper than :data:`MAX_JSON_DEPTH` (its ``kind`` names
            the file in words: "its history file is ...").
    """
    if not path.is_file():
        if required:
            raise CheckpointError("its configuration file is missing", f"{path} is missing")
        return {}
    what = "configuration" if path.name == CONFIG else path.stem
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise CheckpointError(f"its {what} file is too large to be a run's (over {MAX_JSON_BYTES // 2 ** 20} MB)",
                                  f"{path}: {size:,} bytes")
        value, too_deep = json.loads(path.read_text()), False
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        raise CheckpointError(f"its {what} file is not valid JSON", f"{path}: {exc}") from None
    except RecursionError:  # beyond the parser's own limit, e.g. '[' * 200000
        value, too_deep = None, True
    if too_deep or _depth_above(value, MAX_JSON_DEPTH):
        raise CheckpointError(f"its {what} file is nested too deeply (more than {MAX_JSON_DEPTH} levels)",
                              f"{path}: lists or tables nested more than {MAX_JSON_DEPTH} levels deep")
    return value


#: the largest latent size or layer width a run may declare (a typo like 10⁹ would exhaust memory)
MAX_SIZE = 65_536


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def config_problem(config: dict[str, Any]) -> str | None:
    """The first thing wrong with a parsed config.json, in a reader's words, or None (the schema
    every run folder is validated against when it is listed)."""
    args = config.get("model_args", {})
    if not isinstance(args, dict):
        return "the model's arguments are not a table"
    for key, value in args.items():
        if not (value is None or isinstance(value, (str, bool)) or is_number(value)):
            return f"the model argument {key} is not a single value"
        if is_number(value) and key in ("latent_dim", "hidden_dim") and not (
                is_int(value) and 0 <= value <= MAX_SIZE):
            return f"the model argument {key} is {value}, not a size between 0 and {MAX_SIZE:,}"
    training = config.get("training", {})
    if not isinstance(training, dict):
        return "its training settings are not a table"
    for key in ("seed", "epochs", "batch_size", "n_train", "n_val"):
        if key in training and not (is_int(training[key]) and training[key] >= 0):
            return f"the training setting {key} is {training[key]!r}, not a whole number"
    if "split_seed" in config and not (is_int(config["split_seed"]) and config["split_seed"] >= 0):
        return f"the split seed is {config['split_seed']!r}, not a whole number"
    card = config.get("card")
    if card is not None:
        if not isinstance(card, dict):
            return "its model card is not a table"
        for key in ("display_name", "description", "role"):
            if key in card and not isinstance(card[key], str):
                return f"the model card's {key} is not text"
        if "latent_dim" in card and not (is_int(card["latent_dim"]) and 0 <= card["latent_dim"] <= MAX_SIZE):
            return f"the model card's latent size is {card['latent_dim']!r}"
        for key in ("capabilities", "input_modes", "generation_modes", "plotted_losses"):
            if key in card and not (isinstance(card[key], list) and all(isinstance(v, str) for v in card[key])):
                return f"the model card's {key.replace('_', ' ')} are not a list of names"
        if "loss_units" in card and not isinstance(card["loss_units"], dict):
            return "the model card's loss units are not a table"
    return None


#: the hidden folders :func:`core.runs.store.save_run` makes beside a run folder ``<run>``:
#: ``.<run>.<8 hex digits>.part`` (the new run being written) and ``.<run>.<8 hex digits>.old`` (the
#: run it replaces, moved aside until the new one is in place)
_SAVE_FOLDER = re.compile(r"\.(?P<run>.+)\.[0-9a-f]{8}\.(?P<kind>part|old)")
#: a ``.part`` folder unchanged this long is a killed save's (a save writes its files in seconds)
STALE_SECONDS = 600.0

log = logging.getLogger("digitlab.runs")


def save_folder_name(run: str, kind: str) -> str:
    """A fresh name for a save's hidden folder beside run folder ``run``: ``kind`` is ``"part"`` (the
    new run being written) or ``"old"`` (the run being replaced), e.g. ``.cae-z2-s0.1f3a9c0e.part``."""
    return f".{run}.{secrets.token_hex(4)}.{kind}"


def _is_run(path: Path) -> bool:
    return path.is_dir() and ((path / CONFIG).exists() or (path / WEIGHTS).exists())


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _remove(folder: Path) -> None:
    try:
        shutil.rmtree(folder)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("%s is left over from an interrupted save and cannot be removed: %s", folder, exc)


def repair_run_folders(root: str | os.PathLike, run: str | None = None, parts_before: float | None = None) -> None:
    """Put right what saves killed half-way left under ``root`` (see :func:`core.runs.store.save_run`).

    * A run folder that is absent while a ``.<run>.<hex>.old`` copy is there (the save was killed
      between moving the finished run aside and renaming the new one in) is moved back (the newest
      copy when there are several), so no finished run goes missing.
    * ``.old`` copies beside a run folder that is in place are removed (the save that replaced them
      was killed before it removed them).
    * ``.part`` folders (a killed save's half-written run) last changed before ``parts_before``
      (seconds since the epoch, as ``os.stat``'s ``st_mtime``) are removed; by default, those
      unchanged for :data:`STALE_SECONDS` (a save still writing is left alone).

    ``run`` limits all this to one run's folders. Never raises: a folder that cannot be moved or
    removed (a read-only folder) is logged and left as it is.
    """
    root = Path(root)
    try:
        entries = list(root.iterdir())
    except OSError:
        return
    cutoff = time.time() - STALE_SECONDS if parts_before is None else parts_before
    copies: dict[str, list[Path]] = {}
    for entry in entries:
        match = _SAVE_FOLDER.fullmatch(entry.name)
        if not match or (run is not None and match["run"] != run) or entry.is_symlink() or not entry.is_dir():
            continue
        if match["kind"] == "old":
            copies.setdefault(match["run"], []).append(entry)
        elif (changed := _mtime(entry)) is not None and changed < cutoff:
            _remove(entry)
    for name, olds in copies.items():
        target = root / name
        olds.sort(key=lambda p: _mtime(p) or 0.0, reverse=True)
        if not _is_run(target):
            try:
                os.replace(olds[0], target)
            except OSError as exc:  # a save renamed its new run in meanwhile, or the folder is read-only
                if not _is_run(target):
                    log.warning("run %s is kept in %s (an interrupted save moved it there) and cannot be moved back: %s",
                                name, olds[0].name, exc)
                    continue
            else:
                log.warning("run %s was moved back from %s, where a save killed half-way had left it", name, olds[0].name)
                olds = olds[1:]
        for old in olds:
            _remove(old)


def list_run_dirs(root: str | os.PathLike) -> list[Path]:
    """Folders under ``root`` that look like runs (hold a config.json or a weights.pt), sorted; hidden
    folders (a run being written, a run in progress) are not runs. What a killed save left is put
    right first (:func:`repair_run_folders`): a finished run it had moved aside is listed again."""
    root = Path(root)
    if not root.is_dir():
        return []
    repair_run_folders(root)
    return sorted(p for p in root.iterdir() if not p.name.startswith(".") and _is_run(p))


def run_name(model: str, latent_dim: int, seed: int) -> str:
    """Canonical run folder name, e.g. ``cae-z32-s0``; ``judge-s0`` for a model without a latent."""
    return f"{model}-z{latent_dim}-s{seed}" if latent_dim else f"{model}-s{seed}"
