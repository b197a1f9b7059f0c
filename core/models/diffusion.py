"""A class-conditional diffusion model: today's state of the art, shipped as a reference beside the
seed models (it is not from any seed document).

Sources: denoising diffusion (DDPM, Ho et al. 2020) with the cosine noise schedule (Nichol &
Dhariwal 2021), deterministic DDIM sampling (Song et al. 2021) and classifier-free guidance (Ho &
Salimans 2022). The network and the schedulers are diffusers' (``UNet2DModel`` with a class
embedding, ``DDIMScheduler``); this file only wires them to Digit Lab's model interface.

Shapes::

    x0 (N, 1, 28, 28) in [0, 1] ──► 2·x0 − 1 ──► x_t = √ᾱ_t·x0 + √(1 − ᾱ_t)·ε   (t ~ U{0..999}, ε ~ N(0, I))
    UNet(x_t, t, digit or "no digit") ──► ε̂ (N, 1, 28, 28);   loss = mean (ε̂ − ε)²

    UNet: 28×28 ─► DownBlock 32 ─► 14×14 ─► DownBlock 64 ─► 7×7 ─► AttnDownBlock 64 ─► mid (attention)
          ─► AttnUpBlock 64 ─► UpBlock 64 ─► UpBlock 32 ─► ε̂;  the timestep and the digit (11 classes:
          ten digits and "no digit") are embedded and added to every residual block.

Generation starts from noise z ~ N(0, I) (N, 784) and runs DDIM with η = 0, so it is a deterministic
function of (z, digit): that function is :meth:`decode`, which lets the latent sliders and the
interpolation work on this model (its latent is the starting noise, 784 dimensions). Guidance mixes
the two predictions, ε̂ = ε̂(no digit) + w·(ε̂(digit) − ε̂(no digit)).

Noise of 784 dimensions lies on a thin shell: a draw of N(0, I) has length √784 = 28 to within a few
per cent, and z = 0 or the midpoint of two draws (length ≈ 20) is noise the network never saw. So
:meth:`decode` puts every code on that shell (a linear interpolation becomes a normalised one), the
sliders start from a fixed draw of noise, and they move along low-frequency cosine patterns of the
noise (single noise pixels barely change the image: measured, a 3σ move of one pixel changes 1.5 % of
the image's ink on average, of the lowest cosine pattern 3.9 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import DigitModel, SamplingTrajectory
from core.models.capabilities import DECODE, GENERATE, N_CLASSES, N_PIXELS, TRACE
from core.models.functional import standard_normal
from core.models.modes import GenerationMode

#: DDIM steps of the modes' previews: a 10×10 grid in about 1.3 s on one CPU thread (the shipped run's seed-0
#: grid, read by the judge: 96 % right at 3 steps in 1.25 s, 97 % at 4 steps in 1.92 s, 100 % at 20 steps;
#: without guidance 4 steps take 0.83 s but only 85 % are read right)
PREVIEW_STEPS = 3


def check_sampler(what: str, steps: int, eta: float, guidance: float | None) -> None:
    """The ranges every sampler's settings share (the diffusion model's and the flow's).

    Raises:
        ValueError: steps below 1, η outside [0, 1] or a guidance below 0, naming ``what``.
    """
    if int(steps) < 1 or not 0 <= float(eta) <= 1 or (guidance is not None and not float(guidance) >= 0):
        raise ValueError(f"{what} needs at least 1 step, η in [0, 1] and a guidance of at least 0; "
                         f"got {steps} steps, η = {eta}, guidance {guidance}")


@dataclass(frozen=True)
class DDIMSampler:
    """How DDIM (Song et al. 2021) walks from noise to an image: the settings a generation mode, the
    latent views and the sampling page share.

    Args:
        steps: number of denoising steps (timesteps spaced "trailing": the first step starts at the
            last training timestep, T − 1).
        eta: η, the share of fresh noise per step (0: deterministic DDIM; 1: the stochastic DDPM-like
            posterior variance).
        clean_end: the last step lands on the predicted clean image x̂₀ (diffusers'
            ``set_alpha_to_one=True``); False stops at timestep 0, whose ᾱ₀ = 0.99996 leaves noise of
            σ = 0.0064 (on the [−1, 1] scale) in every pixel: a faint haze on the background.
        guidance: classifier-free guidance weight w (None: the model's ``guidance``).

    Raises:
        ValueError: steps below 1, η outside [0, 1] or a guidance below 0.
    """

    steps: int = 20
    eta: float = 0.0
    clean_end: bool = True
    guidance: float | None = None

    def __post_init__(self):
        check_sampler("a DDIM sampler", self.steps, self.eta, self.guidance)

    @property
    def stochastic(self) -> bool:
        """True when η > 0: each step adds fresh noise, so the image is not a function of the start noise alone."""
        return self.eta > 0

    def with_steps(self, steps: int) -> "DDIMSampler":
        """The same sampler with ``steps`` steps (e.g. a preview)."""
        return DDIMSampler(steps, self.eta, self.clean_end, self.guidance)


def sampler_mode(name: str, sampler, description: str, source: str,
                 preview: GenerationMode | None = None) -> GenerationMode:
    """A generation mode that draws starting noise (N, 784) with the mode's generator and runs
    ``sampler`` (a :class:`DDIMSampler`, or another model's sampler settings) through
    ``model.run_sampler``; the same generator draws any fresh noise of a stochastic sampler."""
    return GenerationMode(
        name, description, source,
        sample=lambda model, labels, generator: model.run_sampler(
            standard_normal((labels.shape[0], N_PIXELS), generator), labels, sampler, generator=generator),
        preview=preview)


def _ddim(steps: int, clean_end: bool = False, eta: float = 0.0, guidance: float | None = None,
          preview: bool = True) -> GenerationMode:
    sampler = DDIMSampler(steps, eta=eta, clean_end=clean_end, guidance=guidance)
    name = (f"DDIM {steps} steps" + (", clean end" if clean_end and not eta else "") + (f", η = {eta:g}" if eta else "")
            + (f", w = {guidance:g}" if guidance is not None else ""))
    what = (f"{steps} stochastic DDIM steps (η = {eta:g}: fresh noise at every step)" if eta
            else f"{steps} deterministic DDIM steps (η = 0)")
    end = (", the last landing on the predicted clean image" if clean_end
           else ", the last stopping at timestep 0 (a residual noise of σ 0.003 in every pixel)")
    weight = "the model's" if guidance is None else f"a weight w = {guidance:g}"
    quick = _ddim(PREVIEW_STEPS, clean_end, eta, guidance, preview=False) if preview else None
    return sampler_mode(name, sampler, f"{what} from Gaussian noise{end}, with classifier-free guidance of {weight}",
                        "Song et al. 2021; Ho & Salimans 2022", quick)


#: what :meth:`ClassConditionalDiffusion.decode` runs (the latent sliders, interpolation): deterministic, so an
#: image is a function of its starting noise and digit
DECODE_SAMPLER = DDIMSampler(20, eta=0.0, clean_end=False)
#: generation modes, the default first
DDIM_MODES = (_ddim(20), _ddim(10), _ddim(50), _ddim(20, clean_end=True), _ddim(20, clean_end=True, eta=1.0),
              _ddim(20, clean_end=True, eta=1.0, guidance=1.5), _ddim(50, clean_end=True, eta=1.0))
#: decay of the exponential moving average of the weights that generation uses
EMA_DECAY = 0.999
#: class index of "no digit" (classifier-free guidance's unconditional input)
NO_DIGIT = N_CLASSES


class ClassConditionalDiffusion(DigitModel):
    """Class-conditional DDPM on diffusers' UNet2DModel, sampled with DDIM and classifier-free
    guidance (see the module docstring).

    Args:
        base_channels: channels of the first UNet level (the next two have twice as many).
        guidance: classifier-free guidance weight w used when generating (1 = no guidance).
        drop_digit: probability that a training image is shown with "no digit" (learns the
            unconditional prediction guidance needs).
        train_timesteps: T, the number of noise levels of the forward process.

    Raises:
        ValueError: a non-positive size, a guidance below 0, or drop_digit outside [0, 1).
    """

    name = "diffusion"
    display_name = "Diffusion"
    summary = ("class-conditional denoising diffusion on a small UNet, sampled with DDIM and classifier-free "
               "guidance: a reference of today's state of the art, not a seed model")
    source = ("reference (not a seed model): DDPM, Ho et al. 2020; DDIM, Song et al. 2021; classifier-free "
              "guidance, Ho & Salimans 2022; network and schedulers from diffusers")
    capabilities = frozenset({GENERATE, DECODE, TRACE})
    generation_modes = DDIM_MODES
    decoder_needs_label = True
    loss_components = ("loss",)
    loss_units = {"loss": "mean squared error of the predicted noise, per pixel"}
    reference = True
    default_training = {"epochs": 30, "batch_size": 128, "lr": 1e-3}
    training_inputs = "image and digit; the digit is replaced by 'no digit' for a random 10 % of images"
    origin_text = "a fixed draw of its starting noise (seed = the digit)"
    #: the deterministic sampler :meth:`decode` runs (latent sliders, interpolation)
    decode_sampler = DECODE_SAMPLER
    axes_text = "low-frequency cosine patterns of the starting noise, prior scale"

    def __init__(self, base_channels: int = 16, guidance: float = 2.0, drop_digit: float = 0.1,
                 train_timesteps: int = 1000):
        super().__init__()
        from diffusers import UNet2DModel

        if int(base_channels) < 8 or int(base_channels) % 8 or int(train_timesteps) < 2:
            raise ValueError(f"base_channels must be a positive multiple of 8 and train_timesteps at least 2, got "
                             f"{base_channels} and {train_timesteps}")
        if not float(guidance) >= 0 or not 0 <= float(drop_digit) < 1:
            raise ValueError(f"guidance must be at least 0 and drop_digit in [0, 1), got {guidance} and {drop_digit}")
        c = int(base_channels)
        self.model_args = {"base_channels": c, "guidance": float(guidance), "drop_digit": float(drop_digit),
                           "train_timesteps": int(train_timesteps)}
        self.guidance, self.drop_digit = float(guidance), float(drop_digit)
        self.latent_dim = N_PIXELS
        self.unet = UNet2DModel(
            sample_size=28, in_channels=1, out_channels=1, layers_per_block=1,
            block_out_channels=(c, 2 * c, 2 * c),
            down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
            up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
            norm_num_groups=8, attention_head_dim=2 * c // 4 if c >= 16 else 8, num_class_embeds=N_CLASSES + 1)
        self._scheduler_config = {"num_train_timesteps": int(train_timesteps), "beta_schedule": "squaredcos_cap_v2",
                                  "clip_sample": True, "set_alpha_to_one": False, "timestep_spacing": "trailing"}
        #: the forward process of training (diffusers' ``add_noise``; its ᾱ move to the images' device)
        self._forward_process = self.scheduler()
        self.register_buffer("alphas_cumprod", self._forward_process.alphas_cumprod.float(), persistent=False)
        self.ema = _WeightAverage(self.unet)

    def scheduler(self, clean_end: bool = False):
        """A fresh diffusers ``DDIMScheduler`` (one per sampling call: it keeps the steps it was
        set to, so sharing one between concurrent callers would mix their steps); ``clean_end``: its
        last step lands on the predicted clean image (``set_alpha_to_one``).

        Its ᾱ are kept in float64: with η > 0, a step from ᾱ_t ≈ 0 computes √(1 − ᾱ_prev − σ_t²), which
        float32 rounding made the root of a negative number (NaN images at 5 steps, η = 1)."""
        from diffusers import DDIMScheduler

        scheduler = DDIMScheduler(**{**self._scheduler_config, "set_alpha_to_one": bool(clean_end)})
        scheduler.alphas_cumprod = scheduler.alphas_cumprod.double()
        scheduler.final_alpha_cumprod = torch.as_tensor(scheduler.final_alpha_cumprod, dtype=torch.float64)
        return scheduler

    def describe(self) -> str:
        return f"{self.display_name} ({self.model_args['base_channels']} channels, w={self.guidance:g})"

    # --- training -----------------------------------------------------------------------------------
    def noise_prediction(self, x_t: torch.Tensor, t: torch.Tensor, digits: torch.Tensor) -> torch.Tensor:
        """ε̂ (N, 1, 28, 28) for noisy images x_t (N, 1, 28, 28) in the model's [−1, 1] scale at
        timesteps t (N,) int64, with digits (N,) int64 in 0–9 or :data:`NO_DIGIT`."""
        return self.unet(x_t, t, class_labels=digits).sample

    def training_loss(self, x, y, generator):
        """Mean squared error of the predicted noise over a batch (per pixel): t uniform over the
        timesteps, ε ~ N(0, I), the digit dropped to "no digit" with probability ``drop_digit``;
        t, ε and the drop are drawn with ``generator`` (CPU), so a seeded run repeats exactly."""
        n = x.shape[0]
        timesteps = len(self.alphas_cumprod)
        t = torch.randint(timesteps, (n,), generator=generator).to(x.device)
        noise = standard_normal(x.shape, generator, x.device)
        drop = (torch.rand(n, generator=generator) < self.drop_digit).to(x.device)
        digits = torch.where(drop, torch.full_like(y, NO_DIGIT), y.long())
        x_t = self._forward_process.add_noise(2 * x - 1, noise, t)  # √ᾱ_t·x0 + √(1 − ᾱ_t)·ε
        return {"loss": F.mse_loss(self.noise_prediction(x_t, t, digits), noise)}

    def train_step(self, x, y, optimizer, generator):
        """One Adam step on the noise-prediction loss, then the weights' moving average is updated
        (decay :data:`EMA_DECAY`; Ho et al. 2020 sample from such an average)."""
        losses = super().train_step(x, y, optimizer, generator)
        self.ema.update(self.unet)
        return losses

    @torch.no_grad()
    def after_training(self, train_x, train_y):
        """The network takes the moving average of its weights, which generation uses."""
        self.ema.copy_to(self.unet)

    # --- generation -----------------------------------------------------------------------------------
    def latent_origin(self, digit: int) -> torch.Tensor:
        """A fixed draw (784,) float32 of N(0, I), seeded with the digit: where the sliders start
        (z = 0 is no noise the network has seen)."""
        return standard_normal((N_PIXELS,), torch.Generator().manual_seed(int(digit)))

    def latent_axes(self, k: int) -> torch.Tensor:
        """The ``k`` lowest-frequency patterns of the 2-D cosine basis (DCT-II) on 28 × 28, as unit
        vectors (k, 784) float32, lowest total frequency first (the constant pattern, then one
        half-wave across, one down, …): coarse changes of the noise that DDIM turns into changes of
        the digit's shape."""
        side = 28
        position = (torch.arange(side, dtype=torch.float64) + 0.5) * torch.pi / side
        frequencies = sorted(((u, v) for u in range(side) for v in range(side)), key=lambda f: (f[0] + f[1], f[0]))
        patterns = []
        for u, v in frequencies[:max(0, min(int(k), N_PIXELS))]:
            pattern = torch.outer(torch.cos(u * position), torch.cos(v * position)).reshape(-1)
            patterns.append(pattern / pattern.norm())
        return torch.stack(patterns).float() if patterns else torch.zeros(0, N_PIXELS)

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None, steps: int | None = None) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [0, 1] from starting noise z (N, 784) and digits y (N,) by
        deterministic DDIM (:data:`DECODE_SAMPLER`, η = 0) with ``steps`` steps (default 20) and
        classifier-free guidance ``guidance``. Each code is first scaled to length √784 = 28, the
        length of a draw of N(0, I) (see the module docstring); z = 0 stays 0.

        Raises:
            ValueError: no digits given (the model is conditional), or a wrong latent size.
        """
        sampler = self.decode_sampler if steps is None else self.decode_sampler.with_steps(int(steps))
        return self.run_sampler(z, y, sampler)

    @torch.no_grad()
    def run_sampler(self, z: torch.Tensor, y: torch.Tensor | None, sampler: DDIMSampler,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """Images (N, 1, 28, 28) in [0, 1] that ``sampler`` draws from starting noise z (N, 784) for
        digits y (N,); a stochastic sampler (η > 0) draws its fresh noise with ``generator``. z is put
        on the noise shell first, as in :meth:`decode`.

        Raises:
            ValueError: no digits given, or a wrong latent size.
        """
        for _, sample, _ in self._steps(z, y, sampler, generator):
            pass
        return ((sample.clamp(-1, 1) + 1) / 2).float()

    @torch.no_grad()
    def trace(self, labels, generator=None, *, steps=20, eta=0.0, guidance=None, clean_end=True):
        """Every step of DDIM (:class:`DDIMSampler` with these settings) from a draw of starting noise
        (N, 784) made with ``generator``, for the digits ``labels`` (N,): see
        :meth:`core.models.base.DigitModel.trace`. ``x_t[-1]`` equals what :meth:`run_sampler` returns
        for the same noise and sampler.

        Raises:
            ValueError: settings outside the ranges :class:`DDIMSampler` accepts.
        """
        sampler = self.make_sampler(steps, eta, clean_end, guidance)
        z = standard_normal((labels.shape[0], N_PIXELS), generator)
        timesteps, x_t, x0 = [], [], []
        for t, sample, predicted in self._steps(z, labels, sampler, generator):
            if t is not None:
                timesteps.append(float(t))
                x0.append(((predicted.clamp(-1, 1) + 1) / 2).float().cpu())
            x_t.append(((sample.clamp(-1, 1) + 1) / 2).float().cpu())
        return SamplingTrajectory(torch.tensor(timesteps), torch.stack(x_t), torch.stack(x0))

    def make_sampler(self, steps: int, eta: float, clean_end: bool, guidance: float | None) -> DDIMSampler:
        """The model's sampler settings object for :meth:`trace` (raises ValueError outside their ranges)."""
        return DDIMSampler(int(steps), float(eta), bool(clean_end), guidance)

    def _start(self, z: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Starting noise (N, 1, 28, 28) on the noise shell and digits (N,) on the model's device."""
        if y is None:
            raise ValueError(f"the {self.display_name.lower()} model needs the digit to decode")
        if z.ndim != 2 or z.shape[1] != N_PIXELS:
            raise ValueError(f"the {self.display_name.lower()} model's latent is its starting noise, (N, {N_PIXELS}); "
                             f"got {tuple(z.shape)}")
        z = z.float().to(self.device)
        z = z * (N_PIXELS ** 0.5 / z.norm(dim=1, keepdim=True).clamp_min(1e-12))
        return z.reshape(-1, 1, 28, 28), y.long().to(self.device)

    def guided_prediction(self, sample: torch.Tensor, t: torch.Tensor, digits: torch.Tensor, guidance: float) -> torch.Tensor:
        """The network's output for ``sample`` (N, 1, 28, 28) at timestep ``t`` (0-dim), mixed by
        classifier-free guidance: out(no digit) + w·(out(digit) − out(no digit)); w = 1 is one pass."""
        if guidance == 1:
            return self.noise_prediction(sample, t.expand(sample.shape[0]).to(self.device), digits)
        both = torch.cat([digits, torch.full_like(digits, NO_DIGIT)])
        inputs = torch.cat([sample, sample])
        conditional, unconditional = self.noise_prediction(inputs, t.expand(inputs.shape[0]).to(self.device), both).chunk(2)
        return unconditional + guidance * (conditional - unconditional)

    def _steps(self, z: torch.Tensor, y: torch.Tensor | None, sampler: DDIMSampler,
               generator: torch.Generator | None):
        """Yields (None, x_T, None) and then, per step, (t, x_{t−1}, x̂₀) on the model's [−1, 1] scale."""
        sample, digits = self._start(z, y)
        guidance = self.guidance if sampler.guidance is None else float(sampler.guidance)
        scheduler = self.scheduler(clean_end=sampler.clean_end)
        scheduler.set_timesteps(int(sampler.steps))
        yield None, sample, None
        for t in scheduler.timesteps:
            eps = self.guided_prediction(sample, t, digits, guidance)
            fresh = (standard_normal(sample.shape, generator, self.device) if sampler.stochastic else None)
            # the noise implied by the clipped x̂0 (use_clipped_model_output): at the first steps the
            # cosine schedule leaves ᾱ_t ≈ 1e-9, where x̂0 = (x_t − √(1−ᾱ_t)·ε̂)/√ᾱ_t magnifies any
            # error of ε̂ ten-thousandfold; pairing the clipped x̂0 with the raw ε̂ put that error into
            # x_{t−1} (measured on the shipped run, 100 images judged: 0.71 correct at 20 steps, 0.26
            # at 50; with the implied noise 1.00 at both)
            out = scheduler.step(eps, t, sample, eta=float(sampler.eta), use_clipped_model_output=True,
                                 variance_noise=fresh)
            sample = out.prev_sample
            yield t, sample, out.pred_original_sample


class _WeightAverage(nn.Module):
    """An exponential moving average of a module's parameters, kept as buffers (so it is saved and
    resumed with the model, and no optimiser sees it): avg ← avg + (1 − decay)·(param − avg)."""

    def __init__(self, module: nn.Module, decay: float = EMA_DECAY):
        super().__init__()
        self.decay = decay
        for i, p in enumerate(module.parameters()):
            self.register_buffer(f"w{i}", p.detach().clone())

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        for average, p in zip(self.buffers(), module.parameters()):
            average.lerp_(p.detach(), 1 - self.decay)

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        for average, p in zip(self.buffers(), module.parameters()):
            p.copy_(average)
