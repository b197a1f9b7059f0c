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

import csv
import math
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd

from core.atomic import atomic_path
from core.evaluation.specs import GENERATED_METRICS, METRICS, REFERENCE_MODEL, UNCONDITIONAL_MODE
from core.paths import relative

TABLE_NAME = "results.csv"
COLUMNS = ("run", "model", "display_name", "latent_dim", "seed", "metric", "status", "value", "spread", "n",
           "mode", "device", "weights", "protocol", "note", "seconds", "evaluated_at")


class TableError(ValueError):
    """The results table is missing, unreadable, malformed or cannot be written; the message says
    which file, which line and which cell, in words.

    The message is kept as a template and the values it names (the file, the cells' text), so a
    page can escape what came from a file before showing it (:meth:`render`); ``str()`` of the
    error is the plain message.

    Args:
        template: the message, with one ``{}`` per value (no other braces).
        values: what the message quotes: file names, cell text, line numbers.
    """

    def __init__(self, template: str, *values: object):
        self.template = template
        self.values = tuple(str(v) for v in values)
        super().__init__(template.format(*self.values))

    def render(self, escape: Callable[[str], str]) -> str:
        """The message with every quoted value passed through ``escape`` (e.g. the dashboard's
        Markdown escaping) and the words around them kept as they are."""
        return self.template.format(*(escape(v) for v in self.values))


#: what ``status`` may say (see the module docstring)
STATUSES = ("ok", "n/a", "unavailable")
#: cells that must not be blank
REQUIRED = ("run", "metric", "status")
#: numeric columns: (whole numbers only, smallest value allowed); blank is allowed (ok rows need a value)
NUMBERS = {"latent_dim": (True, 1), "seed": (True, 0), "value": (False, None), "spread": (False, 0),
           "n": (True, 1), "seconds": (False, 0)}
_SHOWN = 5  # problems named in one message; the rest are counted
_CELL = 40  # characters of a cell quoted in a message


def _quoted(text: str) -> str:
    """A cell's text as a message quotes it: on one line, at most :data:`_CELL` characters."""
    text = "".join(" " if c.isspace() else c for c in text)
    return text if len(text) <= _CELL else text[:_CELL - 1] + "…"


def _number(text: str) -> float:
    """A numeric cell as a float (NaN when blank); raises ValueError for anything else."""
    text = text.strip()
    if not text:
        return math.nan
    if "_" in text:  # float() would read "1_000"
        raise ValueError(text)
    return float(text)


def _number_problem(column: str, text: str) -> str | None:
    """What is wrong with ``text`` in numeric ``column`` (None: a number it allows, or blank)."""
    whole, least = NUMBERS[column]
    expected = ("a whole number" if whole else "a finite number") + ("" if least is None else f" of at least {least}")
    try:
        number = _number(text)
    except ValueError:
        return "not a number" if not whole and least is None else f"not {expected}"
    if math.isnan(number) and not text.strip().lower().lstrip("+-") == "nan":
        return None  # blank
    if (not math.isfinite(number) or (whole and not number.is_integer())
            or (least is not None and number < least)):
        return f"not {expected}"
    return None


