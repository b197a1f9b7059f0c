"""Seed 000's conditional autoencoder (CAE) and conditional VAE (CVAE), one readable file.

Source: ../shared/seeds/000_a441d5d5b502ff7e.txt, section 3 "Methods" (architecture and the two
losses) and "Training Procedure" (random input mode per batch).

Architecture shared by both models::

    image x (N, 784) ──► Linear 784→512, ReLU, Linear 512→512, ReLU ──► h_x (N, 512) ┐
                                                                                     ├─ + ─► h (N, 512)
    digit y (N, 10)  ──► Linear 10→512,  ReLU, Linear 512→512, ReLU ──► h_y (N, 512) ┘
    h ──► latent projection ──► z (N, d)
    z ──► Linear d→512, ReLU, Linear 512→512, ReLU ──► s (N, 512)
    s ──► Linear 512→784, sigmoid ──► x̂ (N, 784)        s ──► Linear 512→10, log-softmax ──► log ŷ (N, 10)

The CAE projects ``h`` with one linear layer; the CVAE with two parallel linear layers giving μ and
log σ², then samples ``z = μ + σ·ε`` (the reparameterization trick). The encoder takes image+digit,
image only or digit only: a missing input's pathway contributes nothing to the sum (h = h_x or h_y).
The image head's sigmoid is folded into the loss as BCE-with-logits for numerical stability; the
images these models return have the sigmoid applied.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import DigitModel
from core.models.capabilities import (
    CLASSIFY,
    DECODE,
    DIGIT_ONLY,
    ENCODE,
    GENERATE,
    IMAGE_AND_DIGIT,
    IMAGE_ONLY,
    INPUT_MODES,
    N_CLASSES,
    N_PIXELS,
    RECONSTRUCT,
)
from core.models.functional import bce_with_logits, gaussian_kl, reparameterize, standard_normal
from core.models.modes import GenerationMode
from core.models.samplers import FittedMode, PerDigitGaussian, attach, training_codes

#: generation modes: z from the ex-post per-digit latent density (the :class:`PerDigitGaussian`
#: sampler fitted by ``after_training``), z from the CVAE's digit-only posterior q(z | digit), or the
#: single deterministic digit-only output
DENSITY = FittedMode(PerDigitGaussian)
POSTERIOR = GenerationMode(
    "posterior", "z drawn from the CVAE's digit-only posterior q(z | digit), decoded",
    sample=lambda model, labels, generator: model.decode(model.posterior_codes(labels, generator)))
DETERMINISTIC = GenerationMode(
    "deterministic", "one image per digit: the digit-only code decoded (the CVAE: the mean of q(z | digit))",
    sample=lambda model, labels, generator: model.decode(model.encode(None, labels)), varied=False)


def _pathway(in_features: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())


def input_mode_of(x: torch.Tensor | None, y: torch.Tensor | None) -> str:
    """Name of the input mode given which inputs are present."""
    if x is not None and y is not None:
        return IMAGE_AND_DIGIT
    if x is not None:
        return IMAGE_ONLY
    if y is not None:
        return DIGIT_ONLY
    raise ValueError("give an image, a digit or both")


class _JointAutoencoder(DigitModel):
    """Encoder pathways, fusion and decoder heads shared by seed 000's CAE and CVAE."""

    source = "seed 000, section 3 (Methods) and Training Procedure"
    capabilities = frozenset({RECONSTRUCT, CLASSIFY, GENERATE, ENCODE, DECODE})
    input_modes = INPUT_MODES
    generation_modes = (DENSITY, DETERMINISTIC)
    training_inputs = "one input mode per batch, uniformly at random: image+digit, image only, digit only"

    def __init__(self, latent_dim: int = 32, hidden_dim: int = 512):
        super().__init__()
        if int(latent_dim) < 1 or int(hidden_dim) < 1:
            raise ValueError(f"latent_dim and hidden_dim must be positive, got {latent_dim}, {hidden_dim}")
        self.model_args = {"latent_dim": int(latent_dim), "hidden_dim": int(hidden_dim)}
        self.latent_dim = int(latent_dim)
        self.image_pathway = _pathway(N_PIXELS, hidden_dim)   # (N, 784) -> (N, 512)
        self.digit_pathway = _pathway(N_CLASSES, hidden_dim)  # (N, 10)  -> (N, 512)
        self.decoder = _pathway(latent_dim, hidden_dim)       # (N, d)   -> (N, 512)
        self.image_head = nn.Linear(hidden_dim, N_PIXELS)     # (N, 512) -> (N, 784) logits
        self.digit_head = nn.Linear(hidden_dim, N_CLASSES)    # (N, 512) -> (N, 10) logits

    # --- building blocks ---------------------------------------------------------------------
    def fuse(self, x: torch.Tensor | None, y: torch.Tensor | None) -> torch.Tensor:
        """Element-wise sum of the present pathways: (N, hidden_dim)."""
        input_mode_of(x, y)
        h = 0
        if x is not None:
            h = h + self.image_pathway(x.reshape(x.shape[0], N_PIXELS))
        if y is not None:
            h = h + self.digit_pathway(F.one_hot(y.long(), N_CLASSES).to(self.image_head.weight.dtype))
        return h

    def decode_logits(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image logits (N, 784) and digit log-probabilities (N, 10) from latent codes z (N, d)."""
        s = self.decoder(z)
        return self.image_head(s), F.log_softmax(self.digit_head(s), dim=-1)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [0, 1] from latent codes (N, d); ``y`` is unused (the decoder is
        not conditioned: the digit lives in z)."""
        image_logits, _ = self.decode_logits(z)
        return torch.sigmoid(image_logits).reshape(-1, 1, 28, 28)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction (N, 1, 28, 28) of ``x`` from image+digit (``y`` given) or image only."""
        return self.decode(self.encode(x, y))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Digit log-probabilities (N, 10) from the image alone (image-only input mode)."""
        return self.decode_logits(self.encode(x, None))[1]

    # --- losses ---------------------------------------------------------------------------------
    def loss_in_mode(self, x: torch.Tensor, y: torch.Tensor, mode: str) -> dict[str, torch.Tensor]:
        """Loss of one batch when the encoder sees the inputs of ``mode``; targets are always the
        full image and digit. Components in nats per image (mean over the batch):
        ``bce`` (summed over 784 pixels), ``nll`` (digit), ``kl`` (CVAE only) and ``loss`` (sum)."""
        h = self.fuse(x if mode != DIGIT_ONLY else None, y if mode != IMAGE_ONLY else None)
        z, kl = self.latent(h)  # each subclass: training-time z (N, d) and KL per image (N,) or None
        image_logits, digit_logp = self.decode_logits(z)
        bce = bce_with_logits(image_logits, x.reshape(x.shape[0], N_PIXELS))
        nll = F.nll_loss(digit_logp, y, reduction="none")
        losses = {"bce": bce.mean(), "nll": nll.mean()}
        if kl is not None:
            losses["kl"] = kl.mean()
        losses["loss"] = sum(losses.values())
        return losses

    def training_loss(self, x, y, generator):
        """Seed 000's training procedure: each batch picks one input mode uniformly at random."""
        mode = INPUT_MODES[int(torch.randint(len(INPUT_MODES), (1,), generator=generator))]
        return self.loss_in_mode(x, y, mode)

    def validation_loss(self, x, y, generator):
        """Mean of the loss over the three input modes, plus the total of each mode
        (``loss[image+digit]``, ``loss[image]``, ``loss[digit]``)."""
        per_mode = {mode: self.loss_in_mode(x, y, mode) for mode in INPUT_MODES}
        out = {key: sum(p[key] for p in per_mode.values()) / len(per_mode) for key in per_mode[IMAGE_AND_DIGIT]}
        out.update({f"loss[{mode}]": p["loss"] for mode, p in per_mode.items()})
        return out


    # --- ex-post latent density and generation ---------------------------------------------------
    @torch.no_grad()
    def after_training(self, train_x, train_y, batch_size: int = 2048):
        """Fit the ex-post latent density, a :class:`~core.models.samplers.PerDigitGaussian` over the
        image+digit codes (posterior means for the CVAE) of the training split, and attach it: it
        serves the ``"density"`` mode and is stored in the run folder's ``samplers/``."""
        codes = training_codes(self, train_x, train_y, batch_size)
        attach(self, [PerDigitGaussian().fit(codes, train_y.cpu())])

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """``nn.Module.load_state_dict``, also reading weights written while the density lived in
        them (buffers ``density_mean``, ``density_scale_tril``, ``density_fitted``): those buffers
        become the attached density sampler, with the same numbers."""
        state = dict(state_dict)
        sampler = pop_legacy_density(state)
        result = super().load_state_dict(state, strict=strict, assign=assign)
        if sampler is not None:
            attach(self, [sampler])
        return result

    def _noise(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """ε ~ N(0, I) of shape (n, d) on the model's device, drawn with ``generator`` if given."""
        return standard_normal((n, self.latent_dim), generator, self.device)


#: the buffers that held the ex-post density in weights written before it became a sampler
LEGACY_DENSITY_KEYS = ("density_mean", "density_scale_tril", "density_fitted")


def pop_legacy_density(state: dict) -> PerDigitGaussian | None:
    """Remove the old density buffers (:data:`LEGACY_DENSITY_KEYS`) from a state dict ``state`` (in
    place) and return the :class:`~core.models.samplers.PerDigitGaussian` they describe: mean (10, d)
    and Cholesky factor (10, d, d) as stored, in float32 (float16 values are exact in float32), ridge
    1e-4 as they were fitted with. None when ``state`` has no such buffers or they were never fitted."""
    found = {key: state.pop(key) for key in LEGACY_DENSITY_KEYS if key in state}
    if len(found) < len(LEGACY_DENSITY_KEYS) or not bool(found["density_fitted"]):
        return None
    return PerDigitGaussian.from_state({"ridge": 1e-4, "mean": found["density_mean"],
                                        "scale_tril": found["density_scale_tril"]})


class ConditionalAutoencoder(_JointAutoencoder):
    """Seed 000's deterministic conditional autoencoder (CAE).

    Latent projection: one linear layer 512→d. Loss (seed 000, eq. for L_CAE): BCE summed over the
    784 pixels plus the NLL of the digit, in nats per image.

    Generation from a digit alone: the CAE's digit-only code is a single point per digit, so it
    would draw the same image every time (still available as mode ``"deterministic"``). For varied
    images (mode ``"density"``, the default) we follow Ghosh et al. 2020, "From Variational to
    Deterministic Autoencoders" (ICLR), and fit an ex-post density estimate to the latent codes of
    the training images: one full-covariance Gaussian per digit over the image+digit codes
    (:class:`~core.models.samplers.PerDigitGaussian`), fitted by :meth:`after_training` and stored
    beside the weights in the run folder's ``samplers/density.pt``. Samples are ``z = mean[y] + L[y] ε``,
    decoded.

    Args:
        latent_dim: size d of the latent code (seed 000 compares 8, 16, 32 and 64).
        hidden_dim: width of every hidden layer (512 in seed 000).

    Raises:
        ValueError: a non-positive size.
    """

    name = "cae"
    display_name = "CAE"
    summary = ("two 784/10 → 512 → 512 pathways fused by addition into a deterministic latent, one decoder with an "
               "image head and a digit head; input image+digit, image or digit")
    loss_components = ("loss", "bce", "nll")

    def __init__(self, latent_dim: int = 32, hidden_dim: int = 512):
        super().__init__(latent_dim, hidden_dim)
        self.to_latent = nn.Linear(hidden_dim, latent_dim)  # (N, 512) -> (N, d)

    def encode(self, x=None, y=None):
        """Latent code z (N, d) of the given inputs (any of the three input modes)."""
        return self.to_latent(self.fuse(x, y))

    def latent(self, h):
        return self.to_latent(h), None



class ConditionalVAE(_JointAutoencoder):
    """Seed 000's conditional variational autoencoder (CVAE).

    Latent projection: two parallel linear layers 512→d for μ and log σ²; during training
    ``z = μ + σ·ε`` with ε ~ N(0, I) (reparameterize). Loss (seed 000, eq. for L_CVAE): BCE summed
    over the 784 pixels + KL(q(z|inputs) ‖ N(0, I)) + NLL of the digit, in nats per image, i.e. the
    negative ELBO plus the classification loss. At evaluation, :meth:`encode` returns μ.

    Generation from a digit alone samples z ~ q(z | digit), the digit-only posterior, and decodes it
    (mode ``"posterior"``, the default); ``"density"`` samples the same ex-post per-digit Gaussian
    over training codes as the CAE (so the two compare on equal terms); ``"deterministic"`` decodes
    the mean of q(z | digit).

    Args:
        latent_dim: size d of the latent code (seed 000 compares 8, 16, 32 and 64).
        hidden_dim: width of every hidden layer (512 in seed 000).

    Raises:
        ValueError: a non-positive size.
    """

    name = "cvae"
    display_name = "CVAE"
    summary = ("the CAE with a Gaussian latent (μ, log σ²), trained on the ELBO; input image+digit, image or digit")
    loss_components = ("loss", "bce", "nll", "kl")
    generation_modes = (POSTERIOR, DENSITY, DETERMINISTIC)

    def __init__(self, latent_dim: int = 32, hidden_dim: int = 512):
        super().__init__(latent_dim, hidden_dim)
        self.to_mu = nn.Linear(hidden_dim, latent_dim)      # (N, 512) -> (N, d)
        self.to_logvar = nn.Linear(hidden_dim, latent_dim)  # (N, 512) -> (N, d)

    def posterior(self, x=None, y=None) -> tuple[torch.Tensor, torch.Tensor]:
        """μ and log σ² (each (N, d)) of q(z | inputs)."""
        h = self.fuse(x, y)
        return self.to_mu(h), self.to_logvar(h)

    def encode(self, x=None, y=None):
        """Posterior mean μ (N, d) of the given inputs (any of the three input modes)."""
        return self.posterior(x, y)[0]

    @torch.no_grad()
    def posterior_codes(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes (N, d) z ~ q(z | digit) of the digit-only posterior for digits ``labels`` (N,)."""
        mu, logvar = self.posterior(None, labels)
        return mu + torch.exp(0.5 * logvar) * self._noise(labels.shape[0], generator)

    def latent(self, h):
        mu, logvar = self.to_mu(h), self.to_logvar(h)
        kl = gaussian_kl(mu, logvar)  # KL(q || N(0, I)), (N,)
        return reparameterize(mu, logvar), kl
