"""The results table: the tidy CSV under checkpoints/, and mean ± std over seeds (metrics: :mod:`core.evaluation.specs`).

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
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from core.atomic import atomic_path
from core.evaluation.specs import GENERATED_METRICS, METRICS, REFERENCE_MODEL, UNCONDITIONAL_MODE

TABLE_NAME = "results.csv"
COLUMNS = ("run", "model", "display_name", "latent_dim", "seed", "metric", "status", "value", "spread", "n",
           "mode", "device", "weights", "protocol", "note", "seconds", "evaluated_at")


class TableError(ValueError):
    """The results table is missing, unreadable or lacks columns; the message says which."""


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
    from core.models import REGISTRY

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
    from core.models import REGISTRY

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
    from core.models import REGISTRY

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
