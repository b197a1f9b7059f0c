#!/usr/bin/env python
"""Compute seed 000's Table 1 metrics for trained runs and write the results table.

For every run folder under --checkpoints (or those named with --runs) this loads the weights as stored
(float16 on disk), computes each metric of core/evaluation/table.py that applies (Generated Images
Accuracy, FID with InceptionV3 and with the judge's features, Inception Score with InceptionV3 and
with the judge, Classification Accuracy, Reconstruction Error), and merges one row per (run,
metric) into the tidy table checkpoints/results.csv, with the sample count, protocol, device and
time of every figure. It then prints mean ± std over seeds beside seed 000's Table 1.

The table is rewritten after every run, so an interrupted evaluation keeps what it finished, and
--skip-done resumes it. InceptionV3 reads about 7 images/s per CPU core (FID over 10,000
generated images: 23-40 minutes per run); use --device cuda where there is a GPU. The test images'
Inception features are cached under .cache/features/ after the first run.

    python scripts/evaluate.py                                  # every run in checkpoints/
    python scripts/evaluate.py --checkpoints checkpoints runs   # also seeds 1 and 2 trained into runs/
    python scripts/evaluate.py --metrics fid_judge is_judge --runs cgan-z100-s0
    python scripts/evaluate.py --reference                      # also score 10,000 real training images
    python scripts/evaluate.py --n-test 500 --fid-per-digit 50 --table /tmp/t.csv   # a quick try
    python scripts/evaluate.py --summary                        # print mean ± std of the table, compute nothing
    python scripts/evaluate.py --summary --readme               # ... and write it into README.md's results table
    python scripts/evaluate.py --runs diffusion-z784-s0 --set guidance=1.5 --fid-per-digit 200 \
        --metrics fid_inception --table /tmp/guidance.csv        # a sampling setting tried on 2,000 images
    python scripts/evaluate.py --address ray://head:10001       # one Ray task per run on a cluster
    python scripts/evaluate.py --address local                  # one Ray task per run on this machine's cores

With --address (or RAY_ADDRESS) every run becomes a Ray task (its own evaluator: test set, judge,
feature networks), scheduled on a GPU when the cluster has one and InceptionV3 is asked for; rows are
added to the table (under its lock) as each task finishes.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import sys
from pathlib import Path

from tqdm import tqdm

from core.data.mnist import DataError, ensure_mnist, load_mnist
from core.device import DEVICE_CHOICES, resolve_device
from core.evaluation.evaluator import FID_PER_DIGIT, GIA_PER_DIGIT, Evaluator
from core.evaluation.reference import SEED000_TABLE1
from core.evaluation.specs import GENERATED_METRICS, METRICS, REFERENCE_MODEL
from core.evaluation.table import (
    TABLE_NAME,
    TableError,
    add_rows,
    check_writable,
    default_mode,
    default_rows,
    fewer_seeds_note,
    is_reference,
    merge_rows,
    read_table,
    summarize,
    union_seeds,
    zoo_rank,
)
from core.models.capabilities import JUDGE
from core.paths import REPO_ROOT, checkpoint_root, relative
from core.runs.format import CheckpointError, list_run_dirs
from core.runs.store import load_run
from scripts._cli import positive_int
from scripts._readme import README, ReadmeError, write_block

REFERENCE_RUN = "mnist-train-10k"
#: README.md's block that --readme rewrites (between <!-- results:start --> and <!-- results:end -->)
RESULTS_BLOCK = "results"
SUMMARY_METRICS = ("generated_accuracy", "fid_inception", "fid_judge", "is_judge", "classification_accuracy",
                   "reconstruction_bce")


def _cell(mean: float, std: float, digits: int) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    return f"{mean:.{digits}f}" + ("" if std is None or math.isnan(std) else f" ± {std:.{digits}f}")


def summary_markdown(table) -> str:
    """Markdown: mean ± std over seeds of the main metrics, seed 000's Table 1 in brackets."""
    summary = summarize(default_rows(table))
    configs = summary[["model", "display_name", "latent_dim"]].drop_duplicates()
    configs = configs.assign(_o=configs["model"].map(zoo_rank)).sort_values(["_o", "latent_dim"])
    head = "| model | z | seeds | " + " | ".join(METRICS[m].label for m in SUMMARY_METRICS) + " |"
    lines = [head, "|" + "---|" * (3 + len(SUMMARY_METRICS))]
    for _, cfg in configs.iterrows():
        rows = summary[(summary["model"] == cfg["model"]) & (summary["latent_dim"].fillna(-1) == (
            -1 if cfg["latent_dim"] != cfg["latent_dim"] else cfg["latent_dim"]))]
        latent = "" if cfg["latent_dim"] != cfg["latent_dim"] else int(cfg["latent_dim"])
        ref = SEED000_TABLE1.get((cfg["model"], latent), {})
        cells = []
        seeds = union_seeds(rows["seeds"])
        for metric in SUMMARY_METRICS:
            row = rows[rows["metric"] == metric]
            if row.empty:
                real_only = cfg["model"] == REFERENCE_MODEL and metric not in GENERATED_METRICS
                cells.append("—" if real_only else "not computed yet")
                continue
            row = row.iloc[0]
            text = _cell(row["mean"], row["std"], METRICS[metric].digits) if row["status"] == "ok" else row["status"]
            text += fewer_seeds_note(row, seeds)
            table1 = METRICS[metric].table1
            if table1 and table1 in ref:
                text += f" ({ref[table1][0]:g})"
            cells.append(text)
        name = cfg["display_name"] + (" (reference)" if cfg["model"] != REFERENCE_MODEL and is_reference(cfg["model"]) else "")
        lines.append(f"| {name} | {latent} | {seeds} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def model_argument(text: str) -> tuple[str, object]:
    """argparse type: ``NAME=VALUE`` → (name, value), the value read as JSON (a number, true, false)
    or else kept as text."""
    import json

    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. guidance=1.5), got {text!r}")
    try:
        return name.strip(), json.loads(value)
    except ValueError:
        return name.strip(), value.strip()


