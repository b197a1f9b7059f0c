#!/usr/bin/env python
"""Fit the latent samplers (core/models/samplers.py) of trained runs and store them in their run folders.

    python scripts/fit_samplers.py                              # every run that encodes and decodes
    python scripts/fit_samplers.py --runs cae-z16-s0 cvae-z16-s0 --samplers "GMM (BIC)"

For each run: the deterministic codes of its own training split (the split seed and size in its
config.json; image+digit codes where the encoder takes the digit) are computed once, every chosen
sampler is fitted on them (except one whose name is a generation mode the model draws itself) and
written to ``<run>/samplers/<name>.pt``; then the run's model card in config.json is updated, so the
catalogue lists the new generation modes. Seed 000's CAE and CVAE fit their "density" at the end of
training already (it is their own mode's sampler); this script fits it only where it is missing. A sampler already stored is
kept unless --force. Each sampler then appears as a generation mode in the dashboard's grids, its
on-demand scores and ``evaluate.py --all-modes``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.paths import checkpoint_root
from scripts._cli import mnist_available


def main(argv: list[str] | None = None) -> int:
    from core.models.samplers import SAMPLERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--checkpoints", default=str(checkpoint_root()), metavar="DIR",
                        help="folder of run folders (default $DIGITLAB_CHECKPOINTS, else checkpoints/)")
    parser.add_argument("--runs", nargs="+", default=None, help="run folder names (default: every run samplers apply to)")
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=list(SAMPLERS), metavar="SAMPLER",
                        help=f"which samplers (default: all: {', '.join(SAMPLERS)})")
    parser.add_argument("--force", action="store_true", help="fit again a sampler already stored")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    root = Path(args.checkpoints)
    if not root.is_dir():
        parser.error(f"no such folder: {root}")
    from core.atomic import write_json
    from core.data.mnist import DataError, load_splits
    from core.models.samplers import SamplerError, can_fit, file_name, is_own_mode, save_sampler, training_codes
    from core.runs.format import CONFIG, CheckpointError, list_run_dirs
    from core.runs.store import load_run

    available = {p.name: p for p in list_run_dirs(root)}
    unknown = [n for n in args.runs or [] if n not in available]
    if unknown:
        parser.error(f"no run folder {', '.join(unknown)} in {root}; available: {', '.join(sorted(available)) or 'none'}")
    if not mnist_available():
        return 1
    splits_by_seed: dict[int, object] = {}
    failed = 0
    for name in args.runs or sorted(available):
        path = available[name]
        try:
            run = load_run(path)
        except CheckpointError as exc:
            print(f"{name}: left out, {exc}", file=sys.stderr)
            failed += 1
            continue
        if not can_fit(run.model):
            if args.runs:
                print(f"{name}: {run.model.describe()} does not encode images, so no latent sampler applies")
            continue
        own = [s for s in args.samplers if is_own_mode(run.model, s)]
        if own and args.runs:
            print(f"{name}: {', '.join(own)} is one of the model's own generation modes; not fitted again")
        todo = [s for s in args.samplers if s not in own
                and (args.force or not (path / "samplers" / file_name(s)).is_file())]
        if not todo:
            print(f"{name}: every chosen sampler is already fitted (--force fits again)")
            continue
        split_seed = int(run.config.get("split_seed", 0))
        try:
            if split_seed not in splits_by_seed:
                splits_by_seed[split_seed] = load_splits(split_seed, root=args.data_dir, log=lambda *_: None)
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        splits = splits_by_seed[split_seed]
        n_train = int(run.config.get("training", {}).get("n_train", splits.train_x.shape[0]))
        x, y = splits.train_x[:n_train], splits.train_y[:n_train]
        codes = training_codes(run.model, x, y)
        for sampler_name in todo:
            start = time.perf_counter()
            try:
                sampler = SAMPLERS[sampler_name]().fit(codes, y)
            except SamplerError as exc:
                print(f"{name}: {sampler_name} cannot be fitted: {exc}", file=sys.stderr)
                failed += 1
                continue
            save_sampler(path, sampler)
            extra = f", components per digit {sampler.components}" if hasattr(sampler, "components") else ""
            print(f"{name}: {sampler_name} fitted on {codes.shape[0]:,} codes of {codes.shape[1]} dimensions in "
                  f"{time.perf_counter() - start:.1f} s{extra}", flush=True)
        config = dict(run.config)
        config["card"] = load_run(path).model.card()
        write_json(path / CONFIG, config)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
