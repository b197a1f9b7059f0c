#!/usr/bin/env python
"""Write a PNG of 10×10 generation grids (row r: ten samples of digit r), side by side, one per run
and generation mode: the pictures behind README's samples.

Each panel is titled "<run> · <mode>"; the same --seed gives the same images as the dashboard's
Generation grids page at that seed.

    python scripts/sample_grid.py diffusion-z784-s0 "cae-z16-s0:GMM (BIC)" "cvae-z16-s0:GMM (BIC)"
    python scripts/sample_grid.py cgan-z100-s0 --seed 3 --out /tmp/gan.png

A run is named by its folder under --checkpoints, optionally followed by ":MODE" (default: the run's
default mode).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.paths import REPO_ROOT, checkpoint_root
from scripts._cli import non_negative_int, positive_int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("panels", nargs="+", metavar="RUN[:MODE]", help="run folder names, each with an optional mode")
    parser.add_argument("--checkpoints", default=str(checkpoint_root()), metavar="DIR",
                        help="folder of run folders (default $DIGITLAB_CHECKPOINTS, else checkpoints/)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="sampling seed (default 0)")
    parser.add_argument("--scale", type=positive_int, default=2, help="pixels per image pixel (default 2)")
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "samples.png"), help="PNG to write")
    args = parser.parse_args(argv)

    import numpy as np
    from PIL import Image, ImageDraw

    from core.atomic import atomic_path
    from core.explore.latents import generation_grid, tile
    from core.models.capabilities import GENERATE
    from core.runs.format import CheckpointError
    from core.runs.store import load_run

    panels = []
    for spec in args.panels:
        name, _, mode = spec.partition(":")
        path = Path(args.checkpoints) / name
        try:
            run = load_run(path)
        except CheckpointError as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2
        if not run.model.can(GENERATE):
            print(f"error: {name}: {run.model.describe()} does not generate from digits", file=sys.stderr)
            return 2
        try:
            chosen = run.model.generation_mode(mode or None)
        except ValueError as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            return 2
        start = time.perf_counter()
        images = generation_grid(run.model.eval(), per_digit=10, seed=args.seed, mode=chosen)
        print(f"{name} · {chosen}: 100 images in {time.perf_counter() - start:.1f} s", flush=True)
        panels.append((f"{name} · {chosen}", tile(images, nrow=10, scale=args.scale)))

    title_h, gap = 18, 12
    width = sum(p.shape[1] for _, p in panels) + gap * (len(panels) - 1)
    height = title_h + max(p.shape[0] for _, p in panels)
    canvas = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(canvas)
    x = 0
    for title, picture in panels:
        draw.text((x + 2, 3), title.replace("–", "-"), fill=0)  # Pillow's default font has no en dash
        canvas.paste(Image.fromarray(np.asarray(picture, np.uint8)), (x, title_h))
        x += picture.shape[1] + gap
    try:
        with atomic_path(args.out) as tmp:
            canvas.save(tmp, format="PNG", optimize=True)
    except OSError as exc:
        print(f"error: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({width}×{height} pixels)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
