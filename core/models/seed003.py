"""Seed 003's conditional generative adversarial network (cGAN), one readable file.

Source: ../shared/seeds/003_953207282d9a885a.txt, section 4 "Methodology" (4.1 architecture,
4.2 training procedure, 4.3 the conditional minimax objective) and section 5 "Implementation"
(5.1 layer sizes, 5.2 Adam settings, 5.3 batch normalization, LeakyReLU slope, tanh output and
the two BCE losses L_D and L_G).

Architecture (§4.1.1, §4.1.2, §5.1)::

    generator G
    noise z ~ N(0, I) (N, 100) ┐
                               ├─ concat ─► (N, 110)
    digit y one-hot (N, 10)    ┘
        ─► Linear 110→256,  BatchNorm1d, ReLU
        ─► Linear 256→512,  BatchNorm1d, ReLU
        ─► Linear 512→1024, BatchNorm1d, ReLU
        ─► Linear 1024→784, tanh ──► image t (N, 784) in [-1, 1]

    discriminator D
    image t (N, 784) in [-1, 1] ┐
                                ├─ concat ─► (N, 794)
    digit y one-hot (N, 10)     ┘
        ─► Linear 794→512, LeakyReLU(0.01)
        ─► Linear 512→256, BatchNorm1d, LeakyReLU(0.01)
        ─► Linear 256→1 ──► logit (N,)   [sigmoid ⇒ D(t | y), the probability that t is real]

The seed gives the layer types, the 100 + 10 inputs, the 784 output, the 794 input of D, the
LeakyReLU f(x) = max(0.01x, x) (§5.3.2, so ``negative_slope=0.01``), tanh on G's output and
Adam(lr 2e-4, betas (0.5, 0.999)) (§5.2); the hidden widths 256/512/1024 and 512/256 are ours (the
seed's Figure 1 is not in the text). D's final sigmoid is folded into the losses as
BCE-with-logits for numerical stability; :meth:`ConditionalGAN.discriminate` applies it.

D's batch normalization always uses the statistics of the batch it sees (no running statistics):
D is trained on separate real and generated batches, whose statistics differ wildly early on, so
running averages over both would make D in eval mode a different function from the one trained
(validation would report D(x) < D(G(z)) while training reports the opposite). D is only used in
training and validation, so nothing needs it on single images; every batch D sees needs two or more
images. G's batch normalization is the usual kind (running statistics in eval mode).

Pixels: the interface's images are in [0, 1]; G works in tanh's [-1, 1], so real images enter D as
``2x - 1`` and generated images leave the model as ``(t + 1) / 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import DigitModel, adam
from core.models.capabilities import DECODE, GENERATE, N_CLASSES, N_PIXELS
from core.models.functional import bce_with_logits, standard_normal
from core.models.modes import GenerationMode

#: the one generation mode: decode z ~ N(0, I) with the wanted digit
NOISE = GenerationMode(
    "noise", "the generator fed noise z ~ N(0, I) and the digit",
    sample=lambda model, labels, generator: model.decode(model._noise(labels.shape[0], generator), labels))
#: LeakyReLU slope of the discriminator, f(x) = max(0.01x, x) (seed 003 §5.3.2)
LEAKY_SLOPE = 0.01
#: Adam's betas for both networks (seed 003 §5.2)
ADAM_BETAS = (0.5, 0.999)


@dataclass
class GANOptimizers:
    """The two optimisers :meth:`ConditionalGAN.train_step` expects (one per network)."""

    generator: torch.optim.Adam
    discriminator: torch.optim.Adam


def _block(in_features: int, out_features: int, activation: nn.Module, batch_norm: bool = True,
           batch_stats_only: bool = False) -> list[nn.Module]:
    layers = [nn.Linear(in_features, out_features)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(out_features, track_running_stats=not batch_stats_only))
    return layers + [activation]


class ConditionalGAN(DigitModel):
    """Seed 003's conditional GAN: generator G(z | y) and discriminator D(image | y).

    Generation only: there is no encoder, so the model cannot encode, reconstruct or classify.
    ``decode(z, y)`` is G itself and ``generate(labels)`` decodes z ~ N(0, I). G's batch
    normalization uses its running statistics in eval mode, so callers generate in eval mode (the
    trainer and the checkpoint loader put the model there); in train mode a batch of one image would
    fail. D's batch normalization always uses batch statistics (see the module docstring), so
    training and validation batches need two or more images (torch raises ValueError otherwise).

    Training (§4.2, §5.3.3) alternates, per batch, one discriminator step on
    ``L_D = −mean log D(x | y) − mean log(1 − D(G(z | y) | y))`` (real images with their digits,
    generated images with the same digits) and one generator step on the non-saturating
    ``L_G = −mean log D(G(z | y) | y)``; each network has its own Adam (see
    :meth:`configure_optimizer`). The seed's lr and betas are used; 30 epochs of batch 128 are our
    choice (the seed gives neither).

    Args:
        latent_dim: size of the noise vector z (100 in seed 003 §5.1.1).

    Raises:
        ValueError: ``latent_dim`` < 1.
    """

    name = "cgan"
    display_name = "cGAN"
    summary = "fully connected conditional GAN: noise + digit → image, image + digit → real/fake"
    source = "seed 003, sections 4.1–4.2 (architecture, training) and 5.1–5.3 (sizes, Adam, losses)"
    capabilities = frozenset({GENERATE, DECODE})
    input_modes = ()
    generation_modes = (NOISE,)
    loss_components = ("loss", "d_loss", "g_loss", "d_real", "d_fake")
    default_training = {"lr": 2e-4, "batch_size": 128, "epochs": 30}
    training_inputs = "discriminator: image and digit; generator: noise and digit"
    plotted_losses = ("d_loss", "g_loss")
    loss_units = {"loss": "GAN loss (D + G binary cross-entropy, nats)", "d_loss": "GAN loss (binary cross-entropy, nats)",
                  "g_loss": "GAN loss (binary cross-entropy, nats)", "d_real": "mean D output (probability)",
                  "d_fake": "mean D output (probability)"}
    decoder_needs_label = True

    def __init__(self, latent_dim: int = 100):
        super().__init__()
        if int(latent_dim) < 1:
            raise ValueError(f"latent_dim must be positive, got {latent_dim}")
        self.model_args = {"latent_dim": int(latent_dim)}
        self.latent_dim = int(latent_dim)
        self.generator_net = nn.Sequential(                       # (N, d + 10) -> (N, 784) in [-1, 1]
            *_block(self.latent_dim + N_CLASSES, 256, nn.ReLU()),
            *_block(256, 512, nn.ReLU()),
            *_block(512, 1024, nn.ReLU()),
            nn.Linear(1024, N_PIXELS), nn.Tanh())
        self.discriminator_net = nn.Sequential(                   # (N, 794) -> (N, 1) logits
            *_block(N_PIXELS + N_CLASSES, 512, nn.LeakyReLU(LEAKY_SLOPE), batch_norm=False),
            *_block(512, 256, nn.LeakyReLU(LEAKY_SLOPE), batch_stats_only=True),
            nn.Linear(256, 1))

    # --- the two networks ----------------------------------------------------------------------
    def _one_hot(self, y: torch.Tensor) -> torch.Tensor:
        """Digits (N,) int64 -> one-hot (N, 10) in the weights' dtype, on the model's device."""
        return F.one_hot(y.long().to(self.device), N_CLASSES).to(self.generator_net[0].weight.dtype)

    def generator_output(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """G(z | y): flat images (N, 784) in [-1, 1] from noise z (N, d) and digits y (N,)."""
        return self.generator_net(torch.cat([z, self._one_hot(y)], dim=1))

    def discriminator_logits(self, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Logits (N,) of D(t | y) for flat images t (N, 784) in [-1, 1] and digits y (N,)."""
        return self.discriminator_net(torch.cat([t, self._one_hot(y)], dim=1)).squeeze(1)

    def discriminate(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """D(x | y): probability (N,) that images x (N, 1, 28, 28) in [0, 1] of digits y are real."""
        return torch.sigmoid(self.discriminator_logits(2 * x.reshape(x.shape[0], N_PIXELS) - 1, y))

    def _noise(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """z ~ N(0, I) of shape (n, d) on the model's device, drawn with ``generator`` if given."""
        return standard_normal((n, self.latent_dim), generator, self.device)

    # --- capabilities -----------------------------------------------------------------------------
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [0, 1] generated from noise z (N, d) and digits y (N,).

        Raises:
            ValueError: ``y`` is None (the generator is conditioned on the digit).
        """
        if y is None:
            raise ValueError("the cGAN's generator needs the digit y")
        return ((self.generator_output(z.to(self.device), y) + 1) / 2).reshape(-1, 1, 28, 28)

    # --- training -----------------------------------------------------------------------------------
    def configure_optimizer(self, lr: float) -> GANOptimizers:
        """One Adam per network, both at ``lr`` with betas (0.5, 0.999) (seed 003 §5.2)."""
        return GANOptimizers(
            generator=adam(self.generator_net.parameters(), lr, betas=ADAM_BETAS),
            discriminator=adam(self.discriminator_net.parameters(), lr, betas=ADAM_BETAS))

    @staticmethod
    def _bce(logits: torch.Tensor, target: float) -> torch.Tensor:
        """Mean over the batch of −log D (target 1) or −log(1 − D) (target 0), in nats."""
        return bce_with_logits(logits, torch.full_like(logits, target)).mean()

    def losses(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """The quantities of one batch, with gradients; images x (N, 1, 28, 28) in [0, 1], digits y (N,).

        * ``d_loss`` = L_D = −mean log D(x | y) − mean log(1 − D(G(z | y) | y)) (two BCE terms, each
          a mean over the batch; 2 ln 2 when D = ½ everywhere);
        * ``g_loss`` = L_G = −mean log D(G(z | y) | y) (non-saturating; ln 2 when D = ½);
        * ``d_real``, ``d_fake``: mean D on the real and on the generated images (probabilities);
        * ``loss`` = d_loss + g_loss, only a summary for progress bars (nothing minimises it).

        Nats per image (per discriminator decision). z is drawn with ``generator``.
        """
        real = 2 * x.reshape(x.shape[0], N_PIXELS).to(self.device) - 1
        fake = self.generator_output(self._noise(x.shape[0], generator), y)
        real_logits, fake_logits = self.discriminator_logits(real, y), self.discriminator_logits(fake, y)
        d_loss = self._bce(real_logits, 1.0) + self._bce(fake_logits, 0.0)
        g_loss = self._bce(fake_logits, 1.0)
        return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss,
                "d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean()}

    def validation_loss(self, x, y, generator):
        """:meth:`losses` without gradients (the trainer calls it in eval mode)."""
        with torch.no_grad():
            return self.losses(x, y, generator)

    def train_step(self, x: torch.Tensor, y: torch.Tensor, optimizer: GANOptimizers,
                   generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One discriminator step, then one generator step, on images x (N, 1, 28, 28) in [0, 1] with
        digits y (N,); ``optimizer`` comes from :meth:`configure_optimizer`.

        D step: minimise L_D on the real images (target 1) and on G(z | y), detached, (target 0).
        G step: minimise L_G = −mean log D(G(z | y) | y) through the updated D, moving only G's
        weights. z is drawn once with ``generator``. Returns the keys of :meth:`losses` as detached
        0-d tensors:
        ``d_loss``, ``d_real`` and ``d_fake`` measured before the D step, ``g_loss`` through the
        updated D before the G step. (§4.2 writes G's gradient with log(1 − D); we follow §5.3.3's
        L_G, the usual non-saturating form, which gives G useful gradients when D wins early.)
        """
        real = 2 * x.reshape(x.shape[0], N_PIXELS).to(self.device) - 1
        fake = self.generator_output(self._noise(x.shape[0], generator), y)

        real_logits = self.discriminator_logits(real, y)
        fake_logits = self.discriminator_logits(fake.detach(), y)
        d_loss = self._bce(real_logits, 1.0) + self._bce(fake_logits, 0.0)
        optimizer.discriminator.zero_grad(set_to_none=True)
        d_loss.backward()
        optimizer.discriminator.step()

        g_loss = self._bce(self.discriminator_logits(fake, y), 1.0)
        optimizer.generator.zero_grad(set_to_none=True)
        g_loss.backward()  # also fills D's gradients; the next D step clears them unused
        optimizer.generator.step()

        d_loss, g_loss = d_loss.detach(), g_loss.detach()
        return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss,
                "d_real": torch.sigmoid(real_logits.detach()).mean(),
                "d_fake": torch.sigmoid(fake_logits.detach()).mean()}
