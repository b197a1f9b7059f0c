#!/usr/bin/env python
"""Wall time of seed 000's 8-run sweep (one seed), one run after another against a local Ray instance
using every core, the same runs in one session; writes benchmarks/results/sweep.json and prints the table.

    python -m benchmarks.bench_sweep                  # 2 epochs per run (~8 minutes on 2 cores)
    python -m benchmarks.bench_sweep --epochs 1 --n-train 4000

One after another: ``train.py --model cae cvae --latent-dim 8 16 32 64`` in one process with torch's
threads on every core. On Ray: ``sweep.py experiments/seed000_sweep.toml --seeds 0``, one trial per
core with one thread each. Both write to fresh temporary folders and train the same 8 runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

from core.atomic import write_json
from core.paths import REPO_ROOT
from scripts._cli import positive_int


def timed(command: list[str]) -> float:
    """Seconds ``command`` took; raises RuntimeError with its output's tail when it fails."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} … failed:\n{(result.stdout + result.stderr)[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--epochs", type=positive_int, default=2, help="epochs per run (default 2; the seed's 50)")
    parser.add_argument("--n-train", type=positive_int, default=None, help="training images per run (default all 48,000)")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "sweep.json"))
    args = parser.parse_args(argv)
    python, scripts = sys.executable, REPO_ROOT / "scripts"
    extra = ["--epochs", str(args.epochs)] + (["--n-train", str(args.n_train)] if args.n_train else [])
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="digitlab-bench-sweep-") as tmp:
        sequential = timed([python, str(scripts / "train.py"), "--model", "cae", "cvae", "--latent-dim", "8", "16",
                            "32", "64", "--device", "cpu", "--quiet", "--checkpoints", f"{tmp}/sequential", *extra])
        print(f"one after another: {sequential:.0f} s", flush=True)
        on_ray = timed([python, str(scripts / "sweep.py"), str(REPO_ROOT / "experiments" / "seed000_sweep.toml"),
                        "--seeds", "0", "--device", "cpu", "--out", f"{tmp}/ray", *extra])
        print(f"on Ray ({cores} cores, one trial per core): {on_ray:.0f} s", flush=True)
    record = {"runs": 8, "epochs": args.epochs, "n_train": args.n_train or 48_000, "cores": cores,
              "sequential_s": round(sequential, 1), "ray_s": round(on_ray, 1), "speedup": round(sequential / on_ray, 2),
              "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "command": "python -m benchmarks.bench_sweep " + " ".join(argv if argv is not None else sys.argv[1:])}
    write_json(args.out, record)
    print(f"| seed 000's 8 runs, {args.epochs} epoch(s) each | one after another | on local Ray ({cores} cores) | speed-up |")
    print("|---|---|---|---|")
    print(f"| wall time | {sequential:.0f} s | {on_ray:.0f} s | {sequential / on_ray:.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
