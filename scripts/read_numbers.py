#!/usr/bin/env python
"""How well Digit Lab reads handwritten numbers: synthetic strips of MNIST test digits, cut and read.

Seed 002 names bank-card, cheque, postal-code and phone numbers as its recognizer's use. This builds
--strips pictures (default 1,000) of 3–8 MNIST test digits pasted side by side with random gaps
(−2 to 8 px: some touch), scale (×0.8–1.2) and vertical offset (core.data.segment.synthetic_strip, fixed
--seed), cuts each into digits with core.data.segment.find_digits (touching digits cut the way the judge
is surest of, when there is a judge), and lets every classifier read them.
It reports, per classifier: how often the cut found the right number of digits, the per-digit
accuracy (a digit counts as read right when the cut found the right count and the classifier the
right digit at its place) and the whole-number accuracy; written to checkpoints/number_reading.json.

    python scripts/read_numbers.py                      # 1,000 strips, every classifier (~1 minute)
    python scripts/read_numbers.py --strips 50 --out /tmp/reading.json
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path

from core.atomic import write_json
from core.data.mnist import shared_mnist_arrays
from core.models.capabilities import CLASSIFY
from core.paths import checkpoint_root
from core.runs.catalog import list_runs
from core.runs.format import CheckpointError
from scripts._cli import mnist_available, positive_int

RESULT_NAME = "number_reading.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--checkpoints", default=str(checkpoint_root()), metavar="DIR",
                        help="folder of run folders (default $DIGITLAB_CHECKPOINTS, else checkpoints/)")
    parser.add_argument("--strips", type=positive_int, default=1000, help="how many numbers (default 1000)")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the strips (default 1: the cutting rule was tuned on seed 0's)")
    parser.add_argument("--out", help=f"the JSON file (default CHECKPOINTS/{RESULT_NAME})")
    args = parser.parse_args(argv)
    out = Path(args.out) if args.out else Path(args.checkpoints) / RESULT_NAME

    import numpy as np

    from core.data.segment import TooManyDigits, digit_images, find_digits, synthetic_strip
    from core.explore import latents as explore

    if not mnist_available():
        return 1
    images, labels = shared_mnist_arrays(train=False)
    runs, _ = list_runs(args.checkpoints)
    readers = {}
    for run in runs.values():
        if run.can(CLASSIFY):
            try:
                readers[run.name] = run
                run.model
            except CheckpointError as exc:
                print(f"{run.name}: cannot be loaded ({exc.kind}); left out")
                readers.pop(run.name)

    judge = next((run for run in readers.values() if run.role == "judge"), None)

    def reader(x):
        return explore.batch_probabilities(judge.model, x)

    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    count_right, digits_total, lengths = 0, 0, []
    right_digits = {name: 0 for name in readers}
    right_numbers = {name: 0 for name in readers}
    for _ in range(args.strips):
        n = int(rng.integers(3, 9))
        idx = rng.choice(len(images), size=n, replace=False)
        truth = labels[idx]
        strip = synthetic_strip(images[idx], rng)
        digits_total += n
        lengths.append(n)
        try:
            boxes = find_digits(strip, reader=reader if judge is not None else None)
        except TooManyDigits:
            continue
        if len(boxes) != n:
            continue
        count_right += 1
        x = digit_images(strip, boxes)
        for name, run in readers.items():
            read = explore.predicted_digits(run.model, x)
            right_digits[name] += int((read == truth).sum())
            right_numbers[name] += int((read == truth).all())
    result = {
        "strips": args.strips, "seed": args.seed, "digits": digits_total,
        "digits_per_strip": {"min": int(min(lengths)), "max": int(max(lengths)), "mean": round(float(np.mean(lengths)), 2)},
        "count_right": count_right / args.strips,
        "cut_reader": judge.label if judge is not None else None,
        "readers": {name: {"label": readers[name].label, "digit_accuracy": right_digits[name] / digits_total,
                           "number_accuracy": right_numbers[name] / args.strips} for name in readers},
        "protocol": ("core.data.segment.synthetic_strip: 3–8 MNIST test digits, gaps −2..8 px, scale ×0.8–1.2, offset ±4 px; "
                     "core.data.segment.find_digits cuts (reader: the judge); a digit is right when the cut count is right "
                     "and the digit at its place is read right; a number when all its digits are"),
        "seconds": round(time.perf_counter() - start, 1),
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(out, result)
    print(f"cut found the right number of digits in {100 * result['count_right']:.1f} % of {args.strips} strips")
    for name, r in result["readers"].items():
        print(f"{r['label']}: digits {100 * r['digit_accuracy']:.1f} %, whole numbers {100 * r['number_accuracy']:.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
