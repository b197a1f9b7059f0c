#!/usr/bin/env python
"""Training speed of every model, measured in one process: Digit Lab's trainer against a
pytorch/examples-style loop, and against the machine's fp32 matrix-multiply throughput.

    python scripts/bench_train.py                     # every registered model, 8,192 images each
    python scripts/bench_train.py --models cae mlp-cvae --images 20000

For each model (constructor defaults, cae/cvae at latent 32), in the same process and thread count:

* trainer: images/s of one epoch of ``core.training.train`` on the first N training images
  (tensors in memory, batch 128; validation and test on 64 images only, so the epoch is training);
* reference: images/s of the loop pytorch/examples uses (torchvision's MNIST + ToTensor through a
  DataLoader, batch 128, shuffled), calling the same ``training_loss`` and Adam;
* matmul share: trainer images/s × 6 × parameters (forward + backward FLOPs per image) over the
  fp32 GFLOP/s of a 2048 × 2048 matmul on this machine.

Prints one Markdown table (the README's) and writes docs/bench/train.json.
"""

from __future__ import annotations

import argparse
import platform
import time
from datetime import datetime, timezone

from scripts._cli import REPO_ROOT, mnist_available, positive_int

from core.atomic import write_json

BATCH = 128


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """fp32 GFLOP/s of an n × n matmul with the current torch threads (best of ``repeats``)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def trainer_rate(model_name: str, model_args: dict, splits) -> float:
    """Images/s of one epoch of ``core.training.train`` on ``splits``: its training images over the
    epoch's seconds in the history (which include validation on ``splits``' 64 images)."""
    from core.training import TrainConfig, train

    cfg = TrainConfig.for_model(model_name, model_args, epochs=1, batch_size=BATCH, seed=0, device="cpu")
    start = time.perf_counter()
    result = train(cfg, splits, progress=False)
    seconds = result.history["seconds"][0] if result.history["seconds"] else time.perf_counter() - start
    return splits.train_x.shape[0] / seconds


def reference_rate(model_name: str, model_args: dict, n_images: int, data_root: str) -> float:
    """Images/s of a pytorch/examples-style loop over the first ``n_images`` of torchvision's MNIST."""
    import torch
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from core.models import build_model

    torch.manual_seed(0)
    model = build_model(model_name, **model_args).train()
    dataset = Subset(datasets.MNIST(data_root, train=True, download=False, transform=transforms.ToTensor()),
                     range(n_images))
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True)
    optimizer = model.configure_optimizer(1e-3)
    generator = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for x, y in loader:
        model.train_step(x, y, optimizer, generator)
    return n_images / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    from core.models import REGISTRY

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--models", nargs="+", choices=sorted(REGISTRY), default=list(REGISTRY))
    parser.add_argument("--images", type=positive_int, default=8192, help="training images per measurement")
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "bench" / "train.json"))
    args = parser.parse_args(argv)
    if not mnist_available():
        return 1
    import torch

    from core.data import data_dir, load_splits
    from core.models import build_model

    splits = load_splits(0, log=lambda *_: None)
    splits = splits.subset(min(args.images, splits.train_x.shape[0]), 64, 64)
    n = splits.train_x.shape[0]
    gflops = matmul_gflops()
    rows = []
    for name in args.models:
        model_args = {"latent_dim": 32} if name in ("cae", "cvae") else {}
        params = sum(p.numel() for p in build_model(name, **model_args).parameters())
        ours = trainer_rate(name, model_args, splits)
        reference = reference_rate(name, model_args, n, str(data_dir()))
        share = ours * 6 * params / (gflops * 1e9)
        rows.append({"model": name, "model_args": model_args, "parameters": params, "trainer_images_s": round(ours, 1),
                     "reference_images_s": round(reference, 1), "ratio": round(ours / reference, 2),
                     "matmul_share": round(share, 3)})
        print(f"{name}: trainer {ours:,.0f} img/s, reference {reference:,.0f} img/s, {ours / reference:.2f}×, "
              f"{100 * share:.0f} % of matmul", flush=True)
    record = {"images": n, "batch_size": BATCH, "threads": torch.get_num_threads(), "matmul_gflops": round(gflops, 1),
              "machine": platform.platform(), "torch": torch.__version__, "rows": rows,
              "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_json(args.out, record)
    print(f"\n| model | parameters | trainer (img/s) | pytorch/examples loop (img/s) | ratio | share of matmul "
          f"({gflops:.0f} GFLOP/s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['parameters']:,} | {r['trainer_images_s']:,.0f} | {r['reference_images_s']:,.0f} | "
              f"{r['ratio']:.2f}× | {100 * r['matmul_share']:.0f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
