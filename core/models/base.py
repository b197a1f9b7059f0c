"""The one interface every Digit Lab model implements.

A model declares what it can do in ``capabilities``; the trainer, the evaluation code and the
dashboard ask that set (via :meth:`DigitModel.can`), never the model's name. Shared conventions:

* images: float32 tensors (N, 1, 28, 28), pixels in [0, 1];
* labels: int64 tensors (N,) of digits 0–9 (models one-hot encode them themselves);
* latent codes: float32 tensors (N, latent_dim);
* losses: nats per image (summed over the 784 pixels / the latent dimensions, mean over the batch).

The shape of the interface follows PyTorch-VAE's shared encode/decode/sample methods; the
self-describing constructor arguments follow nanoGPT's checkpoints.
"""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from core.models.capabilities import (
    CLASSIFY,
    DECODE,
    ENCODE,
    GENERATE,
    IMAGE_AND_DIGIT,
    MODEL,
    RECONSTRUCT,
    RESTYLE,
    SAMPLE,
    TRACE,
)
from core.models.modes import GenerationMode, find_mode

#: the unit of most losses: summed over the 784 pixels / the latent dimensions, mean over the batch
NATS_PER_IMAGE = "nats per image"


def adam(params, lr: float, **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam`` over ``params`` at learning rate ``lr`` (other settings as keywords),
    with PyTorch's fused implementation (one kernel for the whole update) where every parameter
    lives on a device that has it (CPU, CUDA), else the default. Fused and default Adam compute
    the same update up to float rounding; fused is about 20 % faster per step for the MLP models
    here (``benchmarks/bench_train.py``).
    """
    params = list(params)
    devices = {p.device.type for group in params for p in (group["params"] if isinstance(group, dict) else [group])}
    return torch.optim.Adam(params, lr=lr, fused=devices <= {"cpu", "cuda"} or None, **kwargs)


class UnsupportedCapability(RuntimeError):
    """A model was asked for something it does not declare in ``capabilities``."""


class _Declared:
    """A class attribute that each model extends with what is attached to that model alone.

    Read on a class, it is the value the class declares; read on a model, it is
    ``extend(declared, model)``. :meth:`DigitModel.__init_subclass__` wraps a subclass's plain
    ``generation_modes`` and ``capabilities`` in it, so subclasses declare them as usual. It cannot be
    assigned on a model, so no code rewrites one model's declared modes: samplers are attached with
    :func:`core.models.samplers.attach` (which fills :attr:`DigitModel.samplers` and
    :attr:`DigitModel.extra_modes`).
    """

    def __init__(self, name: str, declared: Any, extend: Any):
        self.name, self.declared, self.extend = name, declared, extend

    def __get__(self, model: Any, owner: type | None = None) -> Any:
        return self.declared if model is None else self.extend(self.declared, model)

    def __set__(self, model: Any, value: Any) -> None:
        raise AttributeError(f"a model's {self.name} are its class's and its attached samplers'; "
                             "attach samplers with core.models.samplers.attach")


def _modes_with_attached(declared: tuple, model: "DigitModel") -> tuple:
    return tuple(declared) + tuple(model.extra_modes)


def _capabilities_with_attached(declared: frozenset, model: "DigitModel") -> frozenset:
    return declared | {GENERATE} if model.extra_modes else declared


#: the class attributes a model extends with its attached samplers, and how
_EXTENDED = {"generation_modes": _modes_with_attached, "capabilities": _capabilities_with_attached}


class SamplingTrajectory(NamedTuple):
    """Every step of one run of an iterative sampler (:meth:`DigitModel.trace`).

    Attributes:
        timesteps: (S,) float32, the noise level of each step's input on the model's own scale (a
            diffusion model's timestep t, T − 1 first).
        x_t: (S + 1, N, 1, 28, 28) float32 in [0, 1]: the starting noise and each step's output,
            mapped from the model's [−1, 1] scale and clipped (noise shows as speckle); ``x_t[-1]``
            is the generated image.
        x0: (S, N, 1, 28, 28) float32 in [0, 1]: the clean image the network predicts at each step.
    """

    timesteps: torch.Tensor
    x_t: torch.Tensor
    x0: torch.Tensor


class DigitModel(nn.Module):
    """Base class of every model: capability declaration, constructor arguments, training hooks.

    Subclasses set the class attributes, store their constructor arguments in ``self.model_args``
    (a JSON-serialisable dict, so a checkpoint can rebuild the model with ``cls(**model_args)``)
    and override the methods of the capabilities they declare.
    """

    #: registry key, also written into every checkpoint's config.json
    name: ClassVar[str] = ""
    #: short label for tables and the dashboard
    display_name: ClassVar[str] = ""
    #: what the model is, in one line for a reader (the Overview's table of models)
    summary: ClassVar[str] = ""
    #: where the architecture comes from (seed file and section, or paper)
    source: ClassVar[str] = ""
    #: what the model can do; on a model, with :data:`GENERATE` added once a sampler gives it a
    #: generation mode (see :class:`_Declared`)
    capabilities: ClassVar[frozenset[str]] = _Declared("capabilities", frozenset(), _capabilities_with_attached)
    #: input modes :meth:`encode` and :meth:`reconstruct` accept
    input_modes: ClassVar[tuple[str, ...]] = (IMAGE_AND_DIGIT,)
    #: ways :meth:`generate` can produce images (:class:`~core.models.modes.GenerationMode` objects,
    #: each with its description, source and sampling); the first is the default. On a model, the
    #: class's modes followed by :attr:`extra_modes`, those of the samplers attached to that model
    generation_modes: ClassVar[tuple[GenerationMode, ...]] = _Declared("generation_modes", (), _modes_with_attached)
    #: True for a model shown as a reference of the state of the art, not one of the seeds' models
    reference: ClassVar[bool] = False
    #: keys of the dict ``training_loss`` returns ("loss" is the one minimised)
    loss_components: ClassVar[tuple[str, ...]] = ("loss",)
    #: unit of each loss component for axis titles; components not listed are in :data:`NATS_PER_IMAGE`
    loss_units: ClassVar[dict[str, str]] = {}
    #: loss components the loss-curve view shows first (the GAN: its D and G losses)
    plotted_losses: ClassVar[tuple[str, ...]] = ("loss",)
    #: training settings of the model's source (epochs, batch_size, lr); the command line overrides
    default_training: ClassVar[dict[str, Any]] = {}
    #: True when :meth:`decode` needs the digit ``y`` (label-conditioned decoders)
    decoder_needs_label: ClassVar[bool] = False
    #: :data:`MODEL` for compared models, :data:`JUDGE` for the judge classifier
    role: ClassVar[str] = MODEL
    #: what the model sees during training (written into each run's config.json)
    training_inputs: ClassVar[str] = "image and digit"
    #: what :meth:`latent_origin` is, in a reader's words (the latent sliders' caption)
    origin_text: ClassVar[str] = "z = 0 decoded with the digit"
    #: what :meth:`latent_axes` are, in a reader's words
    axes_text: ClassVar[str] = "latent coordinates, prior scale"

    model_args: dict[str, Any]
    latent_dim: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, extend in _EXTENDED.items():
            value = cls.__dict__.get(name)
            if value is not None and not isinstance(value, _Declared):
                setattr(cls, name, _Declared(name, value, extend))

    def __init__(self) -> None:
        super().__init__()
        #: fitted latent samplers of this model by name (:mod:`core.models.samplers`; stored in the
        #: run folder's ``samplers/`` by :func:`core.runs.store.save_run`)
        self.samplers: dict[str, Any] = {}
        #: the generation modes of those samplers that are not among the class's own, in attach order
        self.extra_modes: list[GenerationMode] = []

    def can(self, capability: str) -> bool:
        """True when the model declares ``capability`` (one of :data:`ALL_CAPABILITIES`)."""
        return capability in self.capabilities

    def card(self) -> dict[str, Any]:
        """What a catalogue needs to list and lay out a run without loading its weights (or torch).

        Written into every run's ``config.json`` by :func:`core.runs.store.save_run` and read by
        :mod:`core.runs.catalog`; a test checks that each shipped run's card equals its class's.

        Returns:
            JSON-serialisable dict: display_name, description, summary, source, role, latent_dim,
            capabilities (sorted), input_modes, generation_modes, decoder_needs_label,
            plotted_losses, loss_units (one unit per loss component).
        """
        return {"display_name": self.display_name, "description": self.describe(), "summary": self.summary,
                "source": self.source,
                "role": self.role, "latent_dim": int(self.latent_dim),
                "capabilities": sorted(self.capabilities), "input_modes": list(self.input_modes),
                "generation_modes": list(self.generation_modes),
                "decoder_needs_label": bool(self.decoder_needs_label),
                "plotted_losses": list(self.plotted_losses),
                "loss_units": {c: self.loss_units.get(c, NATS_PER_IMAGE) for c in self.loss_components}}

    def _unsupported(self, capability: str) -> UnsupportedCapability:
        return UnsupportedCapability(f"{self.display_name or type(self).__name__} cannot {capability}")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def describe(self) -> str:
        """One line: display name and latent size, e.g. ``"CAE (z=32)"``."""
        return f"{self.display_name} (z={self.latent_dim})"

    # --- capabilities -------------------------------------------------------------------------
    def encode(self, x: torch.Tensor | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
        """Deterministic latent code (N, latent_dim) of images ``x`` and/or digits ``y``."""
        raise self._unsupported(ENCODE)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [0, 1] decoded from latent codes ``z`` (N, latent_dim)."""
        raise self._unsupported(DECODE)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstructed images (N, 1, 28, 28) in [0, 1] of images ``x``, optionally told ``y``."""
        raise self._unsupported(RECONSTRUCT)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (N, 10) of each digit given the image alone."""
        raise self._unsupported(CLASSIFY)

    @torch.no_grad()
    def generate(self, labels: torch.Tensor, generator: torch.Generator | None = None,
                 mode: str | None = None) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [0, 1] of the digits ``labels`` (N,), one per label, drawn in the
        generation mode named ``mode`` (default: the first of ``generation_modes``) by that mode's
        sampling; ``generator`` (a ``torch.Generator``) makes the draw reproducible.

        Raises:
            UnsupportedCapability: the model does not generate from digits.
            ValueError: an unknown mode (the message lists the model's).
        """
        if not self.can(GENERATE):
            raise self._unsupported(GENERATE)
        return self.generation_mode(mode).sample(self, labels.long().to(self.device), generator)

    def generation_mode(self, name: str | None = None) -> GenerationMode:
        """The generation mode called ``name`` (None: the default, the first).

        Raises:
            ValueError: no such mode (the message lists the model's).
        """
        return find_mode(self.generation_modes, name)

    def latent_origin(self, digit: int) -> torch.Tensor:
        """Where the latent sliders start for ``digit`` on a model whose codes cannot be measured
        (no encoder, or a decoder that takes the digit as a label): a code (latent_dim,) float32.
        Default: z = 0, the mode of the N(0, I) prior."""
        return torch.zeros(self.latent_dim)

    def latent_axes(self, k: int) -> torch.Tensor:
        """``min(k, latent_dim)`` orthonormal directions (k, latent_dim) float32 that the latent
        sliders move along on such a model, one prior standard deviation per slider unit (unit
        directions of N(0, I) have σ = 1). Default: the first latent coordinates."""
        return torch.eye(self.latent_dim)[:max(0, min(int(k), self.latent_dim))]

    def trace(self, labels: torch.Tensor, generator: torch.Generator | None = None, *, steps: int = 20,
              eta: float = 0.0, guidance: float | None = None, clean_end: bool = True) -> SamplingTrajectory:
        """Generate images of the digits ``labels`` (N,) and keep every step of the sampler (see
        :class:`SamplingTrajectory`); ``generator`` draws the starting noise (and any fresh noise).

        Args:
            steps: number of sampling steps.
            eta: share of fresh noise per step (0: deterministic).
            guidance: classifier-free guidance weight (None: the model's own).
            clean_end: the last step lands on the predicted clean image.

        Raises:
            UnsupportedCapability: the model has no iterative sampler to trace.
            ValueError: settings outside their ranges (the message says which).
        """
        raise self._unsupported(TRACE)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` images (n, 1, 28, 28) in [0, 1] drawn from the model without a label (prior samples)."""
        raise self._unsupported(SAMPLE)

    def restyle(self, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Images (N, T, 1, 28, 28): each image ``x`` (N, 1, 28, 28) of digit ``y`` (N,) redrawn as
        each digit of ``targets`` (T,) in the same handwriting style."""
        raise self._unsupported(RESTYLE)

    # --- training hooks -----------------------------------------------------------------------
    def configure_optimizer(self, lr: float) -> Any:
        """The optimiser(s) the trainer hands to :meth:`train_step` (any object); Adam by default."""
        return adam(self.parameters(), lr)

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Loss dict for one training batch; key ``"loss"`` is minimised, the rest are logged."""
        raise UnsupportedCapability(f"{type(self).__name__} defines no training loss")

    def validation_loss(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Loss dict for one validation batch (no gradients); same keys as the training loss."""
        return self.training_loss(x, y, generator)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer,
                   generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch; returns the batch's loss components as detached 0-d
        tensors on the model's device (not floats: reading a number waits for the device, so the
        trainer reads them once per epoch)."""
        losses = self.training_loss(x, y, generator)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        optimizer.step()
        return {key: value.detach() for key, value in losses.items()}

    @torch.no_grad()
    def after_training(self, train_x: torch.Tensor, train_y: torch.Tensor) -> None:
        """Called once after the last epoch with the whole training split (e.g. to fit densities)."""
