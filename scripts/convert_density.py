#!/usr/bin/env python
"""Move seed 000's ex-post latent density out of the weights and into the run's samplers/ folder, once.

    python scripts/convert_density.py                            # every run in checkpoints/
    python scripts/convert_density.py --checkpoints runs/seed000-sweep

Runs of seed 000's CAE and CVAE trained before the density became a latent sampler
(core/models/samplers.py, PerDigitGaussian) hold it in weights.pt as the buffers density_mean,
density_scale_tril and density_fitted. For each such run this script

1. writes ``samplers/density.pt`` with the same numbers (mean and Cholesky factor per digit, in the
   float16 the weights stored them in; the sampler reads them into float32, exactly);
2. checks that the density mode now draws, for a fixed generator, the very images the buffers drew
   (bit for bit) and stops at the first run where it does not, leaving that run as it was;
3. rewrites ``weights.pt`` without the three buffers (every other tensor as stored);
4. re-stamps the shipped projections (``projections.npz``) with the new weights' digest: the encoder
   did not change, so they stay valid.

Runs without the buffers are left as they are, so a second pass changes nothing. Loading a run that
was never converted still works (the model reads the buffers into the sampler), so this only makes
the files say what the code does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.paths import checkpoint_root, relative

#: labels and generator seed of the before/after check: ten images of each digit
CHECK_PER_DIGIT, CHECK_SEED = 10, 0


def buffer_images(model, mean, scale_tril, labels, seed: int):
    """Images (N, 1, 28, 28) the density buffers drew before the conversion: the formula of the old
    ``density_codes``, ``z = mean[y] + L[y] ε`` with ε (N, d) from a CPU generator seeded ``seed``,
    decoded by ``model``."""
    import torch

    from core.models.functional import standard_normal

    with torch.no_grad():
        eps = standard_normal((labels.shape[0], model.latent_dim), torch.Generator().manual_seed(seed),
                              model.device).unsqueeze(-1)
        z = mean.float()[labels] + (scale_tril.float()[labels] @ eps).squeeze(-1)
        return model.decode(z)


def convert(path: Path) -> str:
    """Convert the run folder ``path``; returns what was done, in a sentence.

    Raises:
        RuntimeError: the converted density would not draw the same images (nothing is written).
    """
    import numpy as np
    import torch

    from core.atomic import atomic_path
    from core.explore.projections import SHIPPED_NAME, weights_digest
    from core.models.samplers import SAMPLER_DIR, file_name, save_sampler
    from core.models.seed000 import LEGACY_DENSITY_KEYS, pop_legacy_density
    from core.runs.format import WEIGHTS
    from core.runs.store import load_run

    weights = path / WEIGHTS
    state = torch.load(weights, map_location="cpu", weights_only=True)
    if not any(key in state for key in LEGACY_DENSITY_KEYS):
        return "no density in its weights; left as it is"
    buffers = {key: state[key] for key in LEGACY_DENSITY_KEYS if key in state}
    kept = dict(state)
    sampler = pop_legacy_density(kept)
    sampler_file = path / SAMPLER_DIR / file_name("density")
    if sampler is not None and sampler_file.exists():
        return f"it has both the density buffers and {relative(sampler_file)}; left as it is"

    labels = torch.arange(10).repeat_interleave(CHECK_PER_DIGIT)
    before = None
    if sampler is not None:  # what the buffers drew, with the run loaded as it is now
        model = load_run(path).model
        before = buffer_images(model, buffers["density_mean"], buffers["density_scale_tril"], labels, CHECK_SEED)
        after = model.generate(labels, torch.Generator().manual_seed(CHECK_SEED), mode="density")
        if not torch.equal(before, after):
            raise RuntimeError(f"{relative(path)}: the density sampler would draw other images than the "
                               f"buffers did (largest difference {float((before - after).abs().max()):.3g}); "
                               "nothing was written")

    old_digest = weights_digest(path)
    if sampler is not None:  # stored as the weights stored it (float16: half the size, the same numbers)
        sampler.mean, sampler.scale_tril = buffers["density_mean"], buffers["density_scale_tril"]
        save_sampler(path, sampler)
    with atomic_path(weights) as tmp:
        torch.save(kept, tmp)
    new_digest = weights_digest(path)
    restamped = ""
    projections = path / SHIPPED_NAME
    if projections.is_file():
        with np.load(projections, allow_pickle=False) as data:
            entries = {key: data[key] for key in data.files}
        if str(entries.pop("weights_sha1")) == old_digest:  # valid for the old weights: still valid
            with atomic_path(projections) as tmp, open(tmp, "wb") as handle:
                np.savez_compressed(handle, weights_sha1=np.array(new_digest), **entries)
            restamped = f", {relative(projections)} re-stamped"

    if before is not None:  # the run as it is now stored draws what it drew before
        after = load_run(path).model.generate(labels, torch.Generator().manual_seed(CHECK_SEED), mode="density")
        if not torch.equal(before, after):
            raise RuntimeError(f"{relative(path)}: after the conversion the density mode draws other images")
        return (f"density moved to {relative(sampler_file)} ({len(labels)} images drawn before and after: "
                f"identical){restamped}")
    return f"unfitted density buffers removed from the weights{restamped}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--checkpoints", default=str(checkpoint_root()),
                        help="folder of run folders (default $DIGITLAB_CHECKPOINTS, else checkpoints/)")
    args = parser.parse_args(argv)
    root = Path(args.checkpoints)
    if not root.is_dir():
        parser.error(f"no such folder: {relative(root)}")
    from core.runs.format import CheckpointError, list_run_dirs

    failed = 0
    for path in list_run_dirs(root):
        try:
            print(f"{path.name}: {convert(path)}", flush=True)
        except (CheckpointError, RuntimeError, OSError) as exc:
            print(f"{path.name}: not converted: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
