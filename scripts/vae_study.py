#!/usr/bin/env python
"""Seed 004's experiments on its convolutional VAE: β sweep with posterior-collapse remedies, the
regularization ablation, 5-fold cross-validation, and seconds per epoch on CPU (or GPU).

Each run of core/studies/vae_study.py's grids trains the VAE with the shared trainer and writes
checkpoints/vae_study/<run>.json (settings, per-epoch losses, test figures) and <run>.npz (2-D
posterior means of 2,000 test images); finished runs are skipped, so an interrupted study resumes
where it stopped. Runs go to --jobs worker processes (joblib), --threads torch threads each. Then the
seed's Table I timing: the seed's model on the full training split, seconds of every epoch.
The dashboard's "β-VAE experiments" page reads the folder.

    python scripts/vae_study.py                           # everything (~70 min on 2 CPU cores)
    python scripts/vae_study.py --experiments beta remedy # some grids only
    python scripts/vae_study.py --timing cuda --timing-only   # Table I's GPU column, on a GPU machine
    python scripts/vae_study.py --markdown                # the README's tables from the results
    python scripts/vae_study.py --n-train 256 --n-val 128 --n-test 256 --epochs 1 --out /tmp/study   # a quick try
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.paths import REPO_ROOT, SHIPPED_CHECKPOINTS
from core.studies.vae_study import EXPERIMENTS, STUDY_DIR, TIMING_PREFIX, StudySettings, all_runs
from scripts._cli import mnist_available, positive_int

_splits = None


def _work(run, settings, out: str, threads: int) -> tuple[str, float, bool]:
    """One run in a worker process: (key, seconds, collapsed)."""
    global _splits
    import torch

    from core.data.mnist import load_splits
    from core.studies.vae_study import run_one

    torch.set_num_threads(threads)
    if _splits is None:
        _splits = load_splits(settings.split_seed, log=lambda *_: None)
    start = time.perf_counter()
    record = run_one(run, settings, _splits, out)
    return run.key, time.perf_counter() - start, record["collapsed"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    defaults = StudySettings()
    parser.add_argument("--experiments", nargs="+", choices=list(EXPERIMENTS), default=list(EXPERIMENTS),
                        help="grids to run (default all)")
    parser.add_argument("--n-train", type=positive_int, default=defaults.n_train,
                        help=f"training images per run (default {defaults.n_train:,})")
    parser.add_argument("--n-val", type=positive_int, default=defaults.n_val,
                        help=f"validation images per epoch (default {defaults.n_val:,})")
    parser.add_argument("--n-test", type=positive_int, default=defaults.n_test,
                        help=f"test images measured per run (default all {defaults.n_test:,})")
    parser.add_argument("--epochs", type=positive_int, default=defaults.epochs,
                        help=f"epochs per run (default {defaults.epochs}, as seed 004)")
    parser.add_argument("--jobs", type=positive_int, default=2, help="runs trained at once (default 2)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--timing", choices=["cpu", "cuda", "none"], default="cpu",
                        help="device of the seconds-per-epoch measurement (default cpu; none skips it)")
    parser.add_argument("--timing-epochs", type=positive_int, default=10, help="epochs of the timed run (default 10)")
    parser.add_argument("--timing-n-train", type=positive_int,
                        help="timed run on the first N training images (default: the whole split)")
    parser.add_argument("--timing-only", action="store_true", help="only the timing, no grids")
    parser.add_argument("--markdown", action="store_true",
                        help="print the README's tables from the results folder and stop (trains nothing)")
    parser.add_argument("--force", action="store_true", help="train again runs that already have results")
    parser.add_argument("--out", default=str(Path(SHIPPED_CHECKPOINTS) / STUDY_DIR),
                        help="results folder (default checkpoints/vae_study)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out names a file, not a folder: {out}")
    if args.markdown:
        from core.studies.vae_study import load_records, load_timings, markdown_summary

        records, bad = load_records(out)
        for name in bad:
            print(f"{name}: unreadable, left out", file=sys.stderr)
        print(markdown_summary(records, load_timings(out)))
        return 0
    settings = StudySettings(n_train=args.n_train, n_val=args.n_val, n_test=args.n_test, epochs=args.epochs)
    try:
        settings.validate()
        out.mkdir(parents=True, exist_ok=True)
    except ValueError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.error(f"cannot write the results folder {out}: {exc.strerror}")
    if not mnist_available():
        return 1

    if not args.timing_only:
        runs = all_runs(args.experiments)
        todo = [r for r in runs if args.force or not (out / f"{r.key}.json").exists()]
        print(f"{len(runs)} runs in {', '.join(args.experiments)}; {len(runs) - len(todo)} already done, "
              f"{len(todo)} to train ({args.jobs} at once, {args.threads} thread(s) each)", flush=True)
        if todo:
            from joblib import Parallel, delayed

            start = time.perf_counter()
            jobs = Parallel(n_jobs=min(args.jobs, len(todo)), return_as="generator_unordered")(
                delayed(_work)(run, settings, str(out), args.threads) for run in todo)
            for i, (key, seconds, collapsed) in enumerate(jobs, 1):
                print(f"[{i}/{len(todo)}] {key}: {seconds:.0f} s{' (collapsed)' if collapsed else ''}", flush=True)
            print(f"grids done in {time.perf_counter() - start:.0f} s", flush=True)

    if args.timing != "none":
        import torch

        from core.data.mnist import load_splits
        from core.studies.vae_study import time_epochs

        torch.set_num_threads(args.threads * args.jobs)  # the whole machine, as the seed's runs had
        try:
            record = time_epochs(args.timing, args.timing_epochs, load_splits(0, log=lambda *_: None), out,
                                 n_train=args.timing_n_train)
        except ValueError as exc:
            print(f"timing not measured: {exc}", file=sys.stderr)
            return 2
        per_epoch = [row["seconds"] for row in record["epochs"]]
        print(f"{TIMING_PREFIX}{record['device']}: {len(per_epoch)} epochs, median "
              f"{sorted(per_epoch)[len(per_epoch) // 2]:.1f} s per epoch on {record['device_name']}")
    shown = out.resolve().relative_to(REPO_ROOT) if out.resolve().is_relative_to(REPO_ROOT) else out
    print(f"results in {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
