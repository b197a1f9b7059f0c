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
import os
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


def read_json(path: Path, required: bool) -> Any:
    if not path.is_file():
        if required:
            raise CheckpointError("its configuration file is missing", f"{path} is missing")
        return {}
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as exc:
        what = "configuration" if path.name == CONFIG else path.stem
        raise CheckpointError(f"its {what} file is not valid JSON", f"{path}: {exc}") from None


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


def list_run_dirs(root: str | os.PathLike) -> list[Path]:
    """Folders under ``root`` that look like runs (hold a config.json or a weights.pt), sorted; hidden
    folders (a run being written, a run in progress) are not runs."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and ((p / CONFIG).exists() or (p / WEIGHTS).exists()))




def run_name(model: str, latent_dim: int, seed: int) -> str:
    """Canonical run folder name, e.g. ``cae-z32-s0``; ``judge-s0`` for a model without a latent."""
    return f"{model}-z{latent_dim}-s{seed}" if latent_dim else f"{model}-s{seed}"
