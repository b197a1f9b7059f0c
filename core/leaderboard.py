"""The results table: metric definitions, the tidy CSV under checkpoints/, and mean ± std over seeds.

One row per (run, metric), written by ``scripts/evaluate.py`` and read by the dashboard's
Leaderboard page, which never recomputes it. Columns (:data:`COLUMNS`):

* ``run``, ``model``, ``display_name``, ``latent_dim``, ``seed``: which trained run (the reference
  rows of real images have ``model == "real-data"`` and no latent or seed);
* ``metric``: a key of :data:`METRICS`; ``status``: "ok", "n/a" (does not apply to the model) or
  "unavailable" (a network it needs could not be had here; ``note`` says why);
* ``value`` and ``spread`` (IS only: std over its 10 splits), ``n`` (images the figure is
  computed on), ``mode`` (generation or input mode used), ``protocol``, ``note``;
* ``device``, ``weights`` (e.g. "float16 as shipped"), ``seconds`` and ``evaluated_at`` (UTC).

Source of the metrics: seed 000 (../shared/seeds/000_a441d5d5b502ff7e.txt), appendix A.3 and Table 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from .atomic import atomic_path

from .models.capabilities import CLASSIFY, GENERATE, IMAGE_AND_DIGIT, IMAGE_ONLY, RECONSTRUCT, SAMPLE

TABLE_NAME = "results.csv"
REFERENCE_MODEL = "real-data"
IS_SPLITS = 10
#: the mode recorded for models that sample without a label
UNCONDITIONAL_MODE = "prior samples (no label)"
#: metrics computed on generated images (they depend on the generation mode)
GENERATED_METRICS = ("generated_accuracy", "fid_inception", "fid_judge", "is_inception", "is_judge")
COLUMNS = ("run", "model", "display_name", "latent_dim", "seed", "metric", "status", "value", "spread", "n",
           "mode", "device", "weights", "protocol", "note", "seconds", "evaluated_at")


class TableError(ValueError):
    """The results table is missing, unreadable or lacks columns; the message says which."""


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


def _evaluation():
    """core.evaluation (torch and torchmetrics), imported when a metric is first computed, so this
    module and the dashboard pages that list metrics stay free of them."""
    from . import evaluation

    return evaluation


@dataclass(frozen=True)
class MetricSpec:
    """One column of the leaderboard: what it measures and how, when it applies, and its computation.

    ``compute(model, store, sets)`` returns the figures of one row (``value``, ``n``, ``mode`` and
    optionally ``spread``, ``note``) from a :class:`core.evaluation.FeatureStore` and the model's
    :class:`core.evaluation.SampleSets` (``model`` is None for real images).
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
    compute: Callable[[Any, Any, Any], dict[str, Any]]
    #: column of seed 000's Table 1 (core.reference) this corresponds to, if any
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
        compute=lambda *a: _evaluation().generated_accuracy(*a)),
    MetricSpec(
        "fid_inception", "FID (InceptionV3)", "lower", ("inception-pool",), _generates,
        "Fréchet distance between InceptionV3 pool features (2,048-d, TF graph of 2015-12-05) of 10,000 "
        "generated images (1,000 per digit, seed 1; unconditional models: 10,000 prior samples) and of the "
        "10,000 test images; pixels quantised to 8 bits, gray replicated to RGB, bilinear resize to 299×299",
        "Fit a Gaussian to the features a standard ImageNet network (InceptionV3) sees in the generated "
        "images and another to those of real test digits, and measure the distance between the two. Lower "
        "is better: the generated set looks like real digits in quality and variety. Comparable with other "
        "papers only at the same sample count and the same Inception network.",
        table1="fid", digits=2, compute=lambda *a: _evaluation().frechet("inception-pool")(*a)),
    MetricSpec(
        "fid_judge", "FID (judge features)", "lower", ("judge-features",), _generates,
        "Fréchet distance between the judge's 128-d penultimate features of the same 10,000 generated images "
        "and of the 10,000 test images",
        "The same distance in the feature space of our MNIST classifier (the judge) instead of InceptionV3. "
        "Fast (seconds on a CPU) and tuned to digits, but not comparable with published FIDs.", digits=2,
        compute=lambda *a: _evaluation().frechet("judge-features")(*a)),
    MetricSpec(
        "is_inception", "Inception Score (InceptionV3)", "higher", ("inception-logits",), _generates,
        f"exp E KL(p(y|x) ‖ p(y)) over the 1,000 ImageNet classes of torchvision's InceptionV3, the same 10,000 "
        f"generated images, {IS_SPLITS} splits (mean; spread = std over splits)",
        "How confidently and how variously an ImageNet classifier labels the images. Higher is better, "
        "but ImageNet has no digit classes, so on MNIST it measures little.", table1="inception_score",
        compute=lambda *a: _evaluation().inception_score_with("inception-logits")(*a)),
    MetricSpec(
        "is_judge", "Inception Score (judge)", "higher", ("judge-logits",), _generates,
        f"exp E KL(p(y|x) ‖ p(y)) over the judge's 10 digit classes, the same 10,000 generated images, "
        f"{IS_SPLITS} splits (mean; spread = std over splits)",
        "The Inception Score with our digit classifier in place of InceptionV3: high when each image is "
        "clearly one digit and all ten digits occur equally. At most 10; real test digits score about 9.9.",
        compute=lambda *a: _evaluation().inception_score_with("judge-logits")(*a)),
    MetricSpec(
        "classification_accuracy", "Classification Accuracy", "higher", (),
        _needs(CLASSIFY, "does not classify"),
        "argmax of the model's own classify(image), image alone as input, on the 10,000 MNIST test images",
        "Show the model only the image and ask which digit it is. The share it gets right on the 10,000 "
        "test images. Higher is better.", table1="classification_accuracy", digits=4, sample_set="test",
        compute=lambda *a: _evaluation().classification_on_test(*a)),
    MetricSpec(
        "reconstruction_bce", "Reconstruction Error (BCE)", "lower", (),
        _needs(RECONSTRUCT, "does not reconstruct"),
        "binary cross-entropy summed over the 784 pixels, in nats per image, mean over the 10,000 test images; "
        "input image+digit where the model takes it, else the image; deterministic code (posterior mean)",
        "Encode a test image, decode it, and measure how far the result is from the original, in nats per "
        "image (summed over pixels). Lower is better.", table1="reconstruction_bce", digits=2,
        sample_set="test", compute=lambda *a: _evaluation().reconstruction_on_test(*a)),
    MetricSpec(
        "reconstruction_bce_image_only", "Reconstruction BCE, image only", "lower", (), _image_only_variant,
        "as Reconstruction Error, with the image alone as input (the digit withheld)",
        "The same reconstruction error when the model is not told the digit: how much the digit input "
        "helps.", digits=2, sample_set="test", compute=lambda *a: _evaluation().reconstruction_image_only_on_test(*a)),
)}


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """The results table at ``path`` as a DataFrame with :data:`COLUMNS`.

    Raises:
        TableError: the file is missing, is not CSV, or lacks columns.
    """
    path = Path(path)
    if not path.is_file():
        raise TableError(f"no results table at {path}; make it with: python scripts/evaluate.py")
    try:
        table = pd.read_csv(path, dtype={"run": str, "model": str, "metric": str, "status": str},
                            keep_default_na=False, na_values={"value": [""], "spread": [""], "n": [""],
                                                              "latent_dim": [""], "seed": [""], "seconds": [""]})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise TableError(f"{path} is not a readable results table: {exc}") from exc
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise TableError(f"{path} lacks the column(s) {', '.join(missing)}")
    for column in ("value", "spread", "n", "latent_dim", "seconds"):
        numbers = pd.to_numeric(table[column], errors="coerce")
        bad = numbers.isna() & table[column].notna()
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise TableError(f"{path}, line {i + 2} (run {table['run'].iloc[i]}, metric {table['metric'].iloc[i]}): "
                             f"{column} is {table[column].iloc[i]!r}, not a number"
                             + (f"; {int(bad.sum()) - 1} more such cells" if bad.sum() > 1 else ""))
        table[column] = numbers
    return table[list(COLUMNS)]


