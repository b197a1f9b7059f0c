#!/usr/bin/env python
"""Time of a 10×10 generation grid (100 images, ten of each digit) per shipped run and generation mode,
measured in one process: what the Generation grids page waits for before its picture.

    python -m benchmarks.bench_sampling                                  # the flow and diffusion references
    python -m benchmarks.bench_sampling --runs flow-z784-s0 --modes all --rounds 9

For each run and mode: one warm-up grid, then ``--rounds`` grids (seeds 0, 1, …) through
``model.generate`` on the CPU with the process's default threads, the same call the dashboard makes.
Prints a Markdown table of the median and the slowest grid in seconds and writes
benchmarks/results/sampling.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from core.atomic import write_json
from core.paths import REPO_ROOT, checkpoint_root
from scripts._cli import positive_int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default=str(checkpoint_root()), metavar="DIR",
                        help="folder of run folders (default $DIGITLAB_CHECKPOINTS, else checkpoints/)")
    parser.add_argument("--runs", nargs="+", default=["flow-z784-s0", "diffusion-z784-s0"], help="run folder names")
    parser.add_argument("--modes", nargs="+", default=None,
                        help="mode names, or 'all' (default: each run's first two modes)")
    parser.add_argument("--rounds", type=positive_int, default=5, help="timed grids per mode (default 5)")
    args = parser.parse_args(argv)

    import torch

    from core.models.capabilities import GENERATE, N_CLASSES
    from core.runs.format import CheckpointError
    from core.runs.store import load_run

    torch.set_grad_enabled(False)
    labels = torch.arange(N_CLASSES).repeat_interleave(10)
    rows = []
    for name in args.runs:
        try:
            model = load_run(Path(args.checkpoints) / name).model.eval()
        except (CheckpointError, FileNotFoundError) as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2
        if not model.can(GENERATE):
            print(f"error: {name} does not generate from digits", file=sys.stderr)
            return 2
        modes = (list(model.generation_modes) if args.modes == ["all"] else args.modes or model.generation_modes[:2])
        for mode in modes:
            try:
                model.generate(labels, torch.Generator().manual_seed(0), mode)
            except ValueError as exc:
                print(f"error: {name}: {exc}", file=sys.stderr)
                return 2
            seconds = []
            for seed in range(args.rounds):
                start = time.perf_counter()
                model.generate(labels, torch.Generator().manual_seed(seed), mode)
                seconds.append(time.perf_counter() - start)
            rows.append({"run": name, "mode": str(mode), "median_s": statistics.median(seconds),
                         "max_s": max(seconds), "rounds": args.rounds, "threads": torch.get_num_threads()})
    print("| run | mode | 10×10 grid, median | slowest |\n|---|---|---|---|")
    for row in rows:
        print(f"| {row['run']} | {row['mode']} | {row['median_s']:.2f} s | {row['max_s']:.2f} s |")
    write_json(REPO_ROOT / "benchmarks" / "results" / "sampling.json", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
