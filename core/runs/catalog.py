"""The run catalogue: every run folder listed from its JSON files, models loaded only when used.

Listing runs must be fast (the dashboard's first page is drawn from it, before torch is imported),
so a :class:`RunInfo` is built from ``config.json`` (whose ``card`` describes the model: see
:meth:`core.models.base.DigitModel.card`), ``history.json`` and ``metrics.json``; its
:attr:`RunInfo.model` loads the weights on first access (once per process, thread-safe) through
:func:`core.runs.store.load_run`. A run folder written before cards existed is described by
building its model class (slower, same result).

Nothing here imports torch or streamlit.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.models.capabilities import JUDGE
from core.paths import checkpoint_root
from core.runs.format import (
    CONFIG,
    HISTORY,
    METRICS,
    WEIGHTS,
    ZIP_MAGIC,
    CheckpointError,
    config_problem,
    is_number,
    list_run_dirs,
    read_json,
)

log = logging.getLogger("digitlab.catalog")


def _card_from_class(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """Describe a run written before cards existed by building its model (once :func:`core.models.check_size`
    has found its arguments within bounds) and reading its samplers (imports torch)."""
    from core.runs.store import model_from_config

    model = model_from_config(config, path)
    from core.models.samplers import attach, load_samplers

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
    #: "yours" for a run trained from this dashboard by the browser looking at it, "shared" for a run
    #: another browser shared by link, "" for a shipped run (the label ends with it)
    tag: str = ""
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
        """Human label, e.g. ``"CAE (z=32) · seed 0"``; ``"… · yours"`` for a run this browser trained,
        ``"… · shared"`` for one shared with it by link (:attr:`tag`)."""
        return f"{self.card['description']} · seed {self.seed}" + (f" · {self.tag}" if self.tag else "")

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
                    from core.runs.store import load_run

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
    config = read_json(path / CONFIG, required=True)
    if not isinstance(config, dict) or not isinstance(config.get("model"), str):
        raise CheckpointError("its configuration does not name a model", f"{path / CONFIG}")
    problem = config_problem(config)
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
    if head != ZIP_MAGIC:
        raise CheckpointError("its weights file is damaged", f"{weights} does not start like a torch file")
    card = config.get("card")
    if not isinstance(card, dict) or not {"display_name", "description", "role", "latent_dim",
                                          "capabilities"} <= set(card):
        card = _card_from_class(config, path)
    history = read_json(path / HISTORY, required=False)
    metrics = read_json(path / METRICS, required=False)
    if not isinstance(history, dict) or not all(
            isinstance(v, list) and all(is_number(x) for x in v) for v in history.values()):
        raise CheckpointError("its history file is not a table of numbers per epoch", f"{path / HISTORY}")
    if not isinstance(metrics, dict) or not all(
            isinstance(m, dict) and is_number(m.get("value")) for m in metrics.values()):
        raise CheckpointError("its metrics file is not a table of values", f"{path / METRICS}")
    return RunInfo(path.name, path, config, card, history, metrics)


def list_runs(root: str | os.PathLike | None = None) -> tuple[dict[str, RunInfo], dict[str, CheckpointError]]:
    """Every run folder under ``root``, listed without loading weights.

    Returns:
        ``({name: RunInfo}, {name: CheckpointError})``: runs sorted by model, latent size, seed
        and name; the folders that cannot be listed, with their error.
    """
    runs, errors = {}, {}
    for path in list_run_dirs(checkpoint_root() if root is None else root):
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
