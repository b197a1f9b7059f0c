"""Seed 004's experiments on its convolutional VAE, as data: the runs, how each is trained and measured,
and the tables the dashboard shows.

Source: ../shared/seeds/004_d0529b9973742221.txt, section II.C (Adam 1e-3, batch 128, 10 epochs;
experiment 1, CPU against GPU; experiment 2, the regularization ablation), II.D (5-fold
cross-validation of the reconstruction loss; the 2-D latent scatter) and the β of the β-ELBO (II.B,
Higgins et al. 2017). Every run trains :class:`core.models.seed004.ConvolutionalVAE` with the shared
trainer (:func:`core.training.train`) and leaves one JSON file (settings, per-epoch history, test
figures) and one ``.npz`` (the 2-D posterior means of test images) in the study folder, both named by the
run's :attr:`StudyRun.key` (the run name ``scripts/sweep.py`` gives the same configuration); the
dashboard reads only those files.

Experiments (:data:`EXPERIMENTS`):

* ``beta``: β ∈ {0.25, 0.5, 1, 2, 4} × seeds 0–2, the rate (KL) against distortion (BCE) trade-off
  (the β values and seeds of ``experiments/seed004_beta.toml``, which ``scripts/sweep.py`` trains);
* ``remedy``: the seed's β = 1 model against posterior-collapse remedies, the same seeds;
* ``ablation``: none, L1 + L2, Dropout(0.2), BatchNorm (seed 004 II.C), seeds 0–2 (the regularizers
  and seeds of ``experiments/seed004_ablation.toml``);
* ``cv``: 5-fold cross-validation of the seed's model (seed 0);
* timing (:func:`time_epochs`): seconds per epoch of the seed's full-size run on one device.

A run is *collapsed* when none of its latent dimensions is active: dimension u is active when the
variance over test images of its posterior mean, Var_x(E_q[z_u | x]), exceeds 0.01 (Burda et al. 2016,
"Importance Weighted Autoencoders", ICLR, §5.2).
"""

from __future__ import annotations

import functools
import json
import math
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from core.atomic import atomic_path, write_json
from core.paths import EXPERIMENTS_DIR
from core.training.experiments import ExperimentError, PlannedRun, load_experiment, run_names

MODEL = "conv-vae"
#: the grids the study shares with ``scripts/sweep.py`` (β values and seeds; the ablation's
#: regularizers): these experiment files are their one source
BETA_FILE = EXPERIMENTS_DIR / "seed004_beta.toml"
ABLATION_FILE = EXPERIMENTS_DIR / "seed004_ablation.toml"
N_FOLDS = 5
#: Burda et al. 2016's threshold on Var_x(E_q[z_u | x]) for an active latent dimension
ACTIVE_THRESHOLD = 0.01
#: KL warm-up length in training batches: 5 epochs of 12,000 images at batch 128 (half the study's run)
WARMUP_STEPS = 470
#: the study's folder under the checkpoint root and the timing files' prefix
STUDY_DIR = "vae_study"
TIMING_PREFIX = "timing-"
#: seconds per epoch are measured on the seed's full-size run: the whole training split, 10 epochs
COMMAND = "python scripts/vae_study.py"


@dataclass(frozen=True)
class Variant:
    """One configuration of the convolutional VAE: a label, its constructor arguments beyond the
    seed's (latent 2, β = 1) and where the idea comes from."""

    label: str
    args: tuple[tuple[str, Any], ...] = ()
    source: str = "seed 004, II.B"

    @property
    def model_args(self) -> dict[str, Any]:
        """Constructor arguments of :class:`core.models.seed004.ConvolutionalVAE`."""
        return {"latent_dim": 2, "beta": 1.0, **dict(self.args)}


@dataclass(frozen=True)
class StudyRun:
    """One training run of the study: a variant, a training seed and, for cross-validation, a fold."""

    variant: Variant
    seed: int
    fold: int | None = None

    @property
    def key(self) -> str:
        """Unique file stem: the run's name by the rule of ``scripts/sweep.py``
        (:func:`core.training.experiments.run_names` over the study's whole grid, so the same
        configuration has the same name in both), with ``-cv<fold>`` for a cross-validation fold,
        e.g. ``conv-vae-z2-s0-beta1.0``, ``conv-vae-z2-s1-beta1.0-dropout0.2``,
        ``conv-vae-z2-s0-beta1.0-cv2``."""
        stem = run_name(self.variant, self.seed)
        return stem if self.fold is None else f"{stem}-cv{self.fold}"


