"""Model registry: name -> class. Adding a model is one file plus one line in ``_MODEL_MODULES``.

The registry is built on first use (PEP 562 module ``__getattr__``), so importing the torch-free
parts of this package (:mod:`core.models.capabilities`) does not import torch.
"""

from __future__ import annotations

import importlib
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


def build_model(name: str, **model_args) -> DigitModel:
    """Instantiate the registered model ``name`` with its constructor arguments."""
    return model_class(name)(**model_args)


def __getattr__(attr: str) -> Any:
    if attr == "REGISTRY":
        return _build_registry()
    if attr in ("DigitModel", "UnsupportedCapability"):
        from core.models import base

        return getattr(base, attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["REGISTRY", "DigitModel", "RegistryError", "UnsupportedCapability", "build_model", "model_class"]