def merge_rows(table: pd.DataFrame | None, rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """``table`` with ``rows`` added; a new row replaces an old one of the same (run, metric, mode)."""
    new = pd.DataFrame(list(rows), columns=list(COLUMNS))
    if table is None or table.empty:
        merged = new
    else:
        keys = set(zip(new["run"], new["metric"], new["mode"]))
        keep = [k not in keys for k in zip(table["run"], table["metric"], table["mode"])]
        merged = pd.concat([table[keep], new], ignore_index=True) if not new.empty else table
    order = {key: i for i, key in enumerate(METRICS)}
    merged = merged.assign(_m=merged["metric"].map(order).fillna(len(order)))
    return merged.sort_values(["model", "latent_dim", "seed", "run", "_m"], na_position="first",
                              kind="stable").drop(columns="_m").reset_index(drop=True)


def write_table(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``table`` as CSV (atomically: a partial file never replaces a good one)."""
    path = Path(path)
    with atomic_path(path) as partial:
        table[list(COLUMNS)].to_csv(partial, index=False, float_format="%.8g")
    return path


def add_rows(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Merge ``rows`` into the table at ``path`` (created if absent) and write it back, holding a
    lock file (``<path>.lock``, the filelock library) from the read to the write, so evaluations in
    other processes that add rows at the same time never lose one; returns the merged table.

    Raises:
        TableError: the table on disk cannot be read (it is left as it is).
    """
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        table = read_table(path) if path.exists() else None
        merged = merge_rows(table, rows)
        write_table(merged, path)
    return merged


def default_mode(model: str) -> str | None:
    """The generation mode a model's generated-image figures use by default (None: unknown model)."""
    from .models import REGISTRY

    cls = REGISTRY.get(model)
    if cls is None:
        return None
    return cls.generation_modes[0] if cls.generation_modes else UNCONDITIONAL_MODE


def in_default_mode(frame: pd.DataFrame) -> pd.Series:
    """Boolean Series: which rows of ``frame`` (columns ``model``, ``mode``) are in their model's
    default generation mode."""
    return frame["mode"] == frame["model"].map(default_mode)


def zoo_rank(model: str) -> int:
    """Where ``model`` comes in tables and legends: the registry's order, the real-data reference
    after every model, unknown names last."""
    from .models import REGISTRY

    names = [*REGISTRY, REFERENCE_MODEL]
    return names.index(model) if model in names else len(names)


def default_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of each model's default generation mode (and every row of the other metrics)."""
    generated = table["metric"].isin(GENERATED_METRICS) & (table["model"] != REFERENCE_MODEL)
    return table[~generated | in_default_mode(table) | (table["status"] == "n/a")]


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over training seeds of every (model, latent size, metric, mode), as Table 1 reports.

    Returns one row per (model, display_name, latent_dim, metric, mode) with ``mean``, ``std`` (sample
    std, ddof=1; NaN with one seed), ``n_seeds``, ``seeds`` (e.g. "0,1,2"), ``status`` ("ok" when
    any seed has a value, else the first row's status), ``note`` and ``n`` (images per figure).
    """
    out = []
    keys = ["model", "display_name", "latent_dim", "metric", "mode"]
    for key, group in table.groupby(keys, dropna=False, sort=False):
        ok = group[group["status"] == "ok"]
        values = ok["value"].astype(float)
        seeds = sorted(int(s) for s in ok["seed"].dropna()) if not ok.empty else []
        out.append(dict(zip(keys, key), mean=values.mean() if len(values) else float("nan"),
                        std=values.std(ddof=1) if len(values) > 1 else float("nan"),
                        n_seeds=len(values), seeds=",".join(map(str, seeds)),
                        status="ok" if len(values) else str(group["status"].iloc[0]),
                        note="" if len(values) else str(group["note"].iloc[0]),
                        n=int(ok["n"].max()) if len(values) else None))
    return pd.DataFrame(out)


def union_seeds(seed_lists: Iterable[str]) -> str:
    """Seeds appearing in any of ``seed_lists`` (each like "0,1,2"), sorted: "0,1,2"."""
    return ",".join(sorted({s for text in seed_lists for s in str(text).split(",") if s}, key=int))


def fewer_seeds_note(row: pd.Series, row_seeds: str) -> str:
    """" [seed 0]" when summary ``row`` (see :func:`summarize`) holds figures of fewer training seeds
    than ``row_seeds``, the seeds of its model's other figures (e.g. Inception FID, computed for
    seed 0 only); "" otherwise."""
    return f" [seed {row['seeds']}]" if row["status"] == "ok" and row["seeds"] and row["seeds"] != row_seeds else ""


def is_reference(model: str) -> bool:
    """True for the rows that are references, not ranked: real images, and models that declare
    themselves a reference of the state of the art (``reference = True``, e.g. the diffusion model)."""
    from .models import REGISTRY

    return model == REFERENCE_MODEL or bool(getattr(REGISTRY.get(model), "reference", False))


def best_per_metric(summary: pd.DataFrame) -> dict[str, tuple[str, Any]]:
    """{metric: (model, latent_dim)} of the best mean in each column (reference rows excluded: real
    images and state-of-the-art reference models)."""
    best = {}
    ok = summary[(summary["status"] == "ok") & ~summary["model"].map(is_reference).astype(bool)]
    for metric, group in ok.groupby("metric"):
        spec = METRICS.get(metric)
        if spec is None:
            continue
        row = group.loc[group["mean"].idxmax() if spec.better == "higher" else group["mean"].idxmin()]
        best[metric] = (row["model"], row["latent_dim"])
    return best
