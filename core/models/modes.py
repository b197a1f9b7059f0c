"""Generation modes: the ways a model can draw images of given digits, as objects that carry their
description, their source and their sampling.

A model lists its modes in ``generation_modes`` (the first is its default);
:meth:`core.models.base.DigitModel.generate` looks the mode up and calls its sampling, so a model
never dispatches on mode names itself, and every view reads a mode's description from the mode.
A mode *is* its name (a ``str``): results tables, run cards and command lines store the name, and
compare equal to the object. Torch-free.
"""

from __future__ import annotations

from typing import Any, Callable


class GenerationMode(str):
    """One way to generate images of given digits.

    Args:
        name: what tables, cards and command lines call it (the string value of the object).
        description: one line for a reader, e.g. "z drawn from the prior N(0, I), decoded with the
            digit".
        source: the citation the recipe follows ("" when it is the model's own).
        sample: ``sample(model, labels, generator) -> images``: labels int64 (N,) on the model's
            device, a ``torch.Generator`` or None, images float (N, 1, 28, 28) in [0, 1].
        varied: False when the mode gives one and the same image per digit (a deterministic code).
        preview: a much cheaper version of this mode for a first look while this one runs (e.g. the same
            diffusion sampler with fewer steps, from the same noise), or None. It is not one of the
            model's modes (not offered on its own); views draw it first and say it is a preview.
    """

    description: str
    source: str
    varied: bool
    preview: "GenerationMode | None"

    def __new__(cls, name: str, description: str, source: str = "", *,
                sample: Callable[[Any, Any, Any], Any], varied: bool = True,
                preview: "GenerationMode | None" = None) -> "GenerationMode":
        mode = super().__new__(cls, name)
        mode.description, mode.source, mode.varied, mode.preview = description, source, varied, preview
        mode._sample = sample
        return mode

    def __reduce__(self):  # pickled (Ray, multiprocessing) as its plain name
        return (str, (str(self),))

    def sample(self, model: Any, labels: Any, generator: Any = None) -> Any:
        """Images (N, 1, 28, 28) in [0, 1] of the digits ``labels`` (N,) drawn by ``model`` this way."""
        return self._sample(model, labels, generator)

    def help(self) -> str:
        """The description, with the source in brackets when there is one."""
        return f"{self.description} ({self.source})" if self.source else self.description


def find_mode(modes: tuple[str, ...], name: str | None) -> str:
    """The mode of ``modes`` called ``name`` (the first when ``name`` is None or empty).

    Raises:
        ValueError: no mode of that name (the message lists the names), or ``modes`` is empty.
    """
    if not modes:
        raise ValueError("this model has no generation modes")
    if not name:
        return modes[0]
    for mode in modes:
        if mode == name:
            return mode
    raise ValueError(f"unknown generation mode {name!r}; choose from {', '.join(modes)}")
