"""The vocabulary of the model interface, importable without torch.

Capability names, input modes and roles are plain strings shared by the models
(:mod:`core.models.base` re-exports them), the run catalogue (:mod:`core.runs.catalog`) and the
dashboard, whose first page is drawn before torch is imported.
"""

from __future__ import annotations

RECONSTRUCT = "reconstruct"
CLASSIFY = "classify"
GENERATE = "generate"
ENCODE = "encode"
DECODE = "decode"
RESTYLE = "restyle"
#: unconditional samples from the prior (models that never see labels)
SAMPLE = "sample"
#: every step of an iterative sampler, kept (a diffusion model's x_t and predicted clean image per step)
TRACE = "trace its sampling"
ALL_CAPABILITIES = (RECONSTRUCT, CLASSIFY, GENERATE, ENCODE, DECODE, RESTYLE, SAMPLE, TRACE)

#: roles: a compared model, or the judge classifier that scores the others (never compared)
MODEL = "model"
JUDGE = "judge"

#: Input modes of seed 000: which of (image, digit) the encoder receives.
IMAGE_AND_DIGIT = "image+digit"
IMAGE_ONLY = "image"
DIGIT_ONLY = "digit"
INPUT_MODES = (IMAGE_AND_DIGIT, IMAGE_ONLY, DIGIT_ONLY)

N_CLASSES = 10
N_PIXELS = 784


def encoder_input(model) -> str:
    """The input mode to encode or reconstruct with when a view or a metric has the image and its
    digit: image+digit where the model accepts it, else the image alone. ``model`` is anything with
    ``input_modes`` (a model, a listed run). The one place this rule is written."""
    return IMAGE_AND_DIGIT if IMAGE_AND_DIGIT in tuple(model.input_modes) else IMAGE_ONLY
