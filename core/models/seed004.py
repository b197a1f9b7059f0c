"""Seed 004's convolutional β-VAE with a 2-D latent, trained without labels.

Source: ../shared/seeds/004_d0529b9973742221.txt, section II.B (architecture, β-ELBO) and II.C
(Adam 1e-3, batch 128, 10 epochs).

    x (N, 1, 28, 28) ─► Conv 32, 3×3, stride 2, ReLU ─► (N, 32, 14, 14)
                     ─► Conv 64, 3×3, stride 2, ReLU ─► (N, 64, 7, 7) ─► Flatten (N, 3136)
                     ─► Dense 16, ReLU ─► μ (N, 2), log σ² (N, 2)
    z = μ + σ·ε (N, 2) ─► Dense 7·7·64, ReLU ─► (N, 64, 7, 7)
                     ─► ConvTranspose 64, stride 2, ReLU ─► (N, 64, 14, 14)
                     ─► ConvTranspose 32, stride 2, ReLU ─► (N, 32, 28, 28)
                     ─► ConvTranspose 1, 3×3, sigmoid ─► x̂ (N, 1, 28, 28)

Options for the seed's experiments (II.C, item 2, "Ablation Study on Regularization"), all off by
default so the shipped run is the seed's base model: L1/L2 kernel penalties on the convolution and
dense kernels, Dropout after the encoder's Flatten, BatchNorm after each convolution; and two
remedies from the literature for posterior collapse (the KL term driven to ~0, the latent unused):
free bits (Kingma et al. 2016, "Improved Variational Inference with Inverse Autoregressive Flow",
NeurIPS, eq. 15) and KL warm-up (Bowman et al. 2016, "Generating Sentences from a Continuous
Space", CoNLL, §3.1; Sønderby et al. 2016, "Ladder Variational Autoencoders", NeurIPS).

Keras' ``padding='same'`` with stride 2 is ``padding=1`` (and ``output_padding=1`` for the
transposed convolutions) in PyTorch. The sigmoid is folded into BCE-with-logits in the loss.
"""

from __future__ import annotations

import torch
from torch import nn

from core.models.base import DigitModel
from core.models.capabilities import DECODE, ENCODE, IMAGE_ONLY, N_PIXELS, RECONSTRUCT, SAMPLE
from core.models.functional import bce_with_logits, gaussian_kl_per_dimension, reparameterize, standard_normal