@dataclass(frozen=True)
class Experiment:
    """A grid of runs with its title and what it shows."""

    name: str
    title: str
    what: str
    variants: tuple[Variant, ...]
    seeds: tuple[int, ...]
    folds: int = 0

    def runs(self) -> list[StudyRun]:
        """Every run of the grid (variants × seeds, × folds for cross-validation)."""
        folds: Iterable[int | None] = range(self.folds) if self.folds else (None,)
        return [StudyRun(v, s, f) for v in self.variants for s in self.seeds for f in folds]


def _keeping_rng(function, *args):
    """``function(*args)``, leaving torch's global random state as it was: checking an experiment
    file and naming its runs build models (their initial weights draw from it), which must not
    change what a seeded caller draws next."""
    import torch

    with torch.random.fork_rng(devices=[]):
        return function(*args)


def _grid(path: Path) -> tuple[list[dict[str, Any]], tuple[int, ...]]:
    """The distinct constructor arguments (in file order) and the seeds of an experiment file of
    :data:`MODEL` runs.

    Raises:
        ExperimentError: the file cannot be read, or it names another model.
    """
    experiment = _keeping_rng(load_experiment, path)
    others = sorted({run.model for run in experiment.runs} - {MODEL})
    if others:
        raise ExperimentError(f"{path.name}: the VAE study trains {MODEL} only, not {', '.join(others)}")
    args = list({tuple(sorted(run.model_args.items())): run.model_args for run in experiment.runs}.values())
    return args, tuple(dict.fromkeys(run.seed for run in experiment.runs))


def _number(value: float) -> str:
    """A setting as a reader writes it: ``0.2``, ``1e-5`` (not ``1e-05``), ``1e-4`` (not ``0.0001``)."""
    if value and abs(value) < 1e-3:
        mantissa, exponent = f"{value:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}"


def _regularizer(args: dict[str, Any]) -> str:
    """The ablation table's label of a regularizer given by its constructor arguments."""
    options = {k: v for k, v in args.items() if k not in ("latent_dim", "beta")}
    if set(options) == {"l1", "l2"}:
        return f"L1 + L2 kernels (λ1 = {_number(options['l1'])}, λ2 = {_number(options['l2'])})"
    if set(options) == {"dropout"}:
        return f"Dropout({_number(options['dropout'])}) after Flatten"
    if options == {"batch_norm": True}:
        return "BatchNorm after each convolution"
    return ", ".join(f"{k.replace('_', ' ')} = {v}" for k, v in options.items())


_BETA_ARGS, SEEDS = _grid(BETA_FILE)
BETAS = tuple(args["beta"] for args in _BETA_ARGS)
_ABLATION_ARGS, _ABLATION_SEEDS = _grid(ABLATION_FILE)

BASE = Variant("none (the seed's model)")
EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    Experiment("beta", "β sweep",
               "β weighs the KL term of the β-ELBO (Higgins et al. 2017): a larger β buys a simpler latent "
               "code (lower KL, the rate) with blurrier reconstructions (higher BCE, the distortion).",
               tuple(Variant(f"β = {args['beta']:g}", tuple(args.items()), "Higgins et al. 2017, β-VAE (seed 004 ref. [2])")
                     for args in _BETA_ARGS), SEEDS),
    Experiment("remedy", "Posterior collapse and its remedies",
               "The seed's model (β = 1) against two remedies for posterior collapse from the VAE literature, "
               "and a remedy for dead ReLU units, each trained with the same seeds.",
               (BASE,
                Variant("free bits, λ = 0.5 nats per dimension", (("free_bits", 0.5),),
                        "Kingma et al. 2016, Improved Variational Inference with Inverse Autoregressive Flow, eq. 15"),
                Variant(f"KL warm-up over {WARMUP_STEPS} batches", (("kl_warmup_steps", WARMUP_STEPS),),
                        "Bowman et al. 2016, Generating Sentences from a Continuous Space, §3.1"),
                Variant("leaky ReLU (slope 0.01) in the encoder's Dense(16)", (("negative_slope", 0.01),),
                        "Maas, Hannun & Ng 2013, Rectifier Nonlinearities Improve Neural Network Acoustic Models")),
               SEEDS),
    Experiment("ablation", "Regularization ablation",
               "Seed 004's ablation study (II.C, item 2): each regularizer added alone to the base model.",
               (BASE, *(Variant(_regularizer(args), tuple(args.items()), "seed 004, II.C") for args in _ABLATION_ARGS)),
               _ABLATION_SEEDS),
    Experiment("cv", "5-fold cross-validation",
               "Seed 004 II.D: the reconstruction loss of the base model on each held-out fold.",
               (BASE,), seeds=(0,), folds=N_FOLDS),
)}


