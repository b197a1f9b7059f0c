#!/usr/bin/env python
"""Train every run of an experiment file on Ray Tune: locally by default, or on a Ray cluster.

    python scripts/sweep.py experiments/seed000_sweep.toml                 # local Ray, all cores
    python scripts/sweep.py experiments/zoo.toml --address ray://head:10001   # an existing cluster
    python scripts/sweep.py experiments/seed000_sweep.toml --epochs 1 --n-train 2000 --out /tmp/runs

Each run of the grid (core/training/experiments.py) is one Tune trial that trains with the shared trainer and
writes the same self-describing run folder as train.py, under OUT/<experiment name>/<run>
(default runs/); the dashboard reads it with DIGITLAB_CHECKPOINTS=OUT/<experiment name>, and
evaluate.py with --checkpoints OUT/<experiment name>. Per-epoch losses are reported to Tune (its progress table,
and its result files under OUT/<experiment name>/.tune/). Finished runs are skipped; interrupted ones resume
from their last epoch (train.py's resume state). Without --address (or RAY_ADDRESS), Ray starts on
this machine with its cores, each trial using --threads torch threads (default 1), so several runs
train at once; on a cluster, trials spread over every node's CPUs (or GPUs with --gpus-per-trial).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from core.paths import REPO_ROOT, relative
from core.training.cluster import check_address, train_trial
from core.training.experiments import ExperimentError, load_experiment, run_names
from scripts._cli import non_negative_int, positive_float, positive_int, unwritable
from scripts._ray import import_ray


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("experiment", help="an experiment file (experiments/*.toml)")
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                        help="a Ray cluster (ray://host:10001 or host:6379); default $RAY_ADDRESS, else local")
    parser.add_argument("--out", default=str(REPO_ROOT / "runs"),
                        help="parent folder of the experiment's folder of run folders (default runs/)")
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (and CPUs) per trial")
    parser.add_argument("--gpus-per-trial", type=positive_float, default=None, help="GPUs per trial (cluster runs)")
    parser.add_argument("--cpus", type=positive_int, default=None, help="CPUs of the local Ray instance (default all)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--epochs", type=positive_int, help="override every run's epochs (quick tries)")
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", help="only the runs of these seeds")
    parser.add_argument("--n-train", type=positive_int, help="train on the first N images only (quick tries)")
    parser.add_argument("--n-val", type=positive_int, help="validate on the first N images only (quick tries)")
    parser.add_argument("--n-test", type=positive_int, help="test metrics on the first N images only (quick tries)")
    parser.add_argument("--data-dir", default=None, help="MNIST folder on every node (default $DIGITLAB_DATA or data/)")
    args = parser.parse_args(argv)
    try:
        experiment = load_experiment(args.experiment)
    except ExperimentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    folder = Path(args.out).resolve() / experiment.name
    names = run_names(experiment.runs)
    overrides = {k: v for k, v in (("epochs", args.epochs), ("n_train", args.n_train), ("n_val", args.n_val),
                                   ("n_test", args.n_test)) if v is not None}
    todo = []
    for run, name in zip(experiment.runs, names):
        if args.seeds is not None and run.seed not in args.seeds:
            continue
        if (folder / name / "config.json").exists():
            continue
        todo.append({"name": name, "out": str(folder / name), "model": run.model, "model_args": run.model_args,
                     "seed": run.seed, "training": {**run.training, **overrides}})
    wanted = sum(args.seeds is None or run.seed in args.seeds for run in experiment.runs)
    print(f"{experiment.name}: {wanted} runs, {wanted - len(todo)} finished already, {len(todo)} to train", flush=True)
    if not todo:
        return 0
    problem = unwritable(folder)
    if problem:
        print(f"error: the run folders cannot be written under {relative(folder)}: {problem}; nothing was trained",
              file=sys.stderr)
        return 2
    try:  # Ray is optional (pyproject's "cluster" extra): say how to install it before anything starts
        import_ray()
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.address:
        try:
            check_address(args.address)
        except ConnectionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        from core.data.mnist import DataError, ensure_mnist

        try:  # once here, rather than in every trial at the same time
            ensure_mnist(args.data_dir, log=print)
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    folder.mkdir(parents=True, exist_ok=True)

    import ray
    from ray import tune

    start = time.perf_counter()
    if args.address:
        ray.init(address=args.address, log_to_driver=False)
    else:
        ray.init(num_cpus=args.cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        resources = {"cpu": args.threads, **({"gpu": args.gpus_per_trial} if args.gpus_per_trial else {})}
        settings = {"threads": args.threads, "device": args.device, "data_dir": args.data_dir}
        tuner = tune.Tuner(
            tune.with_resources(train_trial, resources),
            param_space={"run": tune.grid_search(todo), "settings": settings},
            tune_config=tune.TuneConfig(trial_name_creator=lambda trial: trial.config["run"]["name"],
                                        trial_dirname_creator=lambda trial: trial.config["run"]["name"]),
            run_config=tune.RunConfig(name="tune", storage_path=str(folder / ".tune"), verbose=1))
        results = tuner.fit()
    finally:
        ray.shutdown()
    failed = [r for r in results if r.error is not None]
    for result in failed:
        print(f"failed: {result.config['run']['name']}: {str(result.error).strip().splitlines()[-1]}", file=sys.stderr)
    print(f"{len(todo) - len(failed)} of {len(todo)} runs trained in {time.perf_counter() - start:.0f} s; "
          f"run folders in {relative(folder)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