class ConvolutionalVAE(DigitModel):
    """Seed 004's unsupervised convolutional VAE (β-VAE, β = 1 by default) with a 2-D latent.

    It never sees labels: ``y`` is accepted and ignored everywhere, so it can neither classify nor
    generate a chosen digit; its 2-D latent plane is shown directly in the dashboard.

    Loss (seed 004, II.B): β-ELBO in nats per image, ``bce`` summed over the 784 pixels plus
    ``β · kl`` with KL(q(z|x) ‖ N(0, I)) summed over the latent dimensions. During training the
    minimised ``loss`` also carries the options below (kernel penalty, free bits, warm-up weight);
    the validation ``loss`` is always the plain β-ELBO ``bce + β · kl``, so runs compare on it.

    Args:
        latent_dim: size of z (2 in seed 004).
        beta: weight of the KL term (1 in seed 004).
        l1, l2: Keras-style kernel penalties ``l1·Σ|w| + l2·Σw²`` over the weights (not biases) of
            every convolution and dense layer, added to each batch's loss (seed 004 II.C: 1e-5, 1e-4).
        dropout: rate of a Dropout layer after the encoder's Flatten (seed 004 II.C: 0.2).
        batch_norm: BatchNorm after each convolution (after its ReLU, as Keras stacks
            ``Conv2D(activation='relu')`` then ``BatchNormalization()``), except the output layer.
        free_bits: λ in nats per latent dimension; the KL of dimension j (mean over the batch)
            counts as ``max(λ, KL_j)`` in the training loss (Kingma et al. 2016, eq. 15).
        kl_warmup_steps: the KL weight rises linearly from 0 to β over this many training batches
            (Bowman et al. 2016; Sønderby et al. 2016); the count is part of the saved state.

    Raises:
        ValueError: ``latent_dim < 1``, a negative ``beta``, ``l1``, ``l2``, ``free_bits`` or
            ``kl_warmup_steps``, or ``dropout`` outside [0, 1).
    """

    name = "conv-vae"
    display_name = "Conv β-VAE"
    summary = "unsupervised convolutional VAE with a 2-D latent, weighted KL (β)"
    source = "seed 004, sections II.B and II.C"
    capabilities = frozenset({RECONSTRUCT, ENCODE, DECODE, SAMPLE})
    input_modes = (IMAGE_ONLY,)
    loss_components = ("loss", "bce", "kl")
    default_training = {"epochs": 10, "batch_size": 128, "lr": 1e-3}
    training_inputs = "images only (no labels)"

    def __init__(self, latent_dim: int = 2, beta: float = 1.0, l1: float = 0.0, l2: float = 0.0,
                 dropout: float = 0.0, batch_norm: bool = False, free_bits: float = 0.0,
                 kl_warmup_steps: int = 0, negative_slope: float = 0.0):
        super().__init__()
        if int(latent_dim) < 1 or not float(beta) >= 0:
            raise ValueError(f"need latent_dim >= 1 and beta >= 0, got {latent_dim}, {beta}")
        for label, value in (("l1", l1), ("l2", l2), ("free_bits", free_bits), ("kl_warmup_steps", kl_warmup_steps),
                             ("negative_slope", negative_slope)):
            if not float(value) >= 0:
                raise ValueError(f"{label} must be 0 or more, got {value}")
        if not 0 <= float(dropout) < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.model_args = {"latent_dim": int(latent_dim), "beta": float(beta)}
        options = {"l1": float(l1), "l2": float(l2), "dropout": float(dropout), "batch_norm": bool(batch_norm),
                   "free_bits": float(free_bits), "kl_warmup_steps": int(kl_warmup_steps),
                   "negative_slope": float(negative_slope)}
        defaults = {"l1": 0.0, "l2": 0.0, "dropout": 0.0, "batch_norm": False, "free_bits": 0.0, "kl_warmup_steps": 0,
                    "negative_slope": 0.0}
        self.model_args.update({k: v for k, v in options.items() if v != defaults[k]})  # the base model: 2 args
        self.latent_dim, self.beta = int(latent_dim), float(beta)
        self.l1, self.l2, self.free_bits = options["l1"], options["l2"], options["free_bits"]
        self.kl_warmup_steps = options["kl_warmup_steps"]
        if self.kl_warmup_steps:
            self.register_buffer("kl_steps", torch.zeros((), dtype=torch.int64))  # batches seen so far

        def norm(channels: int) -> list[nn.Module]:
            return [nn.BatchNorm2d(channels)] if batch_norm else []

        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(), *norm(32),    # (N, 32, 14, 14)
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), *norm(64),   # (N, 64, 7, 7)
            nn.Flatten(), *([nn.Dropout(dropout)] if dropout else []),
            nn.Linear(64 * 7 * 7, 16),                                          # (N, 16)
            nn.LeakyReLU(negative_slope) if negative_slope else nn.ReLU(),
        )
        self.to_mu = nn.Linear(16, latent_dim)
        self.to_logvar = nn.Linear(16, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1), nn.ReLU(), *norm(64),  # (N, 64, 14, 14)
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(), *norm(32),  # (N, 32, 28, 28)
            nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1),                                           # (N, 1, 28, 28) logits
        )

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ and log σ² (each (N, d)) of q(z | x) for images x (N, 1, 28, 28)."""
        h = self.encoder(x.reshape(-1, 1, 28, 28))
        return self.to_mu(h), self.to_logvar(h)

    def encode(self, x=None, y=None):
        """Posterior mean μ (N, d) of images ``x``; ``y`` is ignored (the model is unsupervised).

        Raises:
            ValueError: no image given.
        """
        if x is None:
            raise ValueError("the convolutional VAE encodes images only; give x")
        return self.posterior(x)[0]

    def decode(self, z, y=None):
        """Images (N, 1, 28, 28) in [0, 1] from codes z (N, d); ``y`` is ignored."""
        return torch.sigmoid(self.decoder(z))

    def reconstruct(self, x, y=None):
        """Reconstruction (N, 1, 28, 28) of ``x`` through the posterior mean."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def sample(self, n, generator=None):
        """``n`` images (n, 1, 28, 28) decoded from z ~ N(0, I), the prior of seed 004's VAE;
        ``generator`` (a CPU ``torch.Generator``) makes the draw reproducible."""
        z = standard_normal((int(n), self.latent_dim), generator, self.device)
        return self.decode(z)

    def _elbo_terms(self, x):
        """Per-image BCE (N,) and per-dimension KL (N, d), both in nats, through one reparameterized z."""
        mu, logvar = self.posterior(x)
        logits = self.decoder(reparameterize(mu, logvar))
        bce = bce_with_logits(logits.reshape(-1, N_PIXELS), x.reshape(-1, N_PIXELS))
        return bce, gaussian_kl_per_dimension(mu, logvar)

    def kernel_penalty(self) -> torch.Tensor:
        """``l1·Σ|w| + l2·Σw²`` over the kernels of every convolution and dense layer (a 0-d tensor)."""
        kernels = [m.weight for m in self.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
        penalty = torch.zeros((), device=self.device)
        if self.l1:
            penalty = penalty + self.l1 * sum(w.abs().sum() for w in kernels)
        if self.l2:
            penalty = penalty + self.l2 * sum(w.pow(2).sum() for w in kernels)
        return penalty

    def kl_weight(self) -> float:
        """The KL weight of the next training batch: β, or β·min(1, steps/kl_warmup_steps) in warm-up."""
        if not self.kl_warmup_steps:
            return self.beta
        return self.beta * min(1.0, int(self.kl_steps) / self.kl_warmup_steps)

    def training_loss(self, x, y, generator):
        """β-ELBO of a batch (labels unused) with the training options: ``bce`` and ``kl`` (nats per
        image, KL summed over the latent dimensions) and the minimised ``loss``."""
        bce, kl_dims = self._elbo_terms(x)
        kl_term = kl_dims.sum(1).mean()
        if self.free_bits:
            kl_term = torch.clamp(kl_dims.mean(0), min=self.free_bits).sum()
        loss = bce.mean() + self.kl_weight() * kl_term
        if self.l1 or self.l2:
            loss = loss + self.kernel_penalty()
        if self.kl_warmup_steps and self.training:
            self.kl_steps += 1
        return {"loss": loss, "bce": bce.mean(), "kl": kl_dims.sum(1).mean()}

    def validation_loss(self, x, y, generator):
        """The plain β-ELBO ``bce + β·kl`` of a batch (no penalty, free bits or warm-up), nats per image."""
        bce, kl_dims = self._elbo_terms(x)
        kl = kl_dims.sum(1).mean()
        return {"loss": bce.mean() + self.beta * kl, "bce": bce.mean(), "kl": kl}
