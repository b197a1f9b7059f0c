"""Seed 000's evaluation protocol (Table 1, appendix A.3) for every model of the zoo.

:func:`evaluate_test_metrics` gives the test-set metrics that need no generated images (appendix
A.3.4 Classification Accuracy, A.3.5 Reconstruction Error; run at the end of every training);
:class:`Evaluator` gives all of Table 1's metrics, generated-image ones included (A.3.1–A.3.3),
as rows of the results table that ``scripts/evaluate.py`` writes (see ``core/evaluation/table.py``).

Units: reconstruction error is the binary cross-entropy between a test image and its
reconstruction **summed over the 784 pixels**, in nats per image, averaged over the test images.
Seed 000's eq. (5) writes a per-pixel mean, but its Table 1 values (61–93) are only reachable as a
per-image sum (a per-pixel mean is ~0.08–0.12 nats); we report the per-image sum and compare with
Table 1 on that reading.
"""

from __future__ import annotations

import hashlib
import pickle
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, NamedTuple

import torch

from core.evaluation.metrics import Progress, accuracy, classifier_accuracy, extract, frechet_distance
from core.evaluation.metrics import inception_score as inception_score_of
from core.evaluation.specs import GENERATED_METRICS, IS_SPLITS, METRICS, UNCONDITIONAL_MODE, MetricSpec
from core.models.base import DigitModel
from core.models.capabilities import GENERATE, IMAGE_AND_DIGIT, IMAGE_ONLY, N_CLASSES, encoder_input
from core.models.functional import bce_per_image
from core.paths import cache_root


@torch.no_grad()
def reconstruction_error(model: DigitModel, x: torch.Tensor, y: torch.Tensor | None,
                         batch_size: int = 1000) -> float:
    """Mean BCE per image (nats, summed over 784 pixels) of ``model.reconstruct(x, y)``.

    ``y=None`` reconstructs from the image alone; otherwise from image+digit.
    """
    total = 0.0
    for i in range(0, x.shape[0], batch_size):
        xb = x[i:i + batch_size].to(model.device)
        yb = None if y is None else y[i:i + batch_size].to(model.device)
        total += float(bce_per_image(xb, model.reconstruct(xb, yb)).sum())
    return total / x.shape[0]


def evaluate_test_metrics(model: DigitModel, test_x: torch.Tensor, test_y: torch.Tensor) -> dict[str, Any]:
    """Every test metric the model's capabilities allow (the test-set metrics of
    :data:`core.evaluation.specs.METRICS`: those whose ``sample_set`` is ``"test"``), each with its
    protocol text from its spec. Run at the end of every training.

    Args:
        test_x: float (N, 1, 28, 28) images in [0, 1]; test_y: int64 (N,) their digits.

    Returns:
        ``{metric: {"value": float, "n": int, "protocol": str}}`` for ``classification_accuracy``
        (classifiers), ``reconstruction_bce`` (image+digit input when the model accepts it, else
        image only) and ``reconstruction_bce_image_only``.
    """
    was_training = model.training
    model.eval()
    store = FeatureStore(test_x, test_y, None, model.device, log=lambda line: None, disk_cache=False)
    out: dict[str, Any] = {}
    for key, spec in METRICS.items():
        if spec.sample_set != "test" or spec.not_applicable(model):
            continue
        figures = COMPUTATIONS[spec.computation](spec, model, store, None)
        out[key] = {"value": figures["value"], "n": figures["n"], "protocol": spec.protocol}
    model.train(was_training)
    return out


# --- the full protocol of seed 000's Table 1 (appendix A.3), for any model of the zoo ----------------

#: sizes of the generated sets (seed 000's Table 1 caption: 1,000 images for the accuracy)
GIA_PER_DIGIT = 100
FID_PER_DIGIT = 1000
GIA_SEED, FID_SEED = 0, 1
#: images per cached chunk of Inception features
CHUNK = 500
#: the metrics that score a set of images, so real images can be scored like generated ones
REAL_METRICS = GENERATED_METRICS
REAL_MODE = "real MNIST training images"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(images: torch.Tensor) -> str:
    return hashlib.sha1(images.detach().float().cpu().numpy().tobytes()).hexdigest()[:16]


