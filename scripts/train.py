#!/usr/bin/env python
"""Train Digit Lab models on MNIST and write self-describing run folders.

Examples:
    python scripts/train.py --model cae --latent-dim 32                    # one run, 50 epochs
    python scripts/train.py --model cae cvae --latent-dim 8 16 32 64       # seed 000's 8 runs
    python scripts/train.py --model cvae --latent-dim 8 --epochs 1 --n-train 2000 --checkpoints /tmp/runs

Each run goes to ``<checkpoints>/<model>-z<latent>-s<seed>/`` (see core/runs/store.py), written whole at
the end; a finished run is never replaced without --force. While a run trains, its state after every
epoch is kept in ``<checkpoints>/.<run>.inprogress/resume.pt``: if the run is interrupted, the same command
with --resume continues it from the last finished epoch (and ends with the same weights as an
uninterrupted run).

Every run records per-epoch snapshots (``<run>/snapshots/``: latent codes of 2,000 fixed test images, the
10×10 grid from fixed noise, the judge's accuracy and FID of 1,000 samples; see core/runs/snapshots.py) for
the dashboard's replay; --no-snapshots leaves them out.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from core.data.mnist import DataError, load_splits
from core.device import DEVICE_CHOICES, resolve_device
from core.models import REGISTRY, build_model
from core.paths import checkpoint_root
from core.runs.format import run_name
from core.runs.store import check_run_folder
from core.training.snapshots import FID_SAMPLES, SnapshotTaker, find_judge
from core.training.trainer import RESUME, TrainConfig, TrainingDiverged, in_progress_dir, train
from scripts._cli import non_negative_int, positive_float, positive_int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", required=True, choices=sorted(REGISTRY),
                        help="registered model name(s)")
    parser.add_argument("--latent-dim", nargs="+", type=positive_int, default=None,
                        help="latent size(s) (default: the model's own, e.g. 32 for cae/cvae)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="training epochs (default: the model's source, else 50)")
    parser.add_argument("--seed", nargs="+", type=non_negative_int, default=[0],
                        help="training seed(s): initialisation, shuffling, input modes (default 0)")
    parser.add_argument("--batch-size", type=positive_int, default=None,
                        help="batch size (default: the model's source, else 128)")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help="Adam learning rate (default: the model's source, else 1e-3)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES, help="cpu, cuda or auto (default)")
    parser.add_argument("--split-seed", type=non_negative_int, default=0,
                        help="seed of the 48,000/12,000 train/validation split (default 0)")
    parser.add_argument("--n-train", type=positive_int, default=None,
                        help="train on the first N training images only (quick tries)")
    parser.add_argument("--checkpoints", default=str(checkpoint_root()), metavar="DIR",
                        help="folder of run folders to write into (default $DIGITLAB_CHECKPOINTS, else checkpoints/)")
    parser.add_argument("--data-dir", default=None, help="MNIST folder (default $DIGITLAB_DATA or data/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--force", action="store_true", help="replace finished runs and discard interrupted ones")
    parser.add_argument("--resume", action="store_true", help="continue interrupted runs from their last epoch")
    parser.add_argument("--no-snapshots", dest="snapshots", action="store_false",
                        help="do not record per-epoch snapshots (replay) with the run")
    parser.add_argument("--snapshot-fid-samples", type=non_negative_int, default=FID_SAMPLES, metavar="N",
                        help=f"samples behind each snapshot's judge FID (default {FID_SAMPLES}; 0 leaves the judge "
                             "metrics out, e.g. for a slow sampler)")
    args = parser.parse_args(argv)
    try:
        resolve_device(args.device)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.force and args.resume:
        print("error: --force discards interrupted runs and --resume continues them; give one", file=sys.stderr)
        return 2
    plan = []  # (model, model_args, seed, run folder), checked before anything trains
    for model in args.model:
        for latent in args.latent_dim or [None]:
            model_args = {} if latent is None else {"latent_dim": latent}
            try:
                latent_dim = build_model(model, **model_args).latent_dim  # sizes checked first (check_size)
            except TypeError:
                print(f"error: model {model} takes no latent size; leave out --latent-dim", file=sys.stderr)
                return 2
            except ValueError as exc:  # too large (ModelTooLarge), or refused by the model
                flag = "" if latent is None else f" --latent-dim {latent}"
                print(f"error: nothing was trained: --model {model}{flag}: {exc}", file=sys.stderr)
                return 2
            for seed in args.seed:
                plan.append((model, model_args, seed, Path(args.checkpoints) / run_name(model, latent_dim, seed)))
    problems = []
    folders = [out for *_, out in plan]
    repeated = sorted({out.name for out in folders if folders.count(out) > 1})
    if repeated:  # `--seed 0 0` or `--model cae cae` would train one folder twice
        problems.append(f"{', '.join(repeated)} is asked for twice (a repeated --model, --latent-dim or --seed)")
    for out in dict.fromkeys(folders):
        try:
            check_run_folder(out, overwrite=args.force)
        except (FileExistsError, PermissionError) as exc:
            problems.append(str(exc))
        in_progress = in_progress_dir(out) / RESUME
        if in_progress.exists() and not (args.resume or args.force):
            problems.append(f"an interrupted run of {out.name} is kept in {in_progress.parent}: --resume continues "
                            "it, --force starts it again")
    if problems:
        print("error: nothing was trained:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    try:
        splits = load_splits(args.split_seed, root=args.data_dir)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.n_train:
        splits = splits.subset(args.n_train, splits.val_x.shape[0], splits.test_x.shape[0])
    taker = None
    if args.snapshots:
        judge = find_judge(checkpoint_root()) or find_judge(args.checkpoints)
        if judge is None:
            print("note: no judge run found: the snapshots carry no judge accuracy or FID", file=sys.stderr)
        taker = SnapshotTaker(splits.test_x, splits.test_y, judge, fid_samples=args.snapshot_fid_samples,
                               split_seed=splits.split_seed)
    for model, model_args, seed, out in plan:
        cfg = TrainConfig.for_model(model, model_args, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                    seed=seed, split_seed=args.split_seed, device=args.device)
        in_progress = in_progress_dir(out)
        if args.force:
            shutil.rmtree(in_progress, ignore_errors=True)
        in_progress.mkdir(parents=True, exist_ok=True)
        try:
            result = train(cfg, splits, out_dir=out, progress=not args.quiet, resume_path=in_progress / RESUME,
                           overwrite=args.force, snapshots=taker)
        except TrainingDiverged as exc:
            print(f"error: {out.name}: {exc}. Nothing was written.", file=sys.stderr)
            shutil.rmtree(in_progress, ignore_errors=True)
            return 1
        except ValueError as exc:  # a resume state of other settings, or unreadable
            print(f"error: {out.name}: {exc}", file=sys.stderr)
            if (in_progress / RESUME).exists():
                print(f"  to start {out.name} again from its first epoch instead, run the same command with --force "
                      "in place of --resume (the interrupted state is discarded)", file=sys.stderr)
            return 2
        shutil.rmtree(in_progress, ignore_errors=True)
        summary = ", ".join(f"{k}={v['value']:.4g}" for k, v in result.metrics.items())
        summary = f"test {summary}" if summary else "no test-set metric applies (scores: scripts/evaluate.py)"
        print(f"{out}: {result.seconds:.0f} s; {summary}", flush=True)
    return 0



if __name__ == "__main__":
    sys.exit(main())