def _planned(variant: Variant, seed: int) -> PlannedRun:
    return PlannedRun(MODEL, variant.model_args, seed)


def _identity(run: PlannedRun) -> tuple:
    return run.model, tuple(sorted(run.model_args.items())), run.seed


@functools.cache
def _grid_runs() -> tuple[PlannedRun, ...]:
    """Every distinct (configuration, seed) of the study's grids, in grid order."""
    runs = {}
    for experiment in EXPERIMENTS.values():
        for variant in experiment.variants:
            for seed in experiment.seeds:
                run = _planned(variant, seed)
                runs.setdefault(_identity(run), run)
    return tuple(runs.values())


@functools.cache
def _grid_names() -> dict[tuple, str]:
    runs = _grid_runs()
    return {_identity(run): name for run, name in zip(runs, _keeping_rng(run_names, runs))}


def run_name(variant: Variant, seed: int) -> str:
    """The run name of ``variant`` trained with ``seed``: :func:`core.training.experiments.run_names`
    (the rule ``scripts/sweep.py`` names run folders by) applied to the study's whole grid, so it
    names every argument but the latent size (``conv-vae-z2-s0-beta0.5``,
    ``conv-vae-z2-s0-beta1.0-dropout0.2``), as a sweep of the experiment files does. A variant outside
    the grid is named as if it were in it."""
    run = _planned(variant, seed)
    name = _grid_names().get(_identity(run))
    return name if name is not None else _keeping_rng(run_names, (*_grid_runs(), run))[-1]