class FeatureStore:
    """The feature networks of the protocol and their features, made once and shared across runs: the
    judge's and InceptionV3's (loaded on first need), and the features of the real test images
    (Inception's also cached on disk, keyed by the images' SHA-1, under ``$DIGITLAB_CACHE/features/``).

    Args:
        test_x: float (N, 1, 28, 28) test images in [0, 1]; test_y: int64 (N,) their digits.
        judge: the judge classifier (role JUDGE), or None (judge metrics then say "unavailable").
        device: where feature networks run.
        progress: ``progress(description)`` returns a wrapper for an iterable (a tqdm bar), or None.
        log: where status lines go.
        batch_size: images per forward pass of a feature network.
        disk_cache: keep Inception features on disk (an interrupted evaluation resumes).
    """

    def __init__(self, test_x: torch.Tensor, test_y: torch.Tensor, judge: DigitModel | None,
                 device: torch.device | str = "cpu", progress: Callable[[str], Progress] | None = None,
                 log: Callable[[str], None] = print, batch_size: int = 250, disk_cache: bool = True):
        self.test_x, self.test_y = test_x.float().cpu(), test_y.long().cpu()
        self.judge = judge.eval() if judge is not None else None
        self.device = torch.device(device)
        self.progress, self.log, self.batch_size, self.disk_cache = progress, log, int(batch_size), disk_cache
        self._networks: dict[str, torch.nn.Module] = {}
        self._failures: dict[str, str] = {}
        self._real: dict[str, torch.Tensor] = {}

    def network(self, key: str) -> torch.nn.Module | None:
        """The feature network of ``key`` ("judge-features", "judge-logits", "inception-pool",
        "inception-logits"), or None when it cannot be had (:meth:`failure` says why)."""
        if key in self._networks or key in self._failures:
            return self._networks.get(key)
        if key.startswith("judge"):
            if self.judge is None:
                self._failures[key] = "no judge run found (train one: python scripts/train.py --model judge)"
                return None
            net = _JudgeHead(self.judge, features=key == "judge-features")
        else:
            from core.evaluation.inception import InceptionFeatures, InceptionUnavailable, load_inception_classifier
            try:
                net = InceptionFeatures(log=self.log) if key == "inception-pool" else load_inception_classifier(self.log)
            except InceptionUnavailable as exc:
                self._failures[key] = str(exc)
                return None
        self._networks[key] = net.to(self.device).eval()
        return self._networks[key]

    def failure(self, key: str) -> str | None:
        """Why the network of ``key`` cannot be had, or None when it can."""
        return None if self.network(key) is not None else self._failures[key]

    def features(self, key: str, images: torch.Tensor, what: str, keep: bool = False) -> torch.Tensor:
        """Features of ``images`` under network ``key``. Inception's are computed in chunks of
        :data:`CHUNK` images, each saved under ``$DIGITLAB_CACHE/features/<key>/<sha1>.pt`` as soon
        as it is done, so an interrupted evaluation resumes where it stopped; the chunks of
        generated images are deleted once the whole set is done unless ``keep``."""
        net = self.network(key)
        bar = self.progress(f"{key} · {what}") if self.progress else None
        if not (self.disk_cache and key.startswith("inception")):
            return extract(net, images, self.batch_size, self.device, bar)
        folder = cache_root() / "features" / key
        folder.mkdir(parents=True, exist_ok=True)
        out, paths = [], []
        for i in (bar or iter)(range(0, images.shape[0], CHUNK)):
            chunk = images[i:i + CHUNK]
            path = folder / f"{_digest(chunk)}-{chunk.shape[0]}.pt"
            paths.append(path)
            features = _load_tensor(path, chunk.shape[0])
            if features is None:
                features = extract(net, chunk, self.batch_size, self.device)
                torch.save(features, path.with_suffix(".part"))
                path.with_suffix(".part").replace(path)
            out.append(features)
        if not keep:
            for path in paths:
                path.unlink(missing_ok=True)
        return torch.cat(out)

    def real_features(self, key: str) -> torch.Tensor:
        """Features (N, d) of the test images under network ``key``, computed once (Inception's
        are also kept on disk, so another process reuses them)."""
        if key not in self._real:
            self._real[key] = self.features(key, self.test_x, "test images", keep=True)
        return self._real[key]


