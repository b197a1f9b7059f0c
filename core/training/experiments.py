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
allowed, before anything trains: among them a grid of more than :data:`MAX_RUNS` runs, a run listed
twice (it would train into the folder of the other), and an experiment or run name that is not a
plain folder name (:data:`SAFE_NAME`). Checking is cheap: the grid is counted before any model is
built, arguments are matched against the constructor's signature, each distinct argument value is
tried once on PyTorch's ``meta`` device (no memory, no initialisation), and latent sizes are read
from the arguments; a grid of :data:`MAX_RUNS` runs is checked in seconds.
"""

from __future__ import annotations

import inspect
import itertools
import json
import math
import re
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
#: the most runs one experiment file may hold; a bigger grid is refused before any model is built
MAX_RUNS = 500
#: experiment and run names (folder names): letters, digits, '-', '_' and '.', not starting with '.', at most 128
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")
NAME_RULE = "letters, digits, '-', '_' and '.' only, not starting with '.', at most 128 characters"


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
        latent_dim: the model's latent size, when known (:func:`parse_experiment` fills it in;
            :func:`run_names` builds the model to learn it otherwise).
    """

    model: str
    model_args: dict[str, Any]
    seed: int
    training: dict[str, Any] = field(default_factory=dict)
    latent_dim: int | None = None

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


def _shown(text: str) -> str:
    """``text`` in double quotes with control characters escaped (a NUL shows as \\u0000)."""
    return json.dumps(text, ensure_ascii=False)


def _described(run: PlannedRun) -> str:
    args = ", ".join(f"{key}={value}" for key, value in run.model_args.items()) or "its default arguments"
    return f"{run.model} with {args}, seed {run.seed}"


def _built_on_meta(cls: type, model_args: dict[str, Any]):
    """``cls(**model_args)`` with its tensors on PyTorch's meta device (shapes only: no memory, no
    initialisation), or on the CPU for a constructor that needs real values.

    Raises:
        TypeError, ValueError: the constructor refuses the arguments.
    """
    import torch

    try:
        with torch.device("meta"):
            return cls(**model_args)
    except (TypeError, ValueError):
        raise
    except (RuntimeError, NotImplementedError):  # a constructor that computes with its tensors
        return cls(**model_args)


def _check_grid(path: Path, where: str, model: str, axes: dict[str, list]) -> dict[tuple, int]:
    """Check ``model``'s arguments over the grid ``axes`` and return the latent size of every
    combination, keyed by ``tuple(sorted(model_args.items()))``.

    Each argument is matched against the constructor's signature, and each distinct value of each
    axis is tried once (with the first value of every other axis) by building the model on the meta
    device: the models check each argument on its own, so this finds every value they refuse
    without building every combination. The latent size is the ``latent_dim`` argument (or its
    default) when the constructor takes one, else that of the model built.

    Raises:
        ExperimentError: an argument the model does not take, or a value it refuses.
    """
    from core.models import REGISTRY
    from core.runs.format import config_problem

    cls = REGISTRY[model]
    signature = inspect.signature(cls)
    try:
        signature.bind(**{key: values[0] for key, values in axes.items()})
    except TypeError as exc:
        raise _fail(path, f"{where}.model_args", f"{model} does not take these arguments ({exc})") from None
    first = {key: values[0] for key, values in axes.items()}
    tries = [first] + [{**first, key: value} for key, values in axes.items() for value in values[1:]]
    built_latent = None
    seen: set[tuple] = set()
    for model_args in tries:
        key = tuple((k, type(v).__name__, v) for k, v in sorted(model_args.items()))
        if key in seen:
            continue
        seen.add(key)
        problem = config_problem({"model_args": model_args})  # the sizes a run folder may declare
        if problem:
            raise _fail(path, f"{where}.model_args", f"{model}: {problem}")
        try:
            built = _built_on_meta(cls, model_args)
        except TypeError as exc:
            raise _fail(path, f"{where}.model_args", f"{model} does not take these arguments ({exc})") from None
        except (ValueError, ArithmeticError, RuntimeError) as exc:
            raise _fail(path, f"{where}.model_args", f"{model}: {exc}") from None
        if built_latent is None:
            built_latent = int(built.latent_dim)
    takes_latent = "latent_dim" in signature.parameters
    latents = {}
    for combo in itertools.product(*axes.values()):
        model_args = dict(zip(axes, combo))
        if takes_latent:
            bound = signature.bind(**model_args)
            bound.apply_defaults()
            latents[tuple(sorted(model_args.items()))] = int(bound.arguments["latent_dim"])
        else:
            latents[tuple(sorted(model_args.items()))] = built_latent
    return latents