@dataclass(frozen=True)
class StudySettings:
    """Training and measuring sizes shared by every run of the study (written into each result).

    The seed trains 10 epochs on 60,000 images; the study trains 10 epochs on ``n_train`` images so
    that its 38 distinct runs fit in about 70 minutes on 2 CPU cores. Cross-validation draws its folds from the
    first ``n_train · k/(k-1)`` training images, so each fold also trains on ``n_train`` images.
    """

    n_train: int = 12_000
    n_val: int = 5_000
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    n_test: int = 10_000
    n_latents: int = 2_000
    split_seed: int = 0

    def validate(self) -> None:
        """Raises ValueError naming the first bad setting."""
        for name in ("n_train", "n_val", "n_test", "epochs", "batch_size", "n_latents"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1, got {getattr(self, name)}")
        if self.n_train < 2 * N_FOLDS:
            raise ValueError(f"n train must be at least {2 * N_FOLDS} for {N_FOLDS} folds, got {self.n_train}")
        if not self.lr > 0:
            raise ValueError(f"learning rate must be positive, got {self.lr}")


def all_runs(experiments: Iterable[str] = tuple(EXPERIMENTS)) -> list[StudyRun]:
    """The distinct runs of the named experiments (runs shared by two experiments appear once).

    Raises:
        KeyError: an unknown experiment name; the message lists the known ones.
    """
    runs: dict[str, StudyRun] = {}
    for name in experiments:
        if name not in EXPERIMENTS:
            raise KeyError(f"unknown experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
        for run in EXPERIMENTS[name].runs():
            runs.setdefault(run.key, run)
    return list(runs.values())


def _run_data(run: StudyRun, settings: StudySettings, splits):
    """The MnistSplits a run trains on: a subset of the training split, or a cross-validation fold
    (its held-out fold serves as both validation and test set)."""
    import torch
    from sklearn.model_selection import KFold

    from core.data.mnist import MnistSplits

    if run.fold is None:
        return MnistSplits(splits.train_x[:settings.n_train], splits.train_y[:settings.n_train],
                           splits.val_x[:settings.n_val], splits.val_y[:settings.n_val],
                           splits.test_x[:settings.n_test], splits.test_y[:settings.n_test], splits.split_seed)
    pool = math.ceil(settings.n_train * N_FOLDS / (N_FOLDS - 1))
    x, y = splits.train_x[:pool], splits.train_y[:pool]
    train_idx, held_idx = list(KFold(N_FOLDS, shuffle=True, random_state=0).split(range(x.shape[0])))[run.fold]
    train_idx, held_idx = torch.from_numpy(train_idx), torch.from_numpy(held_idx)
    return MnistSplits(x[train_idx], y[train_idx], x[held_idx], y[held_idx], x[held_idx], y[held_idx],
                       splits.split_seed)


def latent_summary(model, x) -> dict[str, Any]:
    """Posterior statistics of ``model`` (a ConvolutionalVAE, eval mode) on images ``x`` (N, 1, 28, 28).

    Returns:
        ``mu`` float32 (N, d) posterior means; ``active_dims`` (int), the dimensions with
        Var_x(μ_u) > :data:`ACTIVE_THRESHOLD` (Burda et al. 2016); ``mu_variance`` (list of d floats);
        ``alive_units`` (int), the encoder's 16 hidden units that are positive for at least one image.
    """
    import torch

    with torch.no_grad():
        mus, alive = [], None
        for i in range(0, x.shape[0], 1000):
            h = model.encoder(x[i:i + 1000])
            mus.append(model.to_mu(h))
            positive = (h > 0).any(0)
            alive = positive if alive is None else alive | positive
        mu = torch.cat(mus)
    variance = mu.var(0)
    return {"mu": mu, "active_dims": int((variance > ACTIVE_THRESHOLD).sum()),
            "mu_variance": [float(v) for v in variance], "alive_units": int(alive.sum())}


def run_one(run: StudyRun, settings: StudySettings, splits, out_dir: str | Path, device: str = "cpu") -> dict:
    """Train ``run`` and write ``<out_dir>/<key>.npz`` then ``<key>.json`` (atomically; the JSON last,
    so its presence means the run is complete).

    Args:
        splits: :class:`core.data.MnistSplits` (the full splits; the run takes its subset).
        device: torch device for training ("cpu", "cuda", "auto").

    Returns:
        The record written to the JSON file: ``key``, ``variant``, ``source``, ``model_args``,
        ``seed``, ``fold``, ``settings``, ``history`` (the trainer's, nats per image, seconds since
        the start), ``test`` (``loss``, ``bce``, ``kl``: the β-ELBO terms with one posterior sample;
        ``reconstruction_bce``: through the posterior mean; all nats per image, means over the test
        set, or over the held-out fold for cross-validation), ``active_dims``, ``mu_variance``,
        ``alive_units``, ``collapsed``, ``train_seconds``, ``device`` and ``versions``.

    Raises:
        ValueError: a bad setting.
    """
    import numpy as np
    import torch

    from core.training.trainer import TrainConfig, train, validation_losses

    settings.validate()
    data = _run_data(run, settings, splits)
    cfg = TrainConfig.for_model(MODEL, run.variant.model_args, epochs=settings.epochs,
                                batch_size=settings.batch_size, lr=settings.lr, seed=run.seed, device=device)
    result = train(cfg, data, out_dir=None, progress=False)
    model = result.model.eval()
    device_ = model.device
    test_x = data.test_x.to(device_)
    test = validation_losses(model, test_x, data.test_y.to(device_), 1000, seed=0)
    test["reconstruction_bce"] = result.metrics["reconstruction_bce"]["value"]
    latents = latent_summary(model, test_x)
    record = {
        "key": run.key, "variant": run.variant.label, "source": run.variant.source,
        "model_args": run.variant.model_args, "seed": run.seed, "fold": run.fold, "settings": asdict(settings),
        "n_train": int(data.train_x.shape[0]), "n_test": int(test_x.shape[0]),
        "history": result.history, "test": test,
        "active_dims": latents["active_dims"], "mu_variance": latents["mu_variance"],
        "alive_units": latents["alive_units"], "collapsed": latents["active_dims"] == 0,
        "train_seconds": round(result.seconds, 1), "device": str(device_),
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    out_dir = Path(out_dir)
    n = min(settings.n_latents, test_x.shape[0])
    with atomic_path(out_dir / f"{run.key}.npz") as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, mu=latents["mu"][:n].cpu().numpy().astype(np.float16),
                                labels=data.test_y[:n].numpy().astype(np.uint8))
    write_json(out_dir / f"{run.key}.json", record)
    return record


def time_epochs(device: str, epochs: int, splits, out_dir: str | Path, n_train: int | None = None) -> dict:
    """Seed 004's experiment 1: train the seed's model (β = 1, seed 0, batch 128, Adam 1e-3) on
    ``device`` and record the seconds of every epoch beside its losses; writes
    ``<out_dir>/timing-<device kind>.json``.

    Args:
        device: "cpu" or "cuda".
        epochs: number of epochs (the seed's Table I has 10).
        splits: the full :class:`core.data.MnistSplits` (48,000 training, 12,000 validation images).
        n_train: train on the first ``n_train`` images only (tests); None for the whole split.

    Returns:
        ``device``, ``device_name``, ``threads``, ``n_train``, ``n_val``, ``epochs`` (one dict per
        epoch: ``epoch``, ``seconds`` of that epoch, ``loss``, ``bce``, ``kl`` (training, nats per
        image) and ``val_loss``), ``versions``.

    Raises:
        ValueError: an unknown or unavailable device, or ``epochs < 1``.
    """
    import torch

    from core.data.mnist import MnistSplits
    from core.device import resolve_device
    from core.training.trainer import TrainConfig, train

    torch_device = resolve_device(device)
    if n_train is not None:
        splits = MnistSplits(splits.train_x[:n_train], splits.train_y[:n_train], splits.val_x[:n_train],
                             splits.val_y[:n_train], splits.test_x[:n_train], splits.test_y[:n_train],
                             splits.split_seed)
    cfg = TrainConfig.for_model(MODEL, BASE.model_args, epochs=epochs, seed=0, device=str(torch_device))
    start = time.perf_counter()
    result = train(cfg, splits, out_dir=None, progress=False)
    history, rows, previous = result.history, [], 0.0
    for i, epoch in enumerate(history["epoch"]):
        rows.append({"epoch": epoch, "seconds": round(history["seconds"][i] - previous, 2),
                     "loss": history["train/loss"][i], "bce": history["train/bce"][i],
                     "kl": history["train/kl"][i], "val_loss": history["val/loss"][i]})
        previous = history["seconds"][i]
    name = (torch.cuda.get_device_name(torch_device) if torch_device.type == "cuda"
            else platform.processor() or platform.machine())
    record = {"device": torch_device.type, "device_name": name, "threads": torch.get_num_threads(),
              "n_train": int(splits.train_x.shape[0]), "n_val": int(splits.val_x.shape[0]),
              "batch_size": cfg.batch_size, "wall_seconds": round(time.perf_counter() - start, 1),
              "epochs": rows, "versions": {"torch": torch.__version__, "python": platform.python_version()}}
    write_json(Path(out_dir) / f"{TIMING_PREFIX}{torch_device.type}.json", record)
    return record


# --- reading the results (torch-free: the dashboard's tables) ------------------------------------------

class StudyError(ValueError):
    """A study folder that holds no readable results."""


def load_records(folder: str | Path) -> tuple[dict[str, dict], list[str]]:
    """Every run record in ``folder`` (``{key: record}``) and the names of files that could not be read.

    A record is readable when it parses as JSON and has the keys the tables use.
    """
    records, bad = {}, []
    folder = Path(folder)
    if not folder.is_dir():
        return records, bad
    for path in sorted(folder.glob("*.json")):
        if path.name.startswith(TIMING_PREFIX):
            continue
        try:
            record = json.loads(path.read_text())
            if not {"key", "variant", "seed", "test", "history", "collapsed"} <= set(record):
                raise ValueError("missing keys")
            float(record["test"]["kl"]), float(record["test"]["bce"])
            records[record["key"]] = record
        except (OSError, ValueError, TypeError, KeyError):
            bad.append(path.name)
    return records, bad


def load_timings(folder: str | Path) -> dict[str, dict]:
    """The timing files in ``folder``: ``{device kind: record}`` (unreadable ones are skipped)."""
    out = {}
    for path in sorted(Path(folder).glob(f"{TIMING_PREFIX}*.json")):
        try:
            record = json.loads(path.read_text())
            if isinstance(record.get("epochs"), list) and record["epochs"]:
                out[str(record["device"])] = record
        except (OSError, ValueError, KeyError, AttributeError):
            continue
    return out


def experiment_rows(experiment: Experiment, records: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per finished run of ``experiment``: variant, seed, fold, the test figures, the final
    validation loss, active dimensions, alive units, collapsed and training seconds (nats per image)."""
    rows = []
    for run in experiment.runs():
        record = records.get(run.key)
        if record is None:
            continue
        history = record["history"]
        rows.append({"key": run.key, "variant": run.variant.label, "seed": run.seed, "fold": run.fold,
                     "test_loss": record["test"]["loss"], "test_bce": record["test"]["bce"],
                     "test_kl": record["test"]["kl"], "reconstruction_bce": record["test"]["reconstruction_bce"],
                     "val_loss": history["val/loss"][-1], "active_dims": record["active_dims"],
                     "alive_units": record["alive_units"], "collapsed": bool(record["collapsed"]),
                     "train_seconds": record["train_seconds"]})
    return rows


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof 1; 0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def summary(experiment: Experiment, records: dict[str, dict],
            columns: tuple[str, ...] = ("val_loss", "test_loss", "test_bce", "test_kl")) -> list[dict[str, Any]]:
    """Per variant of ``experiment``: runs finished, seeds collapsed, and mean ± std of ``columns``
    (keys ``<column>_mean``, ``<column>_std``), in the experiment's variant order."""
    rows = experiment_rows(experiment, records)
    out = []
    for variant in experiment.variants:
        mine = [r for r in rows if r["variant"] == variant.label]
        if not mine:
            continue
        row: dict[str, Any] = {"variant": variant.label, "source": variant.source, "runs": len(mine),
                               "collapsed": sum(r["collapsed"] for r in mine)}
        for column in columns:
            row[f"{column}_mean"], row[f"{column}_std"] = mean_std([r[column] for r in mine])
        out.append(row)
    return out


def markdown_summary(records: dict[str, dict], timings: dict[str, dict]) -> str:
    """README tables of the study (GitHub markdown): collapse and trade-off per β and remedy, the
    ablation's final losses (mean ± std over seeds), the cross-validation folds and the timing."""
    def pm(row: dict, column: str, digits: int = 1) -> str:
        return f"{row[column + '_mean']:.{digits}f} ± {row[column + '_std']:.{digits}f}"

    out = ["| run (β = 1 unless named) | seeds collapsed | active latent dims per seed | KL, nats | BCE, nats |",
           "|---|---|---|---|---|"]
    for n, name in enumerate(("beta", "remedy")):
        experiment = EXPERIMENTS[name]
        rows = experiment_rows(experiment, records)
        for row in summary(experiment, records, ("test_kl", "test_bce")):
            if n and row["variant"] == BASE.label:
                continue
            dims = ", ".join(str(r["active_dims"]) for r in rows if r["variant"] == row["variant"])
            out.append(f"| {row['variant']} | {row['collapsed']} of {row['runs']} | {dims} | "
                       f"{pm(row, 'test_kl', 2)} | {pm(row, 'test_bce')} |")
    out += ["", "| regularization | seeds collapsed | final validation loss | test loss (BCE + KL) | "
            "test reconstruction BCE |", "|---|---|---|---|---|"]
    for row in summary(EXPERIMENTS["ablation"], records, ("val_loss", "test_loss", "reconstruction_bce")):
        out.append(f"| {row['variant']} | {row['collapsed']} of {row['runs']} | {pm(row, 'val_loss')} | "
                   f"{pm(row, 'test_loss')} | {pm(row, 'reconstruction_bce')} |")
    cv = experiment_rows(EXPERIMENTS["cv"], records)
    if cv:
        out += ["", "| fold | " + " | ".join(str(r["fold"] + 1) for r in cv) + " | mean ± std |",
                "|---|" + "---|" * (len(cv) + 1)]
        for label, column in (("loss (BCE + KL)", "test_loss"), ("reconstruction BCE", "reconstruction_bce")):
            mean, std = mean_std([r[column] for r in cv])
            out.append(f"| {label} | " + " | ".join(f"{r[column]:.1f}" for r in cv) + f" | {mean:.1f} ± {std:.1f} |")
    if timings:
        out += ["", "| epoch | CPU s | CPU loss | CPU recon. loss | CPU val loss | GPU s | GPU loss | GPU val loss |",
                "|---|---|---|---|---|---|---|---|"]
        cpu, gpu = timings.get("cpu", {}).get("epochs", []), timings.get("cuda", {}).get("epochs", [])
        for i in range(max(len(cpu), len(gpu))):
            left = (f"{cpu[i]['seconds']:.1f} | {cpu[i]['loss']:.2f} | {cpu[i]['bce']:.2f} | {cpu[i]['val_loss']:.2f}"
                    if i < len(cpu) else "not measured | | |")
            right = (f"{gpu[i]['seconds']:.1f} | {gpu[i]['loss']:.2f} | {gpu[i]['val_loss']:.2f}"
                     if i < len(gpu) else "not measured | | ")
            out.append(f"| {i + 1} | {left} | {right} |")
    return "\n".join(out)
