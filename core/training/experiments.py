"""Experiments as files: one TOML file per grid of training runs (read with the standard library's
``tomllib``), checked field by field, expanded into the runs ``scripts/sweep.py`` trains.

A file (see ``experiments/*.toml``; PyTorch-VAE keeps one config file per experiment the same way)::

    name = "seed000-sweep"                  # required: names the run folders' parent
    description = "Seed 000's 8 models …"   # optional
    seeds = [0, 1, 2]                       # required: training seeds of every run

    [training]                              # optional overrides of each model's own settings
    epochs = 50                             # epochs, batch_size, lr, split_seed, n_train, n_val, n_test

    [[runs]]                                # one or more; lists are grid axes
    model = ["cae", "cvae"]                 # a registered model name, or a list of them
    model_args = { latent_dim = [8, 16, 32, 64] }   # constructor arguments; a list = one run per value
    training = { epochs = 30 }              # optional, overrides [training] for these runs

Every mistake is reported as an :class:`ExperimentError` naming the file, the field and what is
allowed, before anything trains.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.paths import EXPERIMENTS_DIR  # noqa: F401

#: keys allowed at the top of a file, in a [[runs]] entry, and under [training]
TOP_KEYS = {"name": "text", "description": "text", "seeds": "list of whole numbers", "training": "table",
            "runs": "array of tables ([[runs]])"}
RUN_KEYS = ("model", "model_args", "training")
TRAINING_KEYS = {"epochs": 1, "batch_size": 1, "lr": None, "split_seed": 0, "n_train": 1, "n_val": 1, "n_test": 1}


class ExperimentError(ValueError):
    """An experiment file that cannot be used; the message names the field and the allowed values."""


@dataclass(frozen=True)
class PlannedRun:
    """One training run of an experiment.

    Attributes:
        model: registered model name.
        model_args: constructor arguments (JSON scalars).
        seed: training seed.
        training: overrides of the model's training settings (epochs, batch_size, lr, split_seed;
            n_train, n_val, n_test: use the first images of each split only, for quick tries).
    """

    model: str
    model_args: dict[str, Any]
    seed: int
    training: dict[str, Any] = field(default_factory=dict)

    def run_name(self, latent_dim: int) -> str:
        """The run folder's name (:func:`core.runs.store.run_name`), given the model's latent size."""
        from core.runs.format import run_name

        return run_name(self.model, latent_dim, self.seed)


@dataclass(frozen=True)
class Experiment:
    """A parsed experiment file: its name, description, source file and runs (in file order)."""

    name: str
    description: str
    path: Path
    runs: tuple[PlannedRun, ...]


def _fail(path: Path, where: str, message: str) -> ExperimentError:
    return ExperimentError(f"{path.name}: {where}: {message}")


def _training(path: Path, where: str, table: Any) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise _fail(path, where, "must be a table of settings")
    out = {}
    for key, value in table.items():
        if key not in TRAINING_KEYS:
            raise _fail(path, f"{where}.{key}", f"unknown setting; allowed: {', '.join(TRAINING_KEYS)}")
        minimum = TRAINING_KEYS[key]
        if minimum is None:  # the learning rate
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
                raise _fail(path, f"{where}.{key}", f"must be a positive number, not {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _fail(path, f"{where}.{key}", f"must be a whole number of at least {minimum}, not {value!r}")
        out[key] = value
    return out


def parse_experiment(text: str, path: str | Path = "experiment.toml") -> Experiment:
    """Parse and check the TOML ``text`` of an experiment file (``path`` names it in messages).

    Raises:
        ExperimentError: not TOML, an unknown or missing field, a wrong type, an unknown model
            (the message lists the registered ones) or a model argument the model does not take.
    """
    from core.models import REGISTRY

    path = Path(path)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path.name} is not valid TOML: {exc}") from None
    for key in doc:
        if key not in TOP_KEYS:
            raise _fail(path, key, "unknown field; allowed: " + ", ".join(f"{k} ({v})" for k, v in TOP_KEYS.items()))
    name = doc.get("name")
    if not isinstance(name, str) or not name.strip() or "/" in name or name.startswith("."):
        raise _fail(path, "name", "required: a folder name (text without '/', not starting with '.')")
    seeds = doc.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise _fail(path, "seeds", "required: a list of whole numbers of at least 0, e.g. [0, 1, 2]")
    common = _training(path, "training", doc.get("training", {}))
    entries = doc.get("runs")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise _fail(path, "runs", "required: one or more [[runs]] tables, each with a model")
    runs: list[PlannedRun] = []
    for i, entry in enumerate(entries, 1):
        where = f"runs[{i}]"
        for key in entry:
            if key not in RUN_KEYS:
                raise _fail(path, f"{where}.{key}", f"unknown field; allowed: {', '.join(RUN_KEYS)}")
        models = entry.get("model")
        models = [models] if isinstance(models, str) else models
        if not isinstance(models, list) or not models or not all(isinstance(m, str) for m in models):
            raise _fail(path, f"{where}.model", "required: a model name or a list of them; registered: "
                        + ", ".join(sorted(REGISTRY)))
        for model in models:
            if model not in REGISTRY:
                raise _fail(path, f"{where}.model", f"unknown model {model!r}; registered: {', '.join(sorted(REGISTRY))}")
        args = entry.get("model_args", {})
        if not isinstance(args, dict):
            raise _fail(path, f"{where}.model_args", "must be a table of constructor arguments")
        axes = {}
        for key, value in args.items():
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, (str, int, float, bool)) for v in values):
                raise _fail(path, f"{where}.model_args.{key}", "must be a value or a non-empty list of values")
            axes[key] = values
        training = {**common, **_training(path, f"{where}.training", entry.get("training", {}))}
        for model in models:
            for combo in itertools.product(*axes.values()):
                model_args = dict(zip(axes, combo))
                try:
                    REGISTRY[model](**model_args)
                except TypeError as exc:
                    raise _fail(path, f"{where}.model_args", f"{model} does not take these arguments ({exc})") from None
                except ValueError as exc:
                    raise _fail(path, f"{where}.model_args", f"{model}: {exc}") from None
                runs.extend(PlannedRun(model, model_args, seed, training) for seed in seeds)
    return Experiment(name.strip(), str(doc.get("description", "")), path, tuple(runs))


def load_experiment(path: str | Path) -> Experiment:
    """Read and check the experiment file at ``path`` (see :func:`parse_experiment`).

    Raises:
        ExperimentError: the file cannot be read, or any problem :func:`parse_experiment` finds.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentError(f"no experiment file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"{path} cannot be read ({type(exc).__name__})") from None
    return parse_experiment(text, path)


def run_names(runs: tuple[PlannedRun, ...]) -> list[str]:
    """Folder names of ``runs``: ``<model>-z<latent>-s<seed>``, with the other constructor arguments
    appended (``-beta0.5``) when that alone would give two runs one name."""
    from core.models import build_model

    latent = {}
    for run in runs:
        key = (run.model, tuple(sorted(run.model_args.items())))
        if key not in latent:
            latent[key] = build_model(run.model, **run.model_args).latent_dim
    names = [run.run_name(latent[(run.model, tuple(sorted(run.model_args.items())))]) for run in runs]
    if len(set(names)) < len(names):
        names = [name + "".join(f"-{k.replace('_', '')}{'' if v is True else v}"
                                for k, v in sorted(run.model_args.items()) if k != "latent_dim")
                 for name, run in zip(names, runs)]
    return names
