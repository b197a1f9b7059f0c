"""Save and load run folders (the format: :mod:`core.runs.format`).

:func:`save_run` writes a folder whole or not at all; :func:`load_run` rebuilds the model from the
config's constructor arguments and loads its weights with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.atomic import write_json
from core.models import DigitModel, ModelTooLarge, check_size, model_class
from core.runs.format import CONFIG, HISTORY, METRICS, WEIGHTS, CheckpointError, read_json, repair_run_folders, save_folder_name
from core.runs.snapshots import SNAPSHOTS


@dataclass
class Run:
    """A loaded run: its model (eval mode) and the three JSON documents."""

    name: str
    path: Path
    config: dict[str, Any]
    model: DigitModel
    history: dict[str, list] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Human label, e.g. ``"CAE (z=32) · seed 0"``."""
        return f"{self.model.describe()} · seed {self.config.get('training', {}).get('seed', '?')}"


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a run depends on."""
    import numpy
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__}


def _write_json(path: Path, data: Any) -> None:
    write_json(path, data)


def check_run_folder(path: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse, before anything is computed, a run folder that cannot be written or that holds a run
    to keep.

    Raises:
        FileExistsError: ``path`` is a file, or holds a run and ``overwrite`` is false.
        PermissionError: the nearest existing folder above ``path`` cannot be written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} is a file, not a run folder; it is kept")
    if not overwrite and path.is_dir() and any(path.iterdir()):
        raise FileExistsError(f"{path} already holds a run; it is kept (--force replaces it)")
    for folder in (path.parent, *path.parent.parents):  # the nearest existing one must be a writable folder
        if folder.exists():
            if not folder.is_dir():
                raise FileExistsError(f"{folder} is a file, so {path} cannot be created")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(f"{folder} cannot be written, so {path} cannot be created")
            break


def save_run(path: str | os.PathLike, model: DigitModel, config: dict[str, Any],
             history: dict[str, list], metrics: dict[str, Any], half: bool = True, overwrite: bool = True,
             snapshots_from: str | os.PathLike | None = None) -> Path:
    """Write a run folder (see module docstring): config, weights, history, metrics and the model's
    fitted samplers (``model.samplers``, in ``samplers/``); returns its path.

    The folder is complete or absent: its files are written into a hidden sibling folder
    (``.<run>.<hex>.part``), which is renamed to ``path`` at the end; a run already there is moved
    aside (``.<run>.<hex>.old``) just before and removed just after. An error or interrupt meanwhile
    moves the old run back; a process killed meanwhile leaves these folders behind, and the next
    save of the run or the next listing (:func:`core.runs.format.repair_run_folders`) moves the old
    run back and removes the rest, so a finished run is never lost. Hidden folders are never listed
    as runs. An existing run is replaced only with ``overwrite``.

    Args:
        config: training settings and split seed; ``model``/``model_args``/``versions`` are added.
        half: store floating-point tensors as float16 (about half the size).
        overwrite: replace a run folder already at ``path``.
        snapshots_from: a folder of per-epoch snapshots (:mod:`core.runs.snapshots`) copied into the run
            as ``snapshots/``.

    Raises:
        FileExistsError, PermissionError: see :func:`check_run_folder`.
    """
    import shutil

    path = Path(path)
    repair_run_folders(path.parent, path.name)  # a run an earlier save left aside is back before it is checked
    check_run_folder(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / save_folder_name(path.name, "part")
    staging.mkdir()
    repair_run_folders(path.parent, path.name, parts_before=staging.stat().st_mtime)  # older saves' leftovers
    olds: list[Path] = []
    try:
        state = {k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu().contiguous()
                 for k, v in model.state_dict().items()}
        torch.save(state, staging / WEIGHTS)
        from core.models.samplers import save_sampler

        for sampler in model.samplers.values():  # the fitted latent samplers (seed 000's density)
            save_sampler(staging, sampler)
        full = {"run": path.name, "model": model.name, "model_args": model.model_args, "card": model.card(),
                "weights_dtype": "float16" if half else "float32", **config, "versions": library_versions()}
        _write_json(staging / CONFIG, full)
        _write_json(staging / HISTORY, history)
        _write_json(staging / METRICS, metrics)
        if snapshots_from is not None and Path(snapshots_from).is_dir():
            shutil.copytree(snapshots_from, staging / SNAPSHOTS,
                            ignore=shutil.ignore_patterns(".*"))  # not a half-written file's temporary name
        for attempt in range(3):
            if path.exists():  # moved aside, not deleted, until the new folder is in place
                olds.append(path.parent / save_folder_name(path.name, "old"))
                os.replace(path, olds[-1])
            try:
                os.replace(staging, path)
                break
            except OSError:  # a listing moved the old run back meanwhile: move it aside again
                if attempt == 2 or not path.exists():
                    raise
    except BaseException:
        try:
            if olds and not path.exists():
                os.replace(olds.pop(), path)
        except OSError:
            pass  # left for the next save or listing to move back
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)
    return path


def model_from_config(config: dict[str, Any], path: Path) -> DigitModel:
    """The model a run folder's parsed ``config.json`` describes, built (weights not loaded) once
    :func:`core.models.check_size` has found its arguments within bounds.

    Raises:
        CheckpointError: the model is too large, unknown, or its arguments do not build it.
    """
    try:
        cls = model_class(config["model"])
        check_size(cls, config.get("model_args", {}))
        return cls(**config.get("model_args", {}))
    except ModelTooLarge as exc:
        raise CheckpointError(f"its model is too large to load: {exc}", f"{path / CONFIG}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError("its configuration names a model that cannot be built",
                              f"{path / CONFIG}: cannot build the model: {exc}") from None


def load_run(path: str | os.PathLike, device: torch.device | str = "cpu",
             model_args: dict[str, Any] | None = None) -> Run:
    """Load a run folder; the model comes back in eval mode, float32, on ``device``.

    ``model_args`` changes constructor arguments of the config's (a sampling setting such as the
    diffusion model's ``guidance``); the returned run's config shows the arguments used, and the
    weights must still fit.

    Raises:
        CheckpointError: the folder, config or weights are missing, unreadable, name an unknown
            model, describe a model too large to build (:func:`core.models.check_size`, checked
            before anything is built), or do not fit the model the config describes (or the
            changed arguments).
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError("it is not a run folder", f"{path} is not a folder")
    config = read_json(path / CONFIG, required=True)
    if not isinstance(config, dict) or "model" not in config:
        raise CheckpointError("its configuration does not name a model", f"{path / CONFIG} does not name a model")
    if model_args:
        config = {**config, "model_args": {**config.get("model_args", {}), **model_args}}
    model = model_from_config(config, path)
    cls = type(model)
    weights = path / WEIGHTS
    if not weights.is_file():
        raise CheckpointError("its weights file is missing", f"{weights} is missing")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/unsafe files
        raise CheckpointError("its weights file is damaged",
                              f"{weights} is unreadable ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(state, dict):
        raise CheckpointError("its weights file holds something other than weights",
                              f"{weights} does not hold a state dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError("its weights do not fit the model its configuration describes",
                              f"{weights} does not fit {cls.__name__}({config.get('model_args')}): "
                              f"{str(exc)[:300]}") from None
    from core.models.samplers import attach, load_samplers

    samplers, problems = load_samplers(path)
    for name, why in problems.items():
        logging.getLogger(__name__).warning("run %s: sampler file %s is left out: %s", path.name, name, why)
    attach(model, samplers)
    model.to(device).eval()
    return Run(path.name, path, config, model, read_json(path / HISTORY, False), read_json(path / METRICS, False))
