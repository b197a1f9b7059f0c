"""Model registry: name -> class. Adding a model is one file plus one line in ``_MODEL_MODULES``.

The registry is built on first use (PEP 562 module ``__getattr__``), so importing the torch-free
parts of this package (:mod:`core.models.capabilities`) does not import torch.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from core.models.base import DigitModel, UnsupportedCapability  # noqa: F401

#: (module, class) of every registered model, in zoo order
_MODEL_MODULES: tuple[tuple[str, str], ...] = (
    ("seed000", "ConditionalAutoencoder"),
    ("seed000", "ConditionalVAE"),
    ("seed002", "ConvolutionalCVAE"),
    ("seed002", "MultilayerCVAE"),
    ("seed003", "ConditionalGAN"),
    ("seed004", "ConvolutionalVAE"),
    ("diffusion", "ClassConditionalDiffusion"),
    ("flow", "RectifiedFlow"),
    ("judge", "JudgeClassifier"),
)
_registry: dict[str, type] | None = None


class RegistryError(ValueError):
    """Two registered model classes share one ``name``; the message names both classes."""


def _build_registry() -> dict[str, type]:
    """{name: class} of every model in :data:`_MODEL_MODULES`, in zoo order (built once, then cached).

    Raises:
        RegistryError: two classes declare the same ``name`` (the registry is then not cached, and the
            second class does not silently replace the first).
    """
    global _registry
    if _registry is None:
        registry: dict[str, type] = {}
        for module, cls_name in _MODEL_MODULES:
            cls = getattr(importlib.import_module(f"{__name__}.{module}"), cls_name)
            first = registry.get(cls.name)
            if first is not None:
                raise RegistryError(f"two models are registered under the name {cls.name!r}: "
                                    f"{first.__module__}.{first.__qualname__} and {cls.__module__}.{cls.__qualname__}; "
                                    f"give each model class its own name")
            registry[cls.name] = cls
        _registry = registry
    return _registry


def model_class(name: str) -> type[DigitModel]:
    """The class registered under ``name``.

    Raises:
        KeyError: unknown name; the message lists the registered ones.
    """
    registry = _build_registry()
    try:
        return registry[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(sorted(registry))}") from None


#: the most weights (parameters and buffers, as in its state dict) a model may have: 50 M, 200 MB as float32
MAX_PARAMETERS = 50_000_000
#: the largest whole-number constructor argument (a size or a count) a model may be given; checked
#: before the model is sized, since a count can cost memory outside torch (the diffusion model's
#: noise schedule is built as a Python list of ``train_timesteps`` numbers)
MAX_WHOLE_NUMBER = 1_000_000


class ModelTooLarge(ValueError):
    """Constructor arguments that would give a model more than :data:`MAX_PARAMETERS` weights,
    or a whole-number argument above :data:`MAX_WHOLE_NUMBER`; the message names the argument(s)."""


def _numbers_held(cls: type, args: dict[str, Any]) -> int:
    """Parameters plus buffers of ``cls(**args)``, built on torch's "meta" device (shapes only, no
    memory, milliseconds)."""
    import torch

    with torch.device("meta"):
        model = cls(**args)
    return sum(t.numel() for t in itertools.chain(model.parameters(), model.buffers()))


def _size_text(numbers: int) -> str:
    size = 4 * numbers
    return f"{size / 1e9:,.1f} GB" if size >= 1e9 else f"{size / 1e6:,.0f} MB"


def check_size(cls: type[DigitModel], args: dict[str, Any]) -> int:
    """Refuse constructor arguments ``args`` that would make model class ``cls`` too large to build,
    before anything is allocated; every model built from a run folder, an experiment file or the
    command line goes through here (:func:`build_model`, :func:`core.runs.store.load_run`).

    Every whole-number argument (one whose default is an int; without a default, an int) must be at
    most :data:`MAX_WHOLE_NUMBER`; then the model is built on torch's "meta" device and its
    weights (parameters and buffers) counted, which must be at most :data:`MAX_PARAMETERS` (200 MB as float32).

    Returns:
        the number of weights (parameters and buffers) the model will have.

    Raises:
        ModelTooLarge: a too large argument or model; the message names the argument(s) to lower,
            e.g. "cae with latent_dim = 8, hidden_dim = 65,536 would have 12,990,416,371 weights
            (52.0 GB as float32); a model may have at most 50,000,000 (200 MB): lower hidden_dim".
        TypeError, ValueError: ``args`` is not a dict, or what ``cls(**args)`` raises for arguments
            it does not take.
    """
    if not isinstance(args, dict):
        raise TypeError(f"the model arguments of {cls.name} are not a table of names and values: {args!r:.100}")
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()
                if p.default is not inspect.Parameter.empty}
    for name, value in args.items():  # a size or a count: an argument whose default is a whole number
        default = defaults.get(name, value)
        whole = isinstance(default, int) and not isinstance(default, bool)
        if whole and isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_WHOLE_NUMBER:
            raise ModelTooLarge(f"{cls.name} cannot be given {name} = {value:,}: a model's whole-number settings are "
                                f"at most {MAX_WHOLE_NUMBER:,}")
    try:
        numbers = _numbers_held(cls, args)
    except (RuntimeError, OverflowError, MemoryError) as exc:  # e.g. a tensor too large even to describe
        raise ModelTooLarge(f"{cls.name} cannot be built with {_args_text(args)} ({type(exc).__name__}: "
                            f"{str(exc)[:200]})") from None
    if numbers <= MAX_PARAMETERS:
        return numbers
    # which arguments to lower: any of those whose default alone brings the model within the limit,
    # else all of those whose default makes it smaller
    shrink = {}
    for name, value in args.items():
        if name in defaults and isinstance(value, (int, float)) and not isinstance(value, bool) \
                and value != defaults[name]:
            try:
                shrink[name] = _numbers_held(cls, {**args, name: defaults[name]})
            except Exception:  # noqa: BLE001 - a combination the class refuses says nothing about size
                continue
    culprits = " or ".join(name for name, n in shrink.items() if n <= MAX_PARAMETERS) or \
        " and ".join(name for name, n in shrink.items() if n < numbers) or " and ".join(args)
    raise ModelTooLarge(f"{cls.name} with {_args_text(args)} would have {numbers:,} weights ({_size_text(numbers)} as "
                        f"float32); a model may have at most {MAX_PARAMETERS:,} ({_size_text(MAX_PARAMETERS)}): "
                        f"lower {culprits}")


def _args_text(args: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k} = {v}"
                     for k, v in args.items()) or "its default arguments"


def build_model(name: str, **model_args) -> DigitModel:
    """Instantiate the registered model ``name`` with its constructor arguments, once
    :func:`check_size` has found them within bounds.

    Raises:
        KeyError: unknown name.
        ModelTooLarge: see :func:`check_size`.
        TypeError, ValueError: arguments the model does not take.
    """
    cls = model_class(name)
    check_size(cls, model_args)
    return cls(**model_args)


def __getattr__(attr: str) -> Any:
    if attr == "REGISTRY":
        return _build_registry()
    if attr in ("DigitModel", "UnsupportedCapability"):
        from core.models import base

        return getattr(base, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["MAX_PARAMETERS", "MAX_WHOLE_NUMBER", "REGISTRY", "DigitModel", "ModelTooLarge", "RegistryError",
           "UnsupportedCapability", "build_model", "check_size", "model_class"]
