"""Precompute the latent-space page's projections and ship them in each run folder.

The dashboard's Latent space page projects test codes to 2-D; UMAP takes tens of seconds per run
(10,000 codes: about 10 s once numba has compiled, plus about 40 s for the compile), so the
projections of every size the page offers (1,000, 2,000, 5,000 and 10,000 test images, seed 0,
15 neighbours, both encoder inputs) are computed here, once per run, and stored in the run folder
(``projections.npz``, float16, about 250 KB a run), keyed by the weights' SHA-1, the encoder input,
the number of codes, the seed and the neighbours: the page reads one only for exactly those codes
and settings. PCA (and, for a 2-D latent, the codes themselves) are stored too: with them the
page's first view is drawn without loading the model or torch (seconds saved on a server's first
page). UMAPs already shipped for the current weights are kept (``--force`` recomputes them).

    python scripts/project.py                       # every shipped run, every size (~25 min on one core)
    python scripts/project.py --runs cae-z32-s0 --sizes 2000
    nice -n 19 taskset -c 1 python scripts/project.py   # in the background, on one core
"""

from __future__ import annotations

import argparse
import time

from core.models.capabilities import ENCODE, IMAGE_AND_DIGIT, IMAGE_ONLY, encoder_input  # noqa: E402
from core.paths import checkpoint_root  # noqa: E402
from core.runs.catalog import is_judge, list_runs
from core.runs.format import CheckpointError

#: the encoder inputs the Latent space page offers
PAGE_MODES = (IMAGE_AND_DIGIT, IMAGE_ONLY)
#: the numbers of test images the Latent space page offers (its "Test images" slider)
PAGE_SIZES = (1000, 2000, 5000, 10000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", default=str(checkpoint_root()), metavar="DIR",
                        help="folder of run folders (default $DIGITLAB_CHECKPOINTS, else checkpoints/)")
    parser.add_argument("--runs", nargs="*", help="run names (default: every run that can encode)")
    parser.add_argument("--sizes", nargs="*", type=int, default=list(PAGE_SIZES),
                        help="numbers of test images (default: the sizes the page offers)")
    parser.add_argument("--force", action="store_true",
                        help="recompute UMAP projections already shipped for the current weights")
    args = parser.parse_args(argv)
    if any(n < 3 or n > 10_000 for n in args.sizes):
        parser.error("--sizes must lie between 3 and 10000 (the test set)")

    import numpy as np
    import torch

    from core.data.mnist import ensure_mnist, load_mnist
    from core.explore import latents as explore
    from core.explore.projections import project, read_shipped, shipped_key, write_shipped

    ensure_mnist(log=print)
    test_x, test_y = load_mnist(train=False)
    runs, errors = list_runs(args.checkpoints)
    for name, exc in errors.items():
        print(f"{name}: left out ({exc})")
    wanted = [r for r in runs.values() if not is_judge(r) and r.can(ENCODE) and r.card["input_modes"]]
    if args.runs:
        unknown = sorted(set(args.runs) - {r.name for r in wanted})
        if unknown:
            parser.error(f"unknown or non-encoding runs: {', '.join(unknown)}")
        wanted = [r for r in wanted if r.name in args.runs]
    with torch.no_grad():  # not torch.set_grad_enabled(False): main may run inside another process (tests)
        for run in wanted:
            try:
                model = run.model
            except CheckpointError as exc:
                print(f"{run.name}: cannot load ({exc})")
                continue
            # what the page shows for each encoder input it offers (dashboard/common.py input_mode_for)
            modes = list(dict.fromkeys(m if m in model.input_modes else encoder_input(model) for m in PAGE_MODES))
            entries = {}
            for n in args.sizes:
                idx = torch.as_tensor(np.sort(np.random.default_rng(0).choice(len(test_x), size=n, replace=False)))
                for mode in modes:
                    start = time.perf_counter()
                    codes = explore.encode_dataset(model, test_x[idx], test_y[idx], mode)
                    if codes.shape[1] <= 2:  # shown as they are
                        entries[shipped_key("CODES", mode, n)] = codes if codes.shape[1] == 2 else np.c_[codes, 0 * codes]
                        continue
                    entries[shipped_key("PCA", mode, n)] = project(codes, method="PCA", use_cache=False)
                    key = shipped_key("UMAP", mode, n)
                    kept = None if args.force else read_shipped(run.path, key)  # UMAP is slow: kept when valid
                    entries[key] = kept if kept is not None else project(codes, method="UMAP", seed=0, use_cache=False)
                    print(f"{run.name}: {'UMAP kept' if kept is not None else 'UMAP'} of {n} codes ({mode}) "
                          f"in {time.perf_counter() - start:.1f} s", flush=True)
            path = write_shipped(run.path, entries)
            print(f"{run.name}: wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