def _run_key(run: PlannedRun) -> tuple:
    """What makes two runs the same training: model, every constructor argument (defaults filled
    in) and seed."""
    from core.models import REGISTRY

    bound = inspect.signature(REGISTRY[run.model]).bind(**run.model_args)
    bound.apply_defaults()
    return run.model, tuple(sorted(bound.arguments.items())), run.seed


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
            (the message lists the registered ones), a model argument the model does not take or a
            value it refuses, more than :data:`MAX_RUNS` runs, a seed or a run listed twice, or an
            experiment or run name that is not a safe folder name (:data:`SAFE_NAME`).
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
    if not isinstance(name, str) or not name:
        raise _fail(path, "name", f"required: a folder name ({NAME_RULE})")
    if not SAFE_NAME.fullmatch(name):
        raise _fail(path, "name", f"{_shown(name)} is not a safe folder name: use {NAME_RULE}")
    seeds = doc.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise _fail(path, "seeds", "required: a list of whole numbers of at least 0, e.g. [0, 1, 2]")
    listed: set[int] = set()
    for seed in seeds:
        if seed in listed:
            raise _fail(path, "seeds", f"seed {seed} is listed twice; each seed trains once (into one folder)")
        listed.add(seed)
    common = _training(path, "training", doc.get("training", {}))
    entries = doc.get("runs")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise _fail(path, "runs", "required: one or more [[runs]] tables, each with a model")
    grids = []  # (where, models, axes, training), checked for shape and counted before any model is built
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
        grids.append((where, models, axes, training))
    count = sum(len(models) * math.prod(len(values) for values in axes.values()) for _, models, axes, _ in grids)
    count *= len(seeds)
    if count > MAX_RUNS:
        raise _fail(path, "runs", f"the grid holds {count:,} runs, more than the {MAX_RUNS} one experiment file may "
                    "hold; split it into several files")
    runs: list[PlannedRun] = []
    wheres: list[str] = []
    for where, models, axes, training in grids:
        for model in models:
            latents = _check_grid(path, where, model, axes)
            for combo in itertools.product(*axes.values()):
                model_args = dict(zip(axes, combo))
                latent = latents[tuple(sorted(model_args.items()))]
                runs.extend(PlannedRun(model, model_args, seed, training, latent) for seed in seeds)
                wheres.extend(where for _ in seeds)
    first: dict[tuple, int] = {}
    for index, run in enumerate(runs):
        other = first.setdefault(_run_key(run), index)
        if other != index:
            also = "" if wheres[other] == wheres[index] else f" (also in {wheres[other]})"
            raise _fail(path, wheres[index], f"{_described(run)} is listed twice{also}; each run must be listed "
                        "once (both would train into one folder)")
    folders: dict[str, int] = {}
    for index, folder in enumerate(run_names(tuple(runs))):
        if not SAFE_NAME.fullmatch(folder):
            raise _fail(path, wheres[index], f"the run name {_shown(folder)} (from {_described(runs[index])}) is not a "
                        f"safe folder name: use {NAME_RULE} in text arguments")
        other = folders.setdefault(folder, index)
        if other != index:
            raise _fail(path, wheres[index], f"{_described(runs[index])} and {_described(runs[other])} "
                        f"({wheres[other]}) would both train into the folder {folder}; change one")
    return Experiment(name, str(doc.get("description", "")), path, tuple(runs))


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
    appended (``-beta0.5``) when that alone would give two runs one name. The latent size is the
    run's own :attr:`PlannedRun.latent_dim` when known, else read from the model built once per
    distinct argument set on the meta device."""
    from core.models import REGISTRY

    latent = {}
    for run in runs:
        key = (run.model, tuple(sorted(run.model_args.items())))
        if key not in latent:
            latent[key] = run.latent_dim if run.latent_dim is not None else int(
                _built_on_meta(REGISTRY[run.model], run.model_args).latent_dim)
    names = [run.run_name(latent[(run.model, tuple(sorted(run.model_args.items())))]) for run in runs]
    if len(set(names)) < len(names):
        names = [name + "".join(f"-{k.replace('_', '')}{'' if v is True else v}"
                                for k, v in sorted(run.model_args.items()) if k != "latent_dim")
                 for name, run in zip(names, runs)]
    return names
