#!/usr/bin/env python
"""Evaluate shipped runs on the MNIST test set from their stored weights; print a results table.

For every run folder (or those named with --runs) this loads the weights exactly as shipped
(float16 on disk), computes the test metrics its capabilities allow (core.evaluation), rewrites the
run's metrics.json (each figure with its sample count, protocol and device) and prints a Markdown
table beside seed 000's Table 1.

    python scripts/evaluate.py                          # every run in checkpoints/
    python scripts/evaluate.py --runs cae-z32-s0 --n-test 1000 --no-write
"""

from __future__ import annotations

import argparse
import json
import sys

from _cli import REPO_ROOT, positive_int

from core.checkpoints import METRICS, CheckpointError, list_run_dirs, load_run
from core.data import DataError, ensure_mnist, load_mnist
from core.device import DEVICE_CHOICES, resolve_device
from core.evaluation import evaluate_test_metrics
from core.models import REGISTRY
from core.reference import SEED000_TABLE1


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _ref(pair: tuple[float, float] | None, digits: int, std_digits: int) -> str:
    return "—" if pair is None else f"{pair[0]:.{digits}f} ± {pair[1]:.{std_digits}f}"


def table(rows: list[dict]) -> str:
    """Markdown table of our metrics beside seed 000's Table 1."""
    lines = ["| run | test accuracy (ours) | Table 1 | reconstruction BCE, nats/image (ours) | Table 1 |",
             "|---|---|---|---|---|"]
    for row in rows:
        ref = SEED000_TABLE1.get((row["model"], row["latent"]), {})
        acc = row["metrics"].get("classification_accuracy", {}).get("value")
        rec = row["metrics"].get("reconstruction_bce", {}).get("value")
        lines.append(f"| {row['run']} | {_fmt(acc, 4)} | {_ref(ref.get('classification_accuracy'), 2, 4)} | "
                     f"{_fmt(rec, 2)} | {_ref(ref.get('reconstruction_bce'), 2, 2)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default=str(REPO_ROOT / "checkpoints"), help="folder of run folders")
    parser.add_argument("--runs", nargs="+", default=None, help="run folder names (default: all)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES)
    parser.add_argument("--n-test", type=positive_int, default=None, help="first N test images only")
    parser.add_argument("--no-write", action="store_true", help="print only; leave metrics.json alone")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        parser.error(str(exc))
    available = {p.name: p for p in list_run_dirs(args.checkpoints)}
    names = args.runs or sorted(available)
    unknown = [n for n in names if n not in available]
    if unknown:
        parser.error(f"no run folder {', '.join(unknown)} in {args.checkpoints}; "
                     f"available: {', '.join(sorted(available)) or 'none'}")
    try:
        ensure_mnist(args.data_dir)
        test_x, test_y = load_mnist(False, args.data_dir)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.n_test:
        test_x, test_y = test_x[:args.n_test], test_y[:args.n_test]
    rows, failed = [], 0
    for name in names:
        try:
            run = load_run(available[name], device)
        except CheckpointError as exc:
            print(f"skipped {name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        metrics = evaluate_test_metrics(run.model, test_x.to(device), test_y.to(device))
        for entry in metrics.values():
            entry["device"] = str(device)
            entry["weights"] = run.config.get("weights_dtype", "float32") + " as shipped"
        if not args.no_write:
            (run.path / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
        rows.append({"run": name, "model": run.config["model"], "latent": run.model.latent_dim, "metrics": metrics})
        print(f"{name}: " + ", ".join(f"{k}={v['value']:.4f}" for k, v in metrics.items()), flush=True)
    print()
    order = list(REGISTRY)  # seed order: seed 000's models first, the judge last
    print(table(sorted(rows, key=lambda r: (order.index(r["model"]), r["latent"], r["run"]))))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
