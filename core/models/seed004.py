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

Keras' ``padding='same'`` with stride 2 is ``padding=1`` (and ``output_padding=1`` for the
transposed convolutions) in PyTorch. The sigmoid is folded into BCE-with-logits in the loss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import DECODE, ENCODE, IMAGE_ONLY, N_PIXELS, RECONSTRUCT, SAMPLE, DigitModel


class ConvolutionalVAE(DigitModel):
    """Seed 004's unsupervised convolutional VAE (β-VAE, β = 1 by default) with a 2-D latent.

    It never sees labels: ``y`` is accepted and ignored everywhere, so it can neither classify nor
    generate a chosen digit; its 2-D latent plane is shown directly in the dashboard.

    Loss (seed 004, II.B): β-ELBO in nats per image, ``bce`` summed over the 784 pixels plus
    ``β · kl`` with KL(q(z|x) ‖ N(0, I)) summed over the latent dimensions.

    Args:
        latent_dim: size of z (2 in seed 004).
        beta: weight of the KL term (1 in seed 004).

    Raises:
        ValueError: ``latent_dim < 1`` or ``beta < 0``.
    """

    name = "conv-vae"
    display_name = "Conv β-VAE"
    source = "seed 004, sections II.B and II.C"
    capabilities = frozenset({RECONSTRUCT, ENCODE, DECODE, SAMPLE})
    input_modes = (IMAGE_ONLY,)
    loss_components = ("loss", "bce", "kl")
    default_training = {"epochs": 10, "batch_size": 128, "lr": 1e-3}
    training_inputs = "images only (no labels)"

    def __init__(self, latent_dim: int = 2, beta: float = 1.0):
        super().__init__()
        if int(latent_dim) < 1 or float(beta) < 0:
            raise ValueError(f"need latent_dim >= 1 and beta >= 0, got {latent_dim}, {beta}")
        self.model_args = {"latent_dim": int(latent_dim), "beta": float(beta)}
        self.latent_dim, self.beta = int(latent_dim), float(beta)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),   # (N, 32, 14, 14)
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(),  # (N, 64, 7, 7)
            nn.Flatten(), nn.Linear(64 * 7 * 7, 16), nn.ReLU(),    # (N, 16)
        )
        self.to_mu = nn.Linear(16, latent_dim)
        self.to_logvar = nn.Linear(16, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 64, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # (N, 64, 14, 14)
            nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),  # (N, 32, 28, 28)
            nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1),                                # (N, 1, 28, 28) logits
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
        z = torch.randn(int(n), self.latent_dim, generator=generator).to(self.device)
        return self.decode(z)

    def training_loss(self, x, y, generator):
        """β-ELBO of a batch (labels unused): ``bce``, ``kl`` and ``loss = bce + β kl``, nats per image."""
        mu, logvar = self.posterior(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterize
        logits = self.decoder(z)
        bce = F.binary_cross_entropy_with_logits(logits.reshape(-1, N_PIXELS), x.reshape(-1, N_PIXELS),
                                                 reduction="none").sum(1)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)
        return {"loss": (bce + self.beta * kl).mean(), "bce": bce.mean(), "kl": kl.mean()}