class SampleSet(NamedTuple):
    """A set of images a metric scores: images float (N, 1, 28, 28) in [0, 1], the digits they were
    generated for (int64 (N,), or None for unconditional samples) and the mode that made them."""

    images: torch.Tensor
    labels: torch.Tensor | None
    mode: str


class SampleSets:
    """The two image sets of the protocol for one model in one generation mode, each made on first
    use and then shared by every metric that scores it: ``gia`` (``gia_per_digit`` per digit, seed
    :data:`GIA_SEED`) and ``fid`` (``fid_per_digit`` per digit, seed :data:`FID_SEED`).

    ``model`` None with ``real`` given: both sets are the real images (reference rows).
    """

    def __init__(self, model: DigitModel | None, mode: str | None, gia_per_digit: int, fid_per_digit: int,
                 real: SampleSet | None = None):
        self.model, self.gia_per_digit, self.fid_per_digit = model, int(gia_per_digit), int(fid_per_digit)
        if model is None:
            self.mode = REAL_MODE
        elif model.can(GENERATE) and (mode is not None or type(model).generation_modes):
            self.mode = str(model.generation_mode(mode))
        else:  # the model's own default: prior samples (a fitted sampler is asked for by name)
            self.mode = UNCONDITIONAL_MODE
        self._sets: dict[str, SampleSet] = {"gia": real, "fid": real} if real is not None else {}

    def gia(self) -> SampleSet:
        """The set of the Generated Images Accuracy."""
        return self._made("gia", self.gia_per_digit, GIA_SEED)

    def fid(self) -> SampleSet:
        """The set of FID and the Inception Score."""
        return self._made("fid", self.fid_per_digit, FID_SEED)

    def _made(self, key: str, per_digit: int, seed: int) -> SampleSet:
        if key not in self._sets:
            model, generator = self.model, torch.Generator().manual_seed(seed)
            chunks, labels = [], None
            with torch.no_grad():
                if self.mode != UNCONDITIONAL_MODE:
                    labels = torch.arange(N_CLASSES).repeat_interleave(per_digit)
                    for i in range(0, labels.shape[0], 1000):
                        chunks.append(model.generate(labels[i:i + 1000].to(model.device), generator=generator,
                                                     mode=self.mode).float().cpu())
                else:
                    n = per_digit * N_CLASSES
                    for i in range(0, n, 1000):
                        chunks.append(model.sample(min(1000, n - i), generator=generator).float().cpu())
            self._sets[key] = SampleSet(torch.cat(chunks), labels, self.mode)
        return self._sets[key]