class ModelArguments(argparse.Action):
    """argparse action for ``--set NAME=VALUE ...`` (values parsed by :func:`model_argument`): stores
    them as one mapping, name → value, ready for ``load_run(model_args=...)``."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, dict(values))


def _find_judge(run_dirs: list[Path], name: str | None, device):
    candidates = [p for root in run_dirs for p in list_run_dirs(root)]
    for path in candidates:
        if (name and path.name == name) or (not name and path.name.startswith("judge")):
            return load_run(path, device)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", nargs="+", default=[str(checkpoint_root())], metavar="DIR",
                        help="folders of run folders (default $DIGITLAB_CHECKPOINTS, else checkpoints/)")
    parser.add_argument("--runs", nargs="+", default=None, help="run folder names (default: all but judges)")
    parser.add_argument("--metrics", nargs="+", default=None, choices=list(METRICS), metavar="METRIC",
                        help=f"metrics to compute (default: all): {', '.join(METRICS)}")
    parser.add_argument("--table", default=str(REPO_ROOT / "checkpoints" / TABLE_NAME),
                        help="results table to merge into (CSV; default checkpoints/results.csv)")
    parser.add_argument("--judge", default=None, help="judge run folder name (default: the first judge-* run)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--n-test", type=positive_int, default=None, help="first N test images only (quick tries)")
    parser.add_argument("--fid-per-digit", type=positive_int, default=FID_PER_DIGIT,
                        help=f"generated images per digit for FID and IS (default {FID_PER_DIGIT})")
    parser.add_argument("--gia-per-digit", type=positive_int, default=GIA_PER_DIGIT,
                        help=f"generated images per digit for the accuracy (default {GIA_PER_DIGIT})")
    parser.add_argument("--batch-size", type=positive_int, default=100, help="images per feature-network pass")
    parser.add_argument("--reference", action="store_true",
                        help=f"also score 10·fid-per-digit real training images as the row {REFERENCE_RUN}")
    parser.add_argument("--skip-done", action="store_true",
                        help="skip (run, metric) pairs the table already holds as ok with the same sample count")
    parser.add_argument("--modes", nargs="+", default=None, metavar="MODE",
                        help="only these generation modes (e.g. 'GMM (BIC)'), for the generated-image metrics")
    parser.add_argument("--all-modes", action="store_true",
                        help="also compute the generated-image metrics in every other generation mode")
    parser.add_argument("--summary", action="store_true",
                        help="only print the table's mean ± std summary (Markdown) and exit; computes nothing")
    parser.add_argument("--readme", nargs="?", const=str(README), default=None, metavar="FILE",
                        help="with --summary (implied): also write the summary into README.md (or FILE) between its "
                             "<!-- results:start --> and <!-- results:end --> lines, the rest of the file unchanged")
    parser.add_argument("--no-write", action="store_true", help="print only; leave the table alone")
    parser.add_argument("--set", nargs="+", default={}, metavar="ARG=VALUE", type=model_argument, action=ModelArguments,
                        help="change a constructor argument of the runs' models, e.g. guidance=1.5 (the diffusion "
                             "model's guidance weight); the rows say so, and go only to a --table other than "
                             "checkpoints/results.csv (or nowhere with --no-write)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                        help="run each run's evaluation as a Ray task: a cluster (ray://host:10001) or 'local'")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        parser.error(str(exc))
    if args.set and not args.no_write and Path(args.table).resolve() == (REPO_ROOT / "checkpoints" / TABLE_NAME).resolve():
        parser.error("--set changes how the runs behave, so its rows must not mix with the shipped runs' rows: "
                     "give --table FILE (another table) or --no-write")
    run_dirs = [Path(d) for d in args.checkpoints]
    missing_dirs = [str(d) for d in run_dirs if not d.is_dir()]
    if missing_dirs:
        parser.error(f"no such folder: {', '.join(missing_dirs)}")
    available = {p.name: p for root in run_dirs for p in list_run_dirs(root)}
    names = args.runs or sorted(n for n in available if not n.startswith("judge"))
    unknown = [n for n in names if n not in available]
    if unknown:
        parser.error(f"no run folder {', '.join(unknown)} in {', '.join(map(str, run_dirs))}; "
                     f"available: {', '.join(sorted(available)) or 'none'}")
    table = None
    if Path(args.table).exists():
        try:
            table = read_table(args.table)
        except TableError as exc:
            print(f"error: {exc} (move it away to start a new table)", file=sys.stderr)
            return 2
        for note in table.attrs.get("notes", []):
            print(f"note: {note}" + ("" if args.summary or args.no_write else " (left out when the table is written)"),
                  file=sys.stderr)
    if args.summary or args.readme:
        if table is None:
            print(f"error: no results table at {args.table}", file=sys.stderr)
            return 2
        summary = summary_markdown(table)
        print(summary)
        if args.readme:
            try:
                changed = write_block(RESULTS_BLOCK, summary, args.readme)
            except ReadmeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"\n{relative(args.readme)}: results table {'rewritten' if changed else 'already up to date'}")
        return 0
    if not args.no_write:  # before anything is computed (or MNIST fetched)
        try:
            check_writable(args.table)
        except TableError as exc:
            print(f"error: {exc}; give another --table, or --no-write", file=sys.stderr)
            return 2
    try:
        ensure_mnist(args.data_dir)
        # on Ray every task builds its own; the driver needs one only to score real images
        evaluator, n_test = make_evaluator(args, device) if not args.address or args.reference else (None, 0)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wanted = args.metrics or list(METRICS)
    failed = 0

    def save(rows):
        nonlocal table
        if args.no_write:
            table = merge_rows(table, rows)
        else:  # read, merge and write under a lock: other evaluations may add rows at the same time
            table = add_rows(args.table, rows)

    try:
        if args.address:
            code = _evaluate_on_ray(args, names, available, wanted, table, save)
            if code == 2:
                return 2
            failed += code
        for name in [] if args.address else tqdm(names, desc="runs", unit="run"):
            rows, ok = run_rows(name, available[name], evaluator, wanted, table, n_test, args, device)
            failed += not ok
            if rows:
                save(rows)
        if args.reference:
            train_x, train_y = load_mnist(True, args.data_dir)
            n = min(args.fid_per_digit * 10, train_x.shape[0])
            tqdm.write(f"{REFERENCE_RUN}: scoring {n} real training images like generated ones")
            rows = evaluator.evaluate_real(train_x[:n], train_y[:n], [m for m in wanted if m in GENERATED_METRICS])
            save([{"run": REFERENCE_RUN, "model": REFERENCE_MODEL, "display_name": f"Real MNIST ({n:,} training images)",
                   "latent_dim": None, "seed": None, "weights": "", **row} for row in rows])
    except TableError as exc:  # the table was changed or became unwritable meanwhile: it is left as it is
        print(f"error: {exc}; the figures computed since the last write were not saved", file=sys.stderr)
        return 2
    if table is not None and not table.empty:
        print()
        print(summary_markdown(table))
        if not args.no_write:
            print(f"\nwrote {args.table}")
    return 1 if failed else 0


def run_rows(name: str, path: Path, evaluator, wanted: list[str], table, n_test: int, args, device) -> tuple[list[dict], bool]:
    """Every requested metric of the run at ``path`` (each mode with --all-modes), as table rows;
    False when the run cannot be loaded."""
    try:
        run = load_run(path, device)
        unknown = sorted(set(args.set) - set(run.config.get("model_args", {})))
        if unknown:
            tqdm.write(f"skipped {name}: its model has no argument {', '.join(unknown)} "
                       f"(it has {', '.join(run.config.get('model_args', {})) or 'none'})")
            return [], False
        if args.set:
            run = load_run(path, device, model_args=args.set)
    except CheckpointError as exc:
        tqdm.write(f"skipped {name}: {exc}")
        return [], False
    if run.model.role == JUDGE:
        tqdm.write(f"skipped {name}: the judge scores the others; its accuracy is in its metrics.json")
        return [], True
    default = default_mode(run.config["model"])
    if args.modes:  # only the named modes the run has (its default among them when named)
        modes = [None] if default in args.modes else []
        modes += [m for m in run.model.generation_modes if m in args.modes and m != default]
        if not modes:
            tqdm.write(f"{name}: has none of the modes {', '.join(args.modes)}")
            return [], True
    else:
        modes = [None] + ([m for m in run.model.generation_modes if m != default] if args.all_modes else [])
    shipped = path.parent.resolve() == (REPO_ROOT / "checkpoints").resolve()
    base = {"run": name, "model": run.config["model"], "display_name": run.model.display_name,
            "latent_dim": run.model.latent_dim, "seed": run.config.get("training", {}).get("seed"),
            "weights": f"{run.config.get('weights_dtype', 'float32')} ({'shipped' if shipped else 'not shipped'})"}
    rows = []
    for mode in modes:
        metrics = wanted if mode is None else [m for m in wanted if m in GENERATED_METRICS]
        if args.skip_done and table is not None:
            metrics = [m for m in metrics if not _done(table, name, m, mode or default, n_test, args)]
        if not metrics:
            tqdm.write(f"{name}{'' if mode is None else ' (' + mode + ')'}: requested metrics already in the table")
            continue
        tqdm.write(f"{name} ({run.model.describe()}{'' if mode is None else ', mode ' + mode}) on {device}:")
        rows += [{**base, **row} for row in evaluator.evaluate(run.model, metrics, mode=mode)]
    if args.set:
        changed = "model arguments changed: " + ", ".join(f"{k}={v}" for k, v in args.set.items())
        rows = [{**row, "note": f"{row['note']}; {changed}" if row.get("note") else changed} for row in rows]
    return rows, True


def make_evaluator(args, device):
    """The test set (first --n-test images), the judge and an Evaluator with the command's settings.

    Raises:
        DataError: MNIST cannot be had.
    """
    ensure_mnist(args.data_dir, log=lambda *_: None)
    test_x, test_y = load_mnist(False, args.data_dir)
    if args.n_test:
        test_x, test_y = test_x[:args.n_test], test_y[:args.n_test]
    try:
        judge_run = _find_judge([Path(d) for d in args.checkpoints], args.judge, device)
    except CheckpointError as exc:
        print(f"warning: the judge could not be loaded ({exc}); judge metrics will say unavailable", file=sys.stderr)
        judge_run = None
    if judge_run is None:
        print("warning: no judge run found; judge metrics will say unavailable", file=sys.stderr)
    return Evaluator(test_x, test_y, judge_run.model if judge_run else None, device,
                     fid_per_digit=args.fid_per_digit, gia_per_digit=args.gia_per_digit,
                     progress=lambda desc: functools.partial(tqdm, desc=desc, leave=False, unit="batch"),
                     log=tqdm.write, batch_size=args.batch_size), test_x.shape[0]


def _evaluate_on_ray(args, names: list[str], available: dict[str, Path], wanted: list[str], table, save) -> int:
    """One Ray task per run; a task asks for a GPU when InceptionV3 is wanted and the cluster has one.
    Rows are saved as each task finishes. Returns the number of runs that failed, or 2 when the
    cluster cannot be reached."""
    from core.training.cluster import check_address
    from scripts._ray import import_ray

    try:
        ray = import_ray()
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.address != "local":
        try:
            check_address(args.address)
        except ConnectionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        ray.init(address=args.address, log_to_driver=False)
    else:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        gpu = ray.cluster_resources().get("GPU", 0) >= 1 and "fid_inception" in wanted

        @ray.remote(num_cpus=1, num_gpus=1 if gpu else 0)
        def task(name: str, path: str):
            import torch

            torch.set_num_threads(1)
            device = resolve_device("cuda" if gpu else "cpu")
            evaluator, n_test = make_evaluator(args, device)
            return run_rows(name, Path(path), evaluator, wanted, table, n_test, args, device)

        pending = {task.remote(name, str(available[name])): name for name in names}
        failed = 0
        print(f"{len(pending)} runs as Ray tasks ({'one GPU' if gpu else 'one CPU'} each)", flush=True)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            name = pending.pop(done[0])
            try:
                rows, ok = ray.get(done[0])
            except ray.exceptions.RayError as exc:
                print(f"failed: {name}: {str(exc).strip().splitlines()[-1]}", file=sys.stderr)
                failed += 1
                continue
            failed += not ok
            if rows:
                save(rows)
            print(f"{name}: {len(rows)} rows", flush=True)
    finally:
        ray.shutdown()
    return min(failed, 1)


def _done(table, run: str, metric: str, mode: str, n_test: int, args) -> bool:
    """True when the table holds (run, metric, mode) as ok or n/a, at the sample count asked now."""
    rows = table[(table["run"] == run) & (table["metric"] == metric) & table["status"].isin(["ok", "n/a"])]
    if metric in GENERATED_METRICS:  # the other metrics have one (input) mode per run
        rows = rows[rows["mode"] == mode]
    if rows.empty:
        return False
    if rows["status"].iloc[0] == "n/a":
        return True
    expected = {"gia": args.gia_per_digit * 10, "fid": args.fid_per_digit * 10, "test": n_test}[METRICS[metric].sample_set]
    return bool(rows["n"].iloc[0] == expected)  # a blank n (NaN) is never done


if __name__ == "__main__":
    sys.exit(main())
