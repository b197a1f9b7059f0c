"""Latent samplers, separate from the models (pythae's samplers are the model for this): fitted once
on the latent codes of a trained model's training images, stored in its run folder, and offered as
generation modes wherever a model's own modes are (grids, on-demand scores, ``evaluate.py``).

A sampler draws latent codes z (N, d) for digits y (N,); the model's decoder turns them into images
(with the digit too, for label-conditioned decoders). Three samplers, each fitted per digit:

* :class:`PerDigitGaussian` — one full-covariance Gaussian per digit (Ghosh et al. 2020's ex-post
  density estimate, in its conditional form);
* :class:`PerDigitMixture` — a Gaussian mixture per digit, its number of components chosen by BIC
  (Ghosh et al. 2020 fit a 10-component GMM; scikit-learn's ``GaussianMixture``);
* :class:`SecondStageVAE` — a small VAE trained on the codes themselves, its latent sampled from
  N(0, I) and decoded into a code (Dai & Wipf 2019, "Diagnosing and Enhancing VAE Models", ICLR);
  conditioned on the digit (a second-stage CVAE).

Seed 000's CAE and CVAE declare the :class:`PerDigitGaussian`'s mode ``"density"`` among their own
(:class:`FittedMode`: their default for the CAE) and fit it at the end of training; for every other
model a sampler's mode comes after the model's own. Attaching keeps the samplers on one model
(``model.samplers``, ``model.extra_modes``); its class is never changed (:func:`attach`).

Files: ``<run>/samplers/<name>.pt``, a plain dict of tensors and numbers read with
``torch.load(weights_only=True)``. Codes are the encoder's deterministic codes (posterior means)
of the training images with their digits, in float32.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from core.atomic import atomic_path
from core.models.base import DigitModel
from core.models.capabilities import DECODE, ENCODE, IMAGE_AND_DIGIT, N_CLASSES, encoder_input
from core.models.functional import gaussian_kl, reparameterize, standard_normal
from core.models.modes import GenerationMode

#: the folder of a run that holds its fitted samplers
SAMPLER_DIR = "samplers"


class SamplerError(ValueError):
    """A sampler cannot be fitted or read (too few codes, a damaged file); the message says why."""


class LatentSampler(ABC):
    """Draws latent codes per digit; fitted on a model's training codes.

    Subclasses set ``name`` (the generation mode it becomes), ``description`` and ``source``, and
    implement :meth:`fit`, :meth:`sample`, :meth:`state` and :meth:`from_state`.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    source: ClassVar[str] = ""

    @abstractmethod
    def fit(self, codes: torch.Tensor, labels: torch.Tensor) -> "LatentSampler":
        """Fit to codes (N, d) float32 of digits labels (N,) int64; returns self.

        Raises:
            SamplerError: a digit has too few codes.
        """

    @abstractmethod
    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Codes (N, d) float32 on the CPU for digits ``labels`` (N,); ``generator`` (CPU) makes
        the draw reproducible."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything needed to rebuild the fitted sampler: tensors and plain numbers only."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> "LatentSampler":
        """The sampler :meth:`state` describes."""

    def mode(self) -> GenerationMode:
        """The generation mode that decodes this sampler's codes with a model."""
        def sample(model: DigitModel, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
            z = self.sample(labels.cpu(), generator).to(model.device)
            return model.decode(z, labels if model.decoder_needs_label else None)

        return GenerationMode(self.name, self.description, self.source, sample=sample)


def _per_digit(codes: torch.Tensor, labels: torch.Tensor, minimum: int) -> list[np.ndarray]:
    groups = []
    for digit in range(N_CLASSES):
        group = codes[labels == digit].double().numpy()
        if group.shape[0] < minimum:
            raise SamplerError(f"digit {digit} has {group.shape[0]} codes; at least {minimum} are needed")
        groups.append(group)
    return groups


class PerDigitGaussian(LatentSampler):
    """One full-covariance Gaussian per digit over the codes (ridge 1e-4 on the diagonal)."""

    name = "density"  # seed 000's CAE and CVAE declare this mode (FittedMode) and fit it after training
    description = ("z drawn from an ex-post Gaussian per digit fitted to the training images' latent codes, "
                   "decoded (the same recipe for every model)")
    source = "Ghosh et al. 2020"

    def __init__(self, ridge: float = 1e-4):
        self.ridge = float(ridge)
        self.mean: torch.Tensor | None = None        # (10, d)
        self.scale_tril: torch.Tensor | None = None  # (10, d, d)

    def fit(self, codes, labels):
        means, trils = [], []
        for group in _per_digit(codes, labels, 2):
            cov = np.atleast_2d(np.cov(group.T)) + self.ridge * np.eye(group.shape[1])
            means.append(group.mean(0))
            trils.append(np.linalg.cholesky(cov))
        self.mean = torch.as_tensor(np.stack(means), dtype=torch.float32)
        self.scale_tril = torch.as_tensor(np.stack(trils), dtype=torch.float32)
        return self

    def sample(self, labels, generator=None):
        labels = labels.long().cpu()
        eps = standard_normal((labels.shape[0], self.mean.shape[1], 1), generator)
        return self.mean[labels] + (self.scale_tril[labels] @ eps).squeeze(-1)

    def state(self):
        return {"ridge": self.ridge, "mean": self.mean, "scale_tril": self.scale_tril}

    @classmethod
    def from_state(cls, state):
        sampler = cls(state["ridge"])
        sampler.mean, sampler.scale_tril = state["mean"].float(), state["scale_tril"].float()
        return sampler


class PerDigitMixture(LatentSampler):
    """A full-covariance Gaussian mixture per digit, with 1 to ``max_components`` components, the
    number chosen per digit by the Bayesian information criterion (scikit-learn)."""

    name = "GMM (BIC)"
    description = "z drawn from a Gaussian mixture per digit (components chosen by BIC) fitted to the training codes, decoded"
    source = "Ghosh et al. 2020"

    def __init__(self, max_components: int = 10, seed: int = 0):
        self.max_components, self.seed = int(max_components), int(seed)
        self.weights: list[torch.Tensor] = []      # per digit (k,)
        self.means: list[torch.Tensor] = []        # per digit (k, d)
        self.scale_trils: list[torch.Tensor] = []  # per digit (k, d, d)

    def fit(self, codes, labels):
        from sklearn.mixture import GaussianMixture

        self.weights, self.means, self.scale_trils = [], [], []
        for group in _per_digit(codes, labels, 2):
            best, best_bic = None, math.inf
            for k in range(1, min(self.max_components, group.shape[0] // 2) + 1):
                gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=self.seed).fit(group)
                bic = gmm.bic(group)
                if bic < best_bic:
                    best, best_bic = gmm, bic
            self.weights.append(torch.as_tensor(best.weights_, dtype=torch.float64))
            self.means.append(torch.as_tensor(best.means_, dtype=torch.float32))
            self.scale_trils.append(torch.as_tensor(np.linalg.cholesky(best.covariances_), dtype=torch.float32))
        return self

    @property
    def components(self) -> list[int]:
        """Components of each digit's mixture (10 numbers)."""
        return [int(w.shape[0]) for w in self.weights]

    def sample(self, labels, generator=None):
        labels = labels.long().cpu()
        d = self.means[0].shape[1]
        out = torch.empty(labels.shape[0], d)
        for digit in labels.unique().tolist():
            rows = (labels == digit).nonzero().squeeze(1)
            picks = torch.multinomial(self.weights[digit], rows.shape[0], replacement=True, generator=generator)
            eps = standard_normal((rows.shape[0], d, 1), generator)
            out[rows] = self.means[digit][picks] + (self.scale_trils[digit][picks] @ eps).squeeze(-1)
        return out

    def state(self):
        state: dict[str, Any] = {"max_components": self.max_components, "seed": self.seed}
        for digit in range(len(self.weights)):
            state[f"weights{digit}"] = self.weights[digit]
            state[f"means{digit}"] = self.means[digit]
            state[f"scale_trils{digit}"] = self.scale_trils[digit]
        return state

    @classmethod
    def from_state(cls, state):
        sampler = cls(state["max_components"], state["seed"])
        sampler.weights = [state[f"weights{d}"].double() for d in range(N_CLASSES)]
        sampler.means = [state[f"means{d}"].float() for d in range(N_CLASSES)]
        sampler.scale_trils = [state[f"scale_trils{d}"].float() for d in range(N_CLASSES)]
        return sampler


class _CodeVAE(nn.Module):
    """The second-stage network: a digit-conditioned VAE on codes u (N, d) with a latent of size d
    (Dai & Wipf keep the second latent as large as the first); Gaussian decoder with one learned
    variance γ² shared by all dimensions (their second stage's decoder)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.dim = dim
        self.encoder = nn.Sequential(nn.Linear(dim + N_CLASSES, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                     nn.ReLU(), nn.Linear(hidden, 2 * dim))
        self.decoder = nn.Sequential(nn.Linear(dim + N_CLASSES, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                     nn.ReLU(), nn.Linear(hidden, dim))
        self.log_gamma = nn.Parameter(torch.zeros(()))

    def one_hot(self, y: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(y.long(), N_CLASSES).float()

    def loss(self, u: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Negative ELBO in nats per code: Gaussian NLL of u under N(decoder, γ²I) plus KL."""
        mu, logvar = self.encoder(torch.cat([u, self.one_hot(y)], 1)).chunk(2, dim=1)
        v = reparameterize(mu, logvar, generator)
        u_hat = self.decoder(torch.cat([v, self.one_hot(y)], 1))
        nll = (0.5 * ((u - u_hat) / self.log_gamma.exp()).pow(2) + self.log_gamma
               + 0.5 * math.log(2 * math.pi)).sum(1)
        return (nll + gaussian_kl(mu, logvar)).mean()


class SecondStageVAE(LatentSampler):
    """A second VAE trained on the codes, conditioned on the digit (Dai & Wipf 2019's two-stage VAE
    with a label): sampling draws v ~ N(0, I), decodes it with the digit into a code u, and the
    model decodes u into an image.

    Codes are standardised (per-dimension mean and std of the training codes) before the second
    stage sees them.
    """

    name = "second-stage VAE"
    description = "z drawn by a second VAE trained on the training codes (two-stage VAE, per digit), decoded"
    source = "Dai & Wipf 2019"

    def __init__(self, hidden: int = 256, epochs: int = 40, batch_size: int = 256, lr: float = 1e-3, seed: int = 0):
        self.hidden, self.epochs, self.batch_size, self.lr, self.seed = int(hidden), int(epochs), int(batch_size), float(lr), int(seed)
        self.net: _CodeVAE | None = None
        self.shift: torch.Tensor | None = None
        self.scale: torch.Tensor | None = None
        self.history: list[float] = []

    def fit(self, codes, labels):
        _per_digit(codes, labels, 2)
        codes, labels = codes.float().cpu(), labels.long().cpu()
        self.shift, self.scale = codes.mean(0), codes.std(0).clamp_min(1e-6)
        u = (codes - self.shift) / self.scale
        generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.net = _CodeVAE(codes.shape[1], self.hidden)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        self.history = []
        for _ in range(self.epochs):
            order = torch.randperm(u.shape[0], generator=generator)
            total = 0.0
            for i in range(0, u.shape[0], self.batch_size):
                idx = order[i:i + self.batch_size]
                loss = self.net.loss(u[idx], labels[idx], generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(loss.detach()) * idx.shape[0]
            self.history.append(total / u.shape[0])
        self.net.eval()
        return self

    @torch.no_grad()
    def sample(self, labels, generator=None):
        labels = labels.long().cpu()
        v = standard_normal((labels.shape[0], self.net.dim), generator)
        u = self.net.decoder(torch.cat([v, self.net.one_hot(labels)], 1))
        return u * self.scale + self.shift

    def state(self):
        return {"hidden": self.hidden, "epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                "seed": self.seed, "dim": self.net.dim, "shift": self.shift, "scale": self.scale,
                "history": torch.tensor(self.history), "weights": self.net.state_dict()}

    @classmethod
    def from_state(cls, state):
        sampler = cls(state["hidden"], state["epochs"], state["batch_size"], state["lr"], state["seed"])
        sampler.net = _CodeVAE(int(state["dim"]), sampler.hidden)
        sampler.net.load_state_dict(state["weights"])
        sampler.net.eval()
        sampler.shift, sampler.scale = state["shift"].float(), state["scale"].float()
        sampler.history = state["history"].tolist()
        return sampler


#: every sampler, by name (adding one is one class here and one entry)
SAMPLERS: dict[str, type[LatentSampler]] = {cls.name: cls for cls in (PerDigitGaussian, PerDigitMixture, SecondStageVAE)}


def can_fit(model: DigitModel) -> bool:
    """True when samplers apply to ``model``: it encodes images and decodes codes."""
    return model.can(ENCODE) and model.can(DECODE) and bool(model.input_modes)


@torch.no_grad()
def training_codes(model: DigitModel, x: torch.Tensor, y: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Deterministic codes (N, d) float32 on the CPU of images x (N, 1, 28, 28) with digits y (N,):
    with the digit where the model's encoder takes it (image+digit), else from the image alone
    (:func:`core.models.capabilities.encoder_input`)."""
    with_digit = encoder_input(model) == IMAGE_AND_DIGIT
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size].to(model.device)
        yb = y[i:i + batch_size].to(model.device) if with_digit else None
        out.append(model.encode(xb, yb).float().cpu())
    return torch.cat(out)


def file_name(name: str) -> str:
    """The file a sampler called ``name`` is stored in, within ``<run>/samplers/``."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + ".pt"


def save_sampler(run_dir: str | Path, sampler: LatentSampler) -> Path:
    """Write ``sampler`` into ``<run_dir>/samplers/`` atomically; returns the file."""
    path = Path(run_dir) / SAMPLER_DIR / file_name(sampler.name)
    path.parent.mkdir(exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"sampler": sampler.name, "state": sampler.state()}, tmp)
    return path


def load_samplers(run_dir: str | Path) -> tuple[list[LatentSampler], dict[str, str]]:
    """The samplers stored in ``<run_dir>/samplers/`` (in :data:`SAMPLERS` order), and the files that
    could not be read, each with the reason in a reader's words."""
    folder = Path(run_dir) / SAMPLER_DIR
    found: dict[str, LatentSampler] = {}
    problems: dict[str, str] = {}
    if not folder.is_dir():
        return [], problems
    for path in sorted(folder.glob("*.pt")):
        try:
            record = torch.load(path, map_location="cpu", weights_only=True)
            cls = SAMPLERS[record["sampler"]]
            found[cls.name] = cls.from_state(record["state"])
        except KeyError:
            problems[path.name] = "it names no known sampler"
        except Exception as exc:  # noqa: BLE001 - a damaged file raises many types
            problems[path.name] = f"it cannot be read ({type(exc).__name__})"
    return [found[name] for name in SAMPLERS if name in found], problems


class FittedMode(GenerationMode):
    """A generation mode that a model class declares among its own (its place in the order, its name,
    description and source) but whose codes come from a sampler fitted to each model: seed 000's
    ``"density"`` is :class:`PerDigitGaussian`, fitted by the models' ``after_training``. The mode
    draws from the sampler of that name attached to the model (:func:`attach`).

    Args:
        sampler: the sampler class; its ``name``, ``description`` and ``source`` become the mode's.
    """

    def __new__(cls, sampler: type[LatentSampler]) -> "FittedMode":
        name = sampler.name

        def sample(model: DigitModel, labels: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
            fitted = model.samplers.get(name)
            if fitted is None:
                raise ValueError(f"the {name} sampler of {model.describe()} is not fitted yet "
                                 "(training fits it at the end; so does scripts/fit_samplers.py)")
            return fitted.mode().sample(model, labels, generator)

        return super().__new__(cls, name, sampler.description, sampler.source, sample=sample)


def is_own_mode(model: DigitModel, name: str) -> bool:
    """True when ``name`` is a generation mode that ``model``'s class declares and draws itself (not a
    :class:`FittedMode`): a sampler of that name is neither fitted nor attached."""
    return any(mode == name and not isinstance(mode, FittedMode) for mode in type(model).generation_modes)


def attach(model: DigitModel, samplers: list[LatentSampler]) -> DigitModel:
    """Keep each fitted sampler on ``model`` alone (its class and other models are left as they are);
    returns the model.

    A sampler whose name is a :class:`FittedMode` of the model's class serves that mode; any other
    becomes an extra generation mode after the class's own (``model.extra_modes``: the model then
    generates from digits); one whose name is a mode the model draws itself (:func:`is_own_mode`) is
    left out. A sampler of a name attached already replaces the earlier one in its place.
    """
    declared = {str(mode) for mode in type(model).generation_modes}
    for sampler in samplers:
        if is_own_mode(model, sampler.name):
            continue
        model.samplers[sampler.name] = sampler
        if sampler.name not in declared:
            extra = {str(mode): mode for mode in model.extra_modes}
            extra[sampler.name] = sampler.mode()
            model.extra_modes[:] = extra.values()
    return model
