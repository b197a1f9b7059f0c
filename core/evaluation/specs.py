"""The metrics of the leaderboard as objects, without torch: what each measures, its protocol text,
when it applies and which statistic computes it.

Source of the metrics: seed 000 (../shared/seeds/000_a441d5d5b502ff7e.txt), appendix A.3 and
Table 1. Each :class:`MetricSpec` holds the one protocol text of its metric: the evaluator
(:mod:`core.evaluation.evaluator`) writes it into every row and run it computes, the dashboard and
README show it. Nothing here imports torch, so the Leaderboard page lists metrics before any model
loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from core.models.capabilities import CLASSIFY, GENERATE, IMAGE_AND_DIGIT, IMAGE_ONLY, RECONSTRUCT, SAMPLE

#: the model name of the reference rows that score real images like a generator
REFERENCE_MODEL = "real-data"
IS_SPLITS = 10
#: the mode recorded for models that sample without a label
UNCONDITIONAL_MODE = "prior samples (no label)"
#: metrics computed on generated images (they depend on the generation mode)
GENERATED_METRICS = ("generated_accuracy", "fid_inception", "fid_judge", "is_inception", "is_judge")


def _needs(capability: str, reason: str) -> Callable[[Any], str | None]:
    return lambda model: None if model.can(capability) else reason


def _generates(model: Any) -> str | None:
    return None if model.can(GENERATE) or model.can(SAMPLE) else "does not generate images"


def _image_only_variant(model: Any) -> str | None:
    if not model.can(RECONSTRUCT):
        return "does not reconstruct"
    if not (IMAGE_AND_DIGIT in model.input_modes and IMAGE_ONLY in model.input_modes):
        return "has one input mode only; its reconstruction BCE is that mode's"
    return None


@dataclass(frozen=True)
class MetricSpec:
    """One column of the leaderboard: what it measures and how, when it applies, and its computation.

    ``computation`` names one of the evaluator's statistics (a key of
    :data:`core.evaluation.evaluator.COMPUTATIONS`: ``"judged_accuracy"``, ``"frechet"``,
    ``"inception_score"``, ``"classification"``, ``"reconstruction"``, ``"reconstruction_image_only"``),
    applied with the metric's ``networks``; it returns the figures of one row (``value``, ``n``,
    ``mode`` and optionally ``spread``, ``note``). A name, not a function, so this module stays free
    of torch and the evaluator depends on the specs, never the other way. Adding a metric of a known
    statistic is one object here; a new statistic is one function in the evaluator.
    """

    key: str
    label: str
    #: "higher" or "lower": which direction is better
    better: str
    #: feature networks the metric needs (see core.evaluation.FeatureStore.network)
    networks: tuple[str, ...]
    #: model → None when the metric applies, else the reason it does not
    not_applicable: Callable[[Any], str | None]
    protocol: str
    explanation: str
    computation: str
    #: column of seed 000's Table 1 (core.evaluation.reference) this corresponds to, if any
    table1: str | None = None
    digits: int = 3
    #: the image set the figure is computed on: "gia" (the 1,000 judged generations), "fid" (the
    #: 10,000 generations of FID and IS) or "test" (the test images); sets the expected sample count
    sample_set: str = "fid"


METRICS: dict[str, MetricSpec] = {spec.key: spec for spec in (
    MetricSpec(
        "generated_accuracy", "Generated Images Accuracy", "higher", ("judge-logits",),
        _needs(GENERATE, "cannot generate a chosen digit"),
        "1,000 images generated from labels (100 per digit, seed 0, the model's default generation mode), "
        "argmax of the judge classifier compared with the label asked for",
        "Ask the model for 100 of each digit and let an independent classifier (the judge, a CNN "
        "trained on MNIST with augmentation) read them. The share it reads as the requested digit. Higher is better: the digits "
        "are recognisable and of the right class.", table1="generated_accuracy", sample_set="gia",
        computation="judged_accuracy"),
    MetricSpec(
        "fid_inception", "FID (InceptionV3)", "lower", ("inception-pool",), _generates,
        "Fréchet distance between InceptionV3 pool features (2,048-d, TF graph of 2015-12-05) of 10,000 "
        "generated images (1,000 per digit, seed 1; unconditional models: 10,000 prior samples) and of the "
        "10,000 test images; pixels quantised to 8 bits, gray replicated to RGB, bilinear resize to 299×299",
        "Fit a Gaussian to the features a standard ImageNet network (InceptionV3) sees in the generated "
        "images and another to those of real test digits, and measure the distance between the two. Lower "
        "is better: the generated set looks like real digits in quality and variety. Comparable with other "
        "papers only at the same sample count and the same Inception network.",
        table1="fid", digits=2, computation="frechet"),
    MetricSpec(
        "fid_judge", "FID (judge features)", "lower", ("judge-features",), _generates,
        "Fréchet distance between the judge's 128-d penultimate features of the same 10,000 generated images "
        "and of the 10,000 test images",
        "The same distance in the feature space of our MNIST classifier (the judge) instead of InceptionV3. "
        "Fast (seconds on a CPU) and tuned to digits, but not comparable with published FIDs.", digits=2,
        computation="frechet"),
    MetricSpec(
        "is_inception", "Inception Score (InceptionV3)", "higher", ("inception-logits",), _generates,
        f"exp E KL(p(y|x) ‖ p(y)) over the 1,000 ImageNet classes of torchvision's InceptionV3, the same 10,000 "
        f"generated images, {IS_SPLITS} splits (mean; spread = std over splits)",
        "How confidently and how variously an ImageNet classifier labels the images. Higher is better, "
        "but ImageNet has no digit classes, so on MNIST it measures little.", table1="inception_score",
        computation="inception_score"),
    MetricSpec(
        "is_judge", "Inception Score (judge)", "higher", ("judge-logits",), _generates,
        f"exp E KL(p(y|x) ‖ p(y)) over the judge's 10 digit classes, the same 10,000 generated images, "
        f"{IS_SPLITS} splits (mean; spread = std over splits)",
        "The Inception Score with our digit classifier in place of InceptionV3: high when each image is "
        "clearly one digit and all ten digits occur equally. At most 10; real test digits score about 9.9.",
        computation="inception_score"),
    MetricSpec(
        "classification_accuracy", "Classification Accuracy", "higher", (),
        _needs(CLASSIFY, "does not classify"),
        "argmax of the model's own classify(image), image alone as input, on the 10,000 MNIST test images",
        "Show the model only the image and ask which digit it is. The share it gets right on the 10,000 "
        "test images. Higher is better.", table1="classification_accuracy", digits=4, sample_set="test",
        computation="classification"),
    MetricSpec(
        "reconstruction_bce", "Reconstruction Error (BCE)", "lower", (),
        _needs(RECONSTRUCT, "does not reconstruct"),
        "binary cross-entropy summed over the 784 pixels, in nats per image, mean over the 10,000 test images; "
        "input image+digit where the model takes it, else the image; deterministic code (posterior mean)",
        "Encode a test image, decode it, and measure how far the result is from the original, in nats per "
        "image (summed over pixels). Lower is better.", table1="reconstruction_bce", digits=2,
        sample_set="test", computation="reconstruction"),
    MetricSpec(
        "reconstruction_bce_image_only", "Reconstruction BCE, image only", "lower", (), _image_only_variant,
        "as Reconstruction Error, with the image alone as input (the digit withheld)",
        "The same reconstruction error when the model is not told the digit: how much the digit input "
        "helps.", digits=2, sample_set="test", computation="reconstruction_image_only"),
)}
