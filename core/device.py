"""Device choice for Digit Lab: the one place that turns ``cpu``/``cuda``/``auto`` into a device."""

from __future__ import annotations

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str = "auto") -> torch.device:
    """Return the ``torch.device`` for a user's device choice.

    Args:
        choice: ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``
            (``"cuda:N"`` picks a GPU by index).

    Raises:
        ValueError: the choice is not one of the above, or ``cuda`` was asked for on a machine
            where ``torch.cuda.is_available()`` is false.
    """
    text = str(choice).strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text == "cuda" or text.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {choice!r} was requested but no CUDA GPU is available here; "
                "use --device cpu or --device auto"
            )
        return torch.device(text)
    raise ValueError(f"unknown device {choice!r}: choose one of {', '.join(DEVICE_CHOICES)}")