class Evaluator:
    """Rows of the results table for any model: seed 000's Table 1 metrics (see
    :data:`core.evaluation.table.METRICS`), each computed by its metric object's ``compute`` from a
    :class:`FeatureStore` (shared across runs) and the model's :class:`SampleSets`.

    Args:
        test_x, test_y, judge, device, progress, log, batch_size, disk_cache: see :class:`FeatureStore`.
        fid_per_digit: generated images per digit for FID / IS (1,000 → 10,000 images).
        gia_per_digit: generated images per digit for the Generated Images Accuracy (100 → 1,000).
    """

    def __init__(self, test_x: torch.Tensor, test_y: torch.Tensor, judge: DigitModel | None,
                 device: torch.device | str = "cpu", fid_per_digit: int = FID_PER_DIGIT,
                 gia_per_digit: int = GIA_PER_DIGIT, progress: Callable[[str], Progress] | None = None,
                 log: Callable[[str], None] = print, batch_size: int = 250, disk_cache: bool = True):
        self.store = FeatureStore(test_x, test_y, judge, device, progress, log, batch_size, disk_cache)
        self.fid_per_digit, self.gia_per_digit = int(fid_per_digit), int(gia_per_digit)
        self.log = log

    @property
    def test_x(self) -> torch.Tensor:
        return self.store.test_x

    @property
    def test_y(self) -> torch.Tensor:
        return self.store.test_y

    @property
    def judge(self) -> DigitModel | None:
        return self.store.judge

    @judge.setter
    def judge(self, judge: DigitModel | None) -> None:
        self.store.judge = judge

    def real_features(self, key: str) -> torch.Tensor:
        """See :meth:`FeatureStore.real_features`."""
        return self.store.real_features(key)

    def evaluate(self, model: DigitModel, metrics: Iterable[str] | None = None,
                 mode: str | None = None) -> list[dict[str, Any]]:
        """Rows of the results table for ``model``: one per requested metric (all by default).

        ``mode`` is the generation mode of the generated-image metrics (default: the model's first
        ``generation_modes``); the other metrics ignore it.

        Every row has ``metric``, ``status`` ("ok", "n/a": does not apply to this model,
        "unavailable": a needed network is missing), ``value`` and ``spread`` (the IS's std over
        its splits; None elsewhere), ``n`` (images the figure is computed on), ``mode`` (generation
        or input mode), ``protocol``, ``note``, ``device``, ``seconds`` and ``evaluated_at``.

        Raises:
            KeyError: an unknown metric name.
            ValueError: ``mode`` is not one of the model's generation modes.
        """
        if mode is not None:
            if mode not in model.generation_modes:
                raise ValueError(f"{model.describe()} has no generation mode {mode!r}; choose from "
                                 f"{', '.join(model.generation_modes) or 'none'}")
        wanted = list(metrics) if metrics is not None else list(METRICS)
        unknown = [m for m in wanted if m not in METRICS]
        if unknown:
            raise KeyError(f"unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRICS)}")
        was_training = model.training
        model.eval()
        rows = self._rows(wanted, model, SampleSets(model, mode, self.gia_per_digit, self.fid_per_digit))
        model.train(was_training)
        return rows

    def _rows(self, wanted: list[str], model: DigitModel | None, sets: SampleSets) -> list[dict[str, Any]]:
        rows = []
        for key in wanted:
            metric = METRICS[key]
            reason = metric.not_applicable(model) if model is not None else None
            start = time.perf_counter()
            row = {"metric": key, "status": "ok", "value": None, "spread": None, "n": None,
                   "mode": sets.mode if key in GENERATED_METRICS else "",
                   "protocol": metric.protocol, "note": "", "device": _device_name(self.store.device)}
            if reason:
                row.update(status="n/a", note=reason)
            else:
                missing = [why for why in map(self.store.failure, metric.networks) if why]
                if missing:
                    row.update(status="unavailable", note=missing[0])
                else:
                    row.update(COMPUTATIONS[metric.computation](metric, model, self.store, sets))
            row.update(seconds=round(time.perf_counter() - start, 2), evaluated_at=_now())
            rows.append(row)
            if row["status"] == "ok":
                spread = f" ± {row['spread']:.3f}" if row["spread"] is not None else ""
                self.log(f"  {key} = {row['value']:.4f}{spread} (n={row['n']}, {row['seconds']:.0f} s)")
            else:
                self.log(f"  {key}: {row['status']} ({row['note']})")
        return rows

    def evaluate_real(self, images: torch.Tensor, labels: torch.Tensor,
                      metrics: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Reference rows for real images (e.g. 10,000 training images) scored like generations:
        the floor of FID and the ceiling of IS and judged accuracy that a perfect generator reaches.

        Args:
            images: float (N, 1, 28, 28) in [0, 1]; labels: int64 (N,).
            metrics: a subset of the generated-image metrics (default: all five); others are skipped.
        """
        wanted = set(metrics) if metrics is not None else set(REAL_METRICS)
        # the real set stands in for both generated sets, so the very same metric code scores it
        real = SampleSet(images.float().cpu(), labels.long().cpu(), REAL_MODE)
        sets = SampleSets(None, None, self.gia_per_digit, self.fid_per_digit, real=real)
        return self._rows([k for k in REAL_METRICS if k in wanted], None, sets)


# --- the statistics that compute the metrics (each MetricSpec names one in ``computation``) ---------

Computation = Callable[[MetricSpec, "DigitModel | None", FeatureStore, SampleSets], dict[str, Any]]
#: statistic name -> function(spec, model, store, sets) returning a row's figures
COMPUTATIONS: dict[str, Computation] = {}


def computation(function: Computation) -> Computation:
    """Register ``function`` under its name in :data:`COMPUTATIONS`."""
    COMPUTATIONS[function.__name__] = function
    return function


@computation
def judged_accuracy(spec: MetricSpec, model: DigitModel | None, store: FeatureStore, sets: SampleSets) -> dict[str, Any]:
    """The judge's accuracy on the ``gia`` set against the digits asked for (network ``spec.networks[0]``,
    the judge's logits)."""
    images, labels, mode = sets.gia()
    if labels is None:
        return {"status": "n/a", "mode": mode,
                "note": "its default samples are drawn without a digit, so there is none to check"}
    logits = store.features(spec.networks[0], images, "generated")
    return {"value": accuracy(logits, labels), "n": int(images.shape[0]), "mode": mode}


@computation
def frechet(spec: MetricSpec, model: DigitModel | None, store: FeatureStore, sets: SampleSets) -> dict[str, Any]:
    """FID of the ``fid`` set against the test images in the features of network ``spec.networks[0]``."""
    key = spec.networks[0]
    images, _, mode = sets.fid()
    value = frechet_distance(store.real_features(key), store.features(key, images, "generated"))
    return {"value": value, "n": int(images.shape[0]), "mode": mode,
            "note": f"against {store.test_x.shape[0]} test images"}


@computation
def inception_score(spec: MetricSpec, model: DigitModel | None, store: FeatureStore, sets: SampleSets) -> dict[str, Any]:
    """Inception Score of the ``fid`` set under the class logits of network ``spec.networks[0]``."""
    images, _, mode = sets.fid()
    mean, std = inception_score_of(store.features(spec.networks[0], images, "generated"), splits=IS_SPLITS)
    return {"value": mean, "spread": std, "n": int(images.shape[0]), "mode": mode}


@computation
def classification(spec: MetricSpec, model: DigitModel, store: FeatureStore, sets: SampleSets) -> dict[str, Any]:
    """The model's own classification of the test images, image alone."""
    return {"value": classifier_accuracy(model, store.test_x, store.test_y), "n": int(store.test_x.shape[0]),
            "mode": IMAGE_ONLY}


@computation
def reconstruction(spec: MetricSpec, model: DigitModel, store: FeatureStore, sets: SampleSets) -> dict[str, Any]:
    """Reconstruction BCE of the test images, with the digit where the model takes it."""
    mode = encoder_input(model)
    value = reconstruction_error(model, store.test_x.to(model.device),
                                 store.test_y.to(model.device) if mode == IMAGE_AND_DIGIT else None)
    return {"value": value, "n": int(store.test_x.shape[0]), "mode": mode}


@computation
def reconstruction_image_only(spec: MetricSpec, model: DigitModel, store: FeatureStore,
                              sets: SampleSets) -> dict[str, Any]:
    """Reconstruction BCE of the test images from the image alone."""
    value = reconstruction_error(model, store.test_x.to(model.device), None)
    return {"value": value, "n": int(store.test_x.shape[0]), "mode": IMAGE_ONLY}


class _JudgeHead(torch.nn.Module):
    """The judge as a feature network: 128-d penultimate features, or its log-probabilities."""

    def __init__(self, judge: DigitModel, features: bool):
        super().__init__()
        self.judge, self.use_features = judge, features

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.judge.features(x) if self.use_features else self.judge.classify(x)


def _load_tensor(path, rows: int) -> torch.Tensor | None:
    """A cached feature tensor with ``rows`` rows, or None when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        tensor = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, pickle.UnpicklingError):
        return None
    return tensor if isinstance(tensor, torch.Tensor) and tensor.shape[0] == rows else None


def _device_name(device: torch.device) -> str:
    if device.type == "cuda" and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return str(device)