def _timestamp_problem(text: str) -> str | None:
    if text.strip() == "":
        return None
    try:
        datetime.fromisoformat(text.strip())
    except ValueError:
        return "not a date and time (written like 2026-11-22T06:08:15Z)"
    return None


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """The results table at ``path`` as a DataFrame with :data:`COLUMNS`, every cell checked.

    Text columns are ``str`` ("" when blank); ``latent_dim``, ``seed``, ``value``, ``spread``,
    ``n`` and ``seconds`` are float64 (NaN when blank). Every cell is checked before anything is
    returned: ``run``, ``metric`` and ``status`` are not blank; ``metric`` is a key of
    :data:`METRICS`; ``status`` is one of :data:`STATUSES`; an "ok" row has a ``value``;
    ``value`` is a finite number, ``spread`` and ``seconds`` finite numbers of at least 0,
    ``latent_dim`` and ``n`` whole numbers of at least 1, ``seed`` a whole number of at least 0
    (each may be blank); ``evaluated_at`` is an ISO date and time (or blank); no two rows share
    (run, metric, mode); the header names each column of :data:`COLUMNS` once and nothing else
    (a column this code does not know would be lost when the table is written back). Rows whose
    cells are all blank are skipped; ``table.attrs["notes"]`` (a list of sentences) says so.

    Raises:
        TableError: the file is missing, is not a CSV text file, or breaks any rule above; the
            message names the file (:func:`core.paths.relative`), the lines and the cells (the
            first few problems, and how many more there are).
    """
    path = Path(path)
    name = relative(path)
    if path.is_dir():
        raise TableError("{} is a folder, not a results table (a CSV file)", name)
    if not path.is_file():
        raise TableError("no results table at {}; make it with: python scripts/evaluate.py", name)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            lines, start = [], 1
            for cells in reader:
                lines.append((start, cells))
                start = reader.line_num + 1
    except UnicodeDecodeError:
        raise TableError("{} is not a readable results table: it is not UTF-8 text", name) from None
    except csv.Error as exc:
        raise TableError("{} is not a readable results table: line {}: {}", name, reader.line_num, exc) from None
    except OSError as exc:
        raise TableError("{} cannot be read: {}", name, exc.strerror or "read error") from None
    if not lines:
        raise TableError("{} is empty (not even a header)", name)
    _, header = lines[0]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise TableError("{} lacks the column(s) {}", name, ", ".join(missing))
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise TableError("{} has column(s) this version does not know: {} (they would be lost when the table "
                         "is written back; remove them or keep the file elsewhere)", name,
                         ", ".join(_quoted(c) for c in unknown))
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise TableError("{} names the column(s) {} more than once", name, ", ".join(repeated))

    problems: list[tuple[str, tuple]] = []  # (template, values)
    records, blank, seen = [], [], {}
    for number, cells in lines[1:]:
        if all(cell.strip() == "" for cell in cells):
            blank.append(number)
            continue
        if len(cells) != len(header):
            problems.append(("line {} has {} cells where the header has {}", (number, len(cells), len(header))))
            continue
        row = dict(zip(header, cells))
        where = "line {} (run {}, metric {}): "
        at = (number, _quoted(row["run"]), _quoted(row["metric"]))
        for column in REQUIRED:
            if row[column].strip() == "":
                problems.append((where + column + " is blank", at))
        if row["metric"].strip() and row["metric"] not in METRICS:
            problems.append((where + "metric is '{}', not one this version knows (" + ", ".join(METRICS) + ")",
                             (*at, _quoted(row["metric"]))))
        if row["status"].strip() and row["status"] not in STATUSES:
            problems.append((where + "status is '{}', not one of " + ", ".join(STATUSES), (*at, _quoted(row["status"]))))
        for column in NUMBERS:
            wrong = _number_problem(column, row[column])
            if wrong:
                problems.append((where + column + " is '{}', " + wrong, (*at, _quoted(row[column]))))
        if row["status"] == "ok" and row["value"].strip() == "":
            problems.append((where + "status is ok but value is blank", at))
        wrong = _timestamp_problem(row["evaluated_at"])
        if wrong:
            problems.append((where + "evaluated_at is '{}', " + wrong, (*at, _quoted(row["evaluated_at"]))))
        key = (row["run"], row["metric"], row["mode"])
        if key in seen:
            problems.append(("line {} repeats the run, metric and mode of line {} ({}, {}, '{}')",
                             (number, seen[key], *map(_quoted, key))))
        else:
            seen[key] = number
        records.append(row)
    if problems:
        shown = problems[:_SHOWN]
        more = len(problems) - len(shown)
        template = "{} cannot be used as the results table: " + "; ".join(t for t, _ in shown) + (
            f"; and {more} more problem{'s' if more > 1 else ''}" if more else "")
        raise TableError(template, name, *(v for _, values in shown for v in values))

    table = pd.DataFrame(records, columns=list(COLUMNS)).astype(str)
    for column in NUMBERS:
        table[column] = table[column].map(_number).astype("float64")
    if len(blank) == 1:
        table.attrs["notes"] = [f"{name}: line {blank[0]} is blank and was skipped"]
    else:
        table.attrs["notes"] = [f"{name}: lines {', '.join(map(str, blank))} are blank and were skipped"] if blank else []
    return table


def check_writable(path: str | os.PathLike) -> None:
    """Check, before any work, that a results table could be written at ``path``: tried for real,
    since permissions do not tell (root writes into a read-only folder): a temporary file is
    created (and removed) in ``path``'s folder, or in the nearest folder above it that exists
    (the folders in between are not created here).

    Raises:
        TableError: ``path`` is a folder, a file stands where a folder is needed, or no file can be
            created there; the message says so in words.
    """
    path = Path(path)
    name = relative(path)
    if path.is_dir():
        raise TableError("cannot write the results table {}: it is a folder", name)
    folder = path.parent
    while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise TableError("cannot write the results table {}: {} is a file, not a folder", name, relative(folder))
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise TableError("cannot write the results table {}: no file can be created in {} ({})", name,
                         relative(folder), (exc.strerror or "refused").lower()) from None


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
        TableError: the table on disk cannot be read (see :func:`read_table`), or the table or its
            lock cannot be written; the file is left as it was.
    """
    from filelock import FileLock

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            table = read_table(path) if path.exists() else None
            merged = merge_rows(table, rows)
            write_table(merged, path)
    except OSError as exc:
        raise TableError("cannot write the results table {}: {}", relative(path),
                         (exc.strerror or "refused").lower()) from None
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
                        n=int(ok["n"].max()) if ok["n"].notna().any() else None))
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
