#!/usr/bin/env python
"""Seed 002's noise study, measured: accuracy and reconstruction error of every run as the input gets noisier.

For every run folder that can classify or reconstruct (the judge included), and every noise kind of
core/data/corruptions.py (Gaussian σ, salt-and-pepper rate, an occluding square), at each of the kind's 7
levels (the first is 0: clean), over the 10,000 MNIST test images with fixed noise seeds (the same
noisy images for every model), this computes the classification accuracy on the noisy images and the
reconstruction BCE (nats per image) of the noisy images against the clean ones, and writes one row
per (run, kind, level) to checkpoints/noise_robustness.csv (rewritten atomically after every run, so
an interrupted study keeps what it finished). The dashboard's Noise robustness page reads it.

    python scripts/noise_study.py                          # every shipped run, full test set (~15 min on 2 cores)
    python scripts/noise_study.py --runs cae-z32-s0 judge-s0 --kinds gaussian
    python scripts/noise_study.py --n-test 200 --out /tmp/noise.csv     # a quick try
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from core.atomic import atomic_path
from core.data.corruptions import NOISE_KINDS, NOISE_SEED, noise_kind
from core.data.mnist import load_mnist
from core.evaluation.robustness import robustness
from core.models.capabilities import CLASSIFY, RECONSTRUCT
from core.paths import REPO_ROOT, checkpoint_root
from core.runs.catalog import list_runs
from core.runs.format import CheckpointError
from scripts._cli import mnist_available, positive_int

#: the shipped results, beside results.csv
TABLE_NAME = "noise_robustness.csv"
COLUMNS = ("run", "display_name", "role", "seed", "kind", "level", "n", "accuracy", "bce", "input", "noise_seed",
           "seconds", "evaluated_at")


def write_rows(rows: list[dict], path: Path) -> None:
    """Merge ``rows`` into the CSV at ``path`` (the old rows of the same run and kind are replaced),
    atomically."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    if path.exists():
        old = pd.read_csv(path)
        done = set(zip(frame["run"], frame["kind"]))
        keep = [(r, k) not in done for r, k in zip(old["run"], old["kind"])]
        frame = pd.concat([old[keep], frame], ignore_index=True)
    frame = frame.sort_values(["run", "kind", "level"], kind="stable")
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--checkpoints", default=str(checkpoint_root()), metavar="DIR",
                        help="folder of run folders (default $DIGITLAB_CHECKPOINTS, else checkpoints/)")
    parser.add_argument("--runs", nargs="*", help="run names (default: every run that can classify or reconstruct)")
    parser.add_argument("--kinds", nargs="*", choices=[k.name for k in NOISE_KINDS], help="noise kinds (default all)")
    parser.add_argument("--n-test", type=positive_int, default=10_000,
                        help="the first N test images (default all 10,000)")
    parser.add_argument("--seed", type=int, default=NOISE_SEED, help=f"the noise seed (default {NOISE_SEED})")
    parser.add_argument("--out", help=f"the CSV (default CHECKPOINTS/{TABLE_NAME})")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path(args.checkpoints) / TABLE_NAME
    if out.exists() and out.is_dir():
        parser.error(f"--out names a folder, not a file: {out}")

    if not mnist_available():
        return 1
    test_x, test_y = load_mnist(train=False)
    test_x, test_y = test_x[:args.n_test], test_y[:args.n_test]
    runs, errors = list_runs(args.checkpoints)
    for name, exc in errors.items():
        print(f"{name}: left out ({exc.kind})")
    wanted = [r for r in runs.values() if r.can(CLASSIFY) or r.can(RECONSTRUCT)]
    if args.runs:
        unknown = sorted(set(args.runs) - {r.name for r in wanted})
        if unknown:
            parser.error(f"no such run, or it can neither classify nor reconstruct: {', '.join(unknown)}")
        wanted = [r for r in wanted if r.name in args.runs]
    kinds = [noise_kind(k) for k in (args.kinds or [k.name for k in NOISE_KINDS])]
    for run in wanted:
        try:
            model = run.model
        except CheckpointError as exc:
            print(f"{run.name}: cannot be loaded ({exc.kind}); left out")
            continue
        rows = []
        for kind in kinds:
            start = time.perf_counter()
            for row in robustness(model, test_x, test_y, kind, seed=args.seed):
                rows.append({"run": run.name, "display_name": run.display_name, "role": run.role, "seed": run.seed,
                             **row, "noise_seed": args.seed,
                             "seconds": round((time.perf_counter() - start) / len(kind.levels), 2),
                             "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
            print(f"{run.name}: {kind.label} in {time.perf_counter() - start:.1f} s", flush=True)
        write_rows(rows, out)
    print(f"wrote {out.relative_to(REPO_ROOT) if out.is_relative_to(REPO_ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
