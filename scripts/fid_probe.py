#!/usr/bin/env python
"""InceptionV3 FID of a smaller image set, to find out what limits a model's FID: a sampler setting,
the decoder, or something in the pictures (a faint background haze).

Each SET is scored like the leaderboard's FID (InceptionV3 pool features against the 10,000 test
images) but from --per-digit images per digit (default 200: 2,000 images, about 5 minutes on the 2
CPU cores instead of 20). A smaller set adds a bias (real training images: 1.65 at 10,000, 4.13 at
2,000), so compare figures of the same size only. Beside the FID it prints the judge's accuracy on
the same images and two pixel statistics: ink (share of pixels above 0.5) and haze (share of pixels
between 0.001 and 0.1; real test digits 0.017).

SET is one of:

* ``real``: the first --per-digit training images of each digit;
* ``real+haze``: the same with a faint haze (a random 60 % of the background pixels set to draws of
  an exponential distribution of mean 0.01, seed 0), like the diffusion reference's background;
* ``RUN`` or ``RUN:MODE``: images the run generates (default mode unless named), seed 1, the
  leaderboard's FID seed, in one batch;
* ``RUN:reconstructions``: the run's reconstructions of the ``real`` images (a bound on what any
  latent sampler of that decoder can reach).

    python scripts/fid_probe.py real real+haze
    python scripts/fid_probe.py "cae-z16-s0:GMM (BIC)" cae-z16-s0:reconstructions
    python scripts/fid_probe.py diffusion-z784-s0 --set guidance=1.5
    python scripts/fid_probe.py diffusion-z784-s0 --zero-below 0.05
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from core.paths import checkpoint_root
from scripts._cli import mnist_available, positive_int

#: share of background pixels the ``real+haze`` set hazes, and the haze's mean (pixels in [0, 1])
HAZE_SHARE, HAZE_MEAN = 0.6, 0.01
RECONSTRUCTIONS = "reconstructions"


def hazed(images, seed: int = 0):
    """``images`` with a faint haze on a random :data:`HAZE_SHARE` of their zero pixels: draws of an
    exponential distribution of mean :data:`HAZE_MEAN` (seeded, so the set repeats)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    chosen = (images == 0) & (torch.rand(images.shape, generator=generator) < HAZE_SHARE)
    haze = -HAZE_MEAN * torch.log1p(-torch.rand(images.shape, generator=generator))  # inverse CDF
    return torch.where(chosen, haze.clamp(max=1), images)


def main(argv: list[str] | None = None) -> int:
    from scripts.evaluate import ModelArguments, model_argument

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("sets", nargs="+", metavar="SET", help="real, real+haze, RUN, RUN:MODE or RUN:reconstructions")
    parser.add_argument("--checkpoints", default=str(checkpoint_root()), metavar="DIR",
                        help="folder of run folders (default $DIGITLAB_CHECKPOINTS, else checkpoints/)")
    parser.add_argument("--per-digit", type=positive_int, default=200, help="images per digit (default 200)")
    parser.add_argument("--n-test", type=positive_int, default=None, help="first N test images only (quick tries)")
    parser.add_argument("--set", nargs="+", default={}, metavar="ARG=VALUE", type=model_argument,
                        action=ModelArguments,
                        help="change a constructor argument of the runs' models, e.g. guidance=1.5")
    parser.add_argument("--zero-below", type=float, default=None, metavar="T",
                        help="set generated pixels below T to 0 before scoring (a test of the haze's cost)")
    parser.add_argument("--out", default=None, help="also append one JSON line per set to this file")
    args = parser.parse_args(argv)
    if args.zero_below is not None and not 0 < args.zero_below < 1:
        parser.error(f"--zero-below must lie between 0 and 1, got {args.zero_below}")
    if not mnist_available():
        return 2

    import torch

    from core.data.mnist import load_mnist, load_splits
    from core.evaluation.evaluator import FID_SEED, FeatureStore
    from core.evaluation.metrics import classifier_accuracy, frechet_distance, pixel_statistics
    from core.models.capabilities import GENERATE, JUDGE, N_CLASSES, RECONSTRUCT
    from core.runs.format import CheckpointError, list_run_dirs
    from core.runs.store import load_run

    test_x, test_y = load_mnist(False)
    if args.n_test:
        test_x, test_y = test_x[:args.n_test], test_y[:args.n_test]
    store = FeatureStore(test_x, test_y, None, log=lambda line: print(line, file=sys.stderr))
    if store.failure("inception-pool"):
        print(f"error: InceptionV3 is not available: {store.failure('inception-pool')}", file=sys.stderr)
        return 2
    judges = [p for p in list_run_dirs(Path(args.checkpoints)) if p.name.startswith("judge")]
    judge = load_run(judges[0]).model if judges else None
    splits = load_splits(fetch=False, log=lambda line: None)
    labels = torch.arange(N_CLASSES).repeat_interleave(args.per_digit)
    first = torch.cat([torch.nonzero(splits.train_y == d)[:args.per_digit, 0] for d in range(N_CLASSES)])
    real = splits.train_x[first]
    if real.shape[0] != labels.shape[0]:
        parser.error(f"--per-digit {args.per_digit} is more than the training split holds of some digit")

    def images_of(spec: str):
        if spec == "real":
            return real
        if spec == "real+haze":
            return hazed(real)
        name, _, mode = spec.partition(":")
        path = Path(args.checkpoints) / name
        if not path.is_dir():
            raise ValueError(f"no run folder {name} in {args.checkpoints}")
        try:
            run = load_run(path, model_args=args.set or None)
        except CheckpointError as exc:
            raise ValueError(f"{name}: {exc}") from None
        model = run.model
        if model.role == JUDGE:
            raise ValueError(f"{name} is the judge, which draws nothing")
        with torch.no_grad():
            if mode == RECONSTRUCTIONS:
                if not model.can(RECONSTRUCT):
                    raise ValueError(f"{name}: {model.describe()} does not reconstruct")
                return model.reconstruct(real, splits.train_y[first]).float()
            if not model.can(GENERATE):
                raise ValueError(f"{name}: {model.describe()} does not generate from digits")
            model.generation_mode(mode or None)  # an unknown mode raises ValueError, listing the model's
            images = model.generate(labels, torch.Generator().manual_seed(FID_SEED), mode or None).float()
        if args.zero_below is not None:
            images = torch.where(images < args.zero_below, torch.zeros_like(images), images)
        return images

    failed = 0
    for spec in args.sets:
        start = time.perf_counter()
        try:
            images = images_of(spec).clamp(0, 1).cpu()
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        made = time.perf_counter() - start
        fid = frechet_distance(store.real_features("inception-pool"), store.features("inception-pool", images, spec))
        row = {"set": spec, "n": int(images.shape[0]), "fid_inception": round(fid, 2),
               "judge_accuracy": None if judge is None else round(classifier_accuracy(judge, images, labels), 4),
               **{k: round(v, 4) for k, v in pixel_statistics(images).items()},
               "changed": args.set or None, "zero_below": args.zero_below,
               "seconds_images": round(made, 1), "seconds": round(time.perf_counter() - start, 1)}
        print(json.dumps(row, ensure_ascii=False), flush=True)
        if args.out:
            with open(args.out, "a") as out:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
