"""Model registry: name -> class. Adding a model is one file plus one line in ``_MODELS``."""

from __future__ import annotations

from .base import DigitModel, UnsupportedCapability
from .judge import JudgeClassifier
from .seed000 import ConditionalAutoencoder, ConditionalVAE
from .seed002 import ConvolutionalCVAE, MultilayerCVAE
from .seed003 import ConditionalGAN
from .seed004 import ConvolutionalVAE

_MODELS: tuple[type[DigitModel], ...] = (
    ConditionalAutoencoder,
    ConditionalVAE,
    ConvolutionalCVAE,
    MultilayerCVAE,
    ConditionalGAN,
    ConvolutionalVAE,
    JudgeClassifier,
)
REGISTRY: dict[str, type[DigitModel]] = {cls.name: cls for cls in _MODELS}


def model_class(name: str) -> type[DigitModel]:
    """The class registered under ``name``.

    Raises:
        KeyError: unknown name; the message lists the registered ones.
    """
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered models: {', '.join(sorted(REGISTRY))}") from None


def build_model(name: str, **model_args) -> DigitModel:
    """Instantiate the registered model ``name`` with its constructor arguments."""
    return model_class(name)(**model_args)


__all__ = ["REGISTRY", "DigitModel", "UnsupportedCapability", "build_model", "model_class"]
