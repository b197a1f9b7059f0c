"""The run catalogue: every run folder listed from its JSON files, models loaded only when used.

Listing runs must be fast (the dashboard's first page is drawn from it, before torch is imported),
so a :class:`RunInfo` is built from ``config.json`` (whose ``card`` describes the model: see
:meth:`core.models.base.DigitModel.card`), ``history.json`` and ``metrics.json``; its
:attr:`RunInfo.model` loads the weights on first access (once per process, thread-safe) through
:func:`core.checkpoints.load_run`. A run folder written before cards existed is described by
building its model class (slower, same result).

Nothing here imports torch or streamlit.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .models.capabilities import JUDGE

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT_DIR = REPO_ROOT / "checkpoints"
CONFIG, WEIGHTS, HISTORY, METRICS = "config.json", "weights.pt", "history.json", "metrics.json"
#: the first bytes of a torch.save file (a zip archive)
_ZIP_MAGIC = b"PK"

log = logging.getLogger("digitlab.catalog")


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


def _read_json(path: Path, required: bool) -> Any:
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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _config_problem(config: dict[str, Any]) -> str | None:
    """The first thing wrong with a parsed config.json, in a reader's words, or None (the schema
    every run folder is validated against when it is listed)."""
    args = config.get("model_args", {})
    if not isinstance(args, dict):
        return "the model's arguments are not a table"
    for key, value in args.items():
        if not (value is None or isinstance(value, (str, bool)) or _is_number(value)):
            return f"the model argument {key} is not a single value"
        if _is_number(value) and key in ("latent_dim", "hidden_dim") and not (
                _is_int(value) and 0 <= value <= MAX_SIZE):
            return f"the model argument {key} is {value}, not a size between 0 and {MAX_SIZE:,}"
    training = config.get("training", {})
    if not isinstance(training, dict):
        return "its training settings are not a table"
    for key in ("seed", "epochs", "batch_size", "n_train", "n_val"):
        if key in training and not (_is_int(training[key]) and training[key] >= 0):
            return f"the training setting {key} is {training[key]!r}, not a whole number"
    if "split_seed" in config and not (_is_int(config["split_seed"]) and config["split_seed"] >= 0):
        return f"the split seed is {config['split_seed']!r}, not a whole number"
    card = config.get("card")
    if card is not None:
        if not isinstance(card, dict):
            return "its model card is not a table"
        for key in ("display_name", "description", "role"):
            if key in card and not isinstance(card[key], str):
                return f"the model card's {key} is not text"
        if "latent_dim" in card and not (_is_int(card["latent_dim"]) and 0 <= card["latent_dim"] <= MAX_SIZE):
            return f"the model card's latent size is {card['latent_dim']!r}"
        for key in ("capabilities", "input_modes", "generation_modes", "plotted_losses"):
            if key in card and not (isinstance(card[key], list) and all(isinstance(v, str) for v in card[key])):
                return f"the model card's {key.replace('_', ' ')} are not a list of names"
        if "loss_units" in card and not isinstance(card["loss_units"], dict):
            return "the model card's loss units are not a table"
    return None


def _card_from_class(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """Describe a run written before cards existed by building its model and reading its samplers
    (imports torch)."""
    from .models import model_class

    try:
        model = model_class(config["model"])(**config.get("model_args", {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError("its configuration names a model that cannot be built",
                              f"{path / CONFIG}: {exc}") from None
    from .samplers import attach, load_samplers

    return attach(model, load_samplers(path)[0]).card()  # the run's fitted samplers are modes too


@dataclass(eq=False)
class RunInfo:
    """A run folder as listed: its JSON documents and model card; the model itself on demand.

    Attributes:
        name: folder name, e.g. ``"cae-z32-s0"``.
        path: the folder.
        config, history, metrics: the parsed JSON documents (``{}`` when a file is absent).
        card: the model card (see :meth:`core.models.base.DigitModel.card`).
    """

    name: str
    path: Path
    config: dict[str, Any]
    card: dict[str, Any]
    history: dict[str, list] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    _model: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    # --- what the card says (no weights needed) ---------------------------------------------------
    @property
    def display_name(self) -> str:
        return self.card["display_name"]

    @property
    def latent_dim(self) -> int:
        return int(self.card["latent_dim"])

    @property
    def role(self) -> str:
        return self.card["role"]

    @property
    def seed(self) -> Any:
        return self.config.get("training", {}).get("seed", "?")

    @property
    def label(self) -> str:
        """Human label, e.g. ``"CAE (z=32) · seed 0"``."""
        return f"{self.card['description']} · seed {self.seed}"

    @property
    def input_modes(self) -> tuple[str, ...]:
        """The encoder inputs the model accepts (``core.models.capabilities.INPUT_MODES``), from the card."""
        return tuple(self.card.get("input_modes", ()))

    def can(self, capability: str) -> bool:
        """True when the run's model declares ``capability`` (read from the card)."""
        return capability in self.card["capabilities"]

    # --- the model --------------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        """True once the weights are in memory."""
        return self._model is not None

    @property
    def model(self):
        """The model (:class:`core.models.base.DigitModel`, eval mode, float32, CPU), loaded from
        ``weights.pt`` on first access, once per process even when threads ask at the same time.

        Raises:
            CheckpointError: the weights are missing, damaged or do not fit the model.
        """
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from .checkpoints import load_run

                    try:
                        self._model = load_run(self.path).model
                    except CheckpointError as exc:
                        log.warning("run %s could not be loaded: %s", self.name, exc.details or exc)
                        raise
        return self._model


def read_run(path: str | os.PathLike) -> RunInfo:
    """List one run folder without loading its weights.

    Checks what is cheap to check: the folder exists, ``config.json`` parses and names a model,
    ``weights.pt`` exists and starts like a torch file. A model whose weights do not fit is only
    found when :attr:`RunInfo.model` is first read.

    Raises:
        CheckpointError: see above; its ``kind`` is fit to show a user.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError("it is not a run folder", f"{path} is not a folder")
    config = _read_json(path / CONFIG, required=True)
    if not isinstance(config, dict) or not isinstance(config.get("model"), str):
        raise CheckpointError("its configuration does not name a model", f"{path / CONFIG}")
    problem = _config_problem(config)
    if problem:
        raise CheckpointError(f"its configuration is invalid: {problem}", f"{path / CONFIG}: {problem}")
    weights = path / WEIGHTS
    if not weights.is_file():
        raise CheckpointError("its weights file is missing", f"{weights} is missing")
    try:
        with open(weights, "rb") as handle:
            head = handle.read(2)
    except OSError as exc:
        raise CheckpointError("its weights file cannot be read", f"{weights}: {exc}") from None
    if head != _ZIP_MAGIC:
        raise CheckpointError("its weights file is damaged", f"{weights} does not start like a torch file")
    card = config.get("card")
    if not isinstance(card, dict) or not {"display_name", "description", "role", "latent_dim",
                                          "capabilities"} <= set(card):
        card = _card_from_class(config, path)
    history = _read_json(path / HISTORY, required=False)
    metrics = _read_json(path / METRICS, required=False)
    if not isinstance(history, dict) or not all(
            isinstance(v, list) and all(_is_number(x) for x in v) for v in history.values()):
        raise CheckpointError("its history file is not a table of numbers per epoch", f"{path / HISTORY}")
    if not isinstance(metrics, dict) or not all(
            isinstance(m, dict) and _is_number(m.get("value")) for m in metrics.values()):
        raise CheckpointError("its metrics file is not a table of values", f"{path / METRICS}")
    return RunInfo(path.name, path, config, card, history, metrics)


def list_run_dirs(root: str | os.PathLike = DEFAULT_CHECKPOINT_DIR) -> list[Path]:
    """Folders under ``root`` that look like runs (hold a config.json or a weights.pt), sorted; hidden
    folders (a run being written, a run in progress) are not runs."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and ((p / CONFIG).exists() or (p / WEIGHTS).exists()))


def list_runs(root: str | os.PathLike = DEFAULT_CHECKPOINT_DIR) -> tuple[dict[str, RunInfo], dict[str, CheckpointError]]:
    """Every run folder under ``root``, listed without loading weights.

    Returns:
        ``({name: RunInfo}, {name: CheckpointError})``: runs sorted by model, latent size, seed
        and name; the folders that cannot be listed, with their error.
    """
    runs, errors = {}, {}
    for path in list_run_dirs(root):
        try:
            runs[path.name] = read_run(path)
        except CheckpointError as exc:
            log.warning("run folder %s left out: %s", path.name, exc)
            errors[path.name] = exc
    order = sorted(runs, key=lambda n: (runs[n].config["model"], runs[n].latent_dim, str(runs[n].seed), n))
    return {name: runs[name] for name in order}, errors


def is_judge(run: RunInfo) -> bool:
    """True for the judge classifier's runs (they score the others and are never compared)."""
    return run.role == JUDGE
