#!/usr/bin/env python
"""Training speed of every model, measured in one process: Digit Lab's trainer against a
pytorch/examples-style loop, and against the machine's fp32 matrix-multiply throughput.

    python -m benchmarks.bench_train                     # every registered model, 8,192 images each
    python -m benchmarks.bench_train --models cae mlp-cvae --images 20000 --epochs 6

For each model (constructor defaults, cae/cvae at latent 32), in the same process and thread count,
the two loops take turns, one epoch each, so that a change in the machine's speed during the
measurement (seen on these shared machines: the same epoch 12,000 then 19,000 images/s a few
seconds later) touches both alike; each figure is the median over epochs 2 to E (the first warms
caches and allocators):

* trainer: images/s of ``core.training.train`` on the first N training images (tensors in memory,
  batch 128, fused Adam, losses read once per epoch; validation and test on 64 images only);
* reference: images/s of the loop pytorch/examples uses (torchvision's MNIST + ToTensor through a
  DataLoader, batch 128, shuffled), calling the model's own ``train_step`` with the model's
  optimisers in PyTorch's default (for-each) implementation and reading every loss as a float
  after each batch, as the examples do;
* matmul share: trainer images/s × FLOPs per image over the fp32 GFLOP/s of a 2048 × 2048 matmul
  on this machine, with FLOPs per image counted two ways: 6 × parameters (the usual forward +
  backward estimate for dense layers) and the matmul/convolution FLOPs of real training steps as
  ``torch.utils.flop_counter.FlopCounterMode`` counts them (fewer for seed 000's models, whose
  pathways are skipped in two of the three input modes; more for convolutions and the GAN).

Prints one Markdown table (the README's) and writes benchmarks/results/train.json.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import datetime, timezone

from core.atomic import write_json
from core.paths import REPO_ROOT
from scripts._cli import mnist_available, positive_int

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


def counted_flops_per_image(model_name: str, model_args: dict, steps: int = 12) -> float:
    """Mean FLOPs per image of ``steps`` training steps on random batches of 128, as PyTorch's
    ``FlopCounterMode`` counts them (matrix multiplies and convolutions, forward and backward)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from core.models import build_model

    torch.manual_seed(0)
    model = build_model(model_name, **model_args).train()
    optimizer = model.configure_optimizer(1e-3)
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(BATCH, 1, 28, 28), torch.randint(10, (BATCH,))
    total = 0
    for _ in range(steps):
        with FlopCounterMode(display=False) as counter:
            model.train_step(x, y, optimizer, generator)
        total += counter.get_total_flops()
    return total / steps / BATCH


def default_implementation(optimizer):
    """``optimizer`` (one torch optimiser, or an object holding several as attributes) rebuilt over
    the same parameter groups and settings in PyTorch's default implementation (not fused)."""
    import copy

    import torch

    def rebuild(opt):
        return type(opt)([{**group, "fused": None, "foreach": None} for group in opt.param_groups])

    if isinstance(optimizer, torch.optim.Optimizer):
        return rebuild(optimizer)
    plain = copy.copy(optimizer)
    for name, value in vars(optimizer).items():
        if isinstance(value, torch.optim.Optimizer):
            setattr(plain, name, rebuild(value))
    return plain


class ReferenceLoop:
    """A pytorch/examples-style training loop over the first ``n_images`` of torchvision's MNIST;
    each call to :meth:`epoch` runs one pass and returns its seconds."""

    def __init__(self, model_name: str, model_args: dict, n_images: int, data_root: str):
        import torch
        from torch.utils.data import DataLoader, Subset
        from torchvision import datasets, transforms

        from core.models import build_model

        torch.manual_seed(0)
        self.model = build_model(model_name, **model_args).train()
        dataset = Subset(datasets.MNIST(data_root, train=True, download=False, transform=transforms.ToTensor()),
                         range(n_images))
        self.loader = DataLoader(dataset, batch_size=BATCH, shuffle=True)
        self.optimizer = default_implementation(self.model.configure_optimizer(1e-3))
        self.generator = torch.Generator().manual_seed(0)

    def epoch(self) -> float:
        start = time.perf_counter()
        for x, y in self.loader:
            {key: float(value) for key, value in self.model.train_step(x, y, self.optimizer, self.generator).items()}
        return time.perf_counter() - start


def measure(model_name: str, model_args: dict, splits, data_root: str, epochs: int) -> tuple[float, float]:
    """Median images/s of the trainer and of the reference loop over epochs 2 to ``epochs``, taking
    turns: after each trainer epoch (in the trainer's ``on_epoch`` callback) one reference pass."""
    from core.training.trainer import TrainConfig, train

    reference = ReferenceLoop(model_name, model_args, splits.train_x.shape[0], data_root)
    reference_seconds: list[float] = []
    cfg = TrainConfig.for_model(model_name, model_args, epochs=epochs, batch_size=BATCH, seed=0, device="cpu")
    history = train(cfg, splits, progress=False,
                    on_epoch=lambda *_: reference_seconds.append(reference.epoch())).history
    ends = history["seconds"]  # cumulative, each including the reference pass before it
    trainer_seconds = [ends[e] - ends[e - 1] - reference_seconds[e - 1] for e in range(1, len(ends))]
    n = splits.train_x.shape[0]
    return n / statistics.median(trainer_seconds), n / statistics.median(reference_seconds[1:])


def main(argv: list[str] | None = None) -> int:
    from core.models import REGISTRY

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--models", nargs="+", choices=sorted(REGISTRY), default=list(REGISTRY))
    parser.add_argument("--images", type=positive_int, default=8192, help="training images per measurement")
    parser.add_argument("--epochs", type=positive_int, default=5,
                        help="epochs per measurement (at least 2; the first is left out)")
    parser.add_argument("--out", default=str(REPO_ROOT / "benchmarks" / "results" / "train.json"))
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch warms up and is left out")
    if not mnist_available():
        return 1
    import torch

    from core.data.mnist import load_splits
    from core.models import build_model
    from core.paths import data_dir

    splits = load_splits(0, log=lambda *_: None)
    splits = splits.subset(min(args.images, splits.train_x.shape[0]), 64, 64)
    n = splits.train_x.shape[0]
    gflops = matmul_gflops()
    rows = []
    for name in args.models:
        model_args = {"latent_dim": 32} if name in ("cae", "cvae") else {}
        params = sum(p.numel() for p in build_model(name, **model_args).parameters())
        counted = counted_flops_per_image(name, model_args)
        ours, reference = measure(name, model_args, splits, str(data_dir()), args.epochs)
        rows.append({"model": name, "model_args": model_args, "parameters": params,
                     "counted_flops_per_image": round(counted), "trainer_images_s": round(ours, 1),
                     "reference_images_s": round(reference, 1), "ratio": round(ours / reference, 2),
                     "matmul_share": round(ours * 6 * params / (gflops * 1e9), 3),
                     "matmul_share_counted": round(ours * counted / (gflops * 1e9), 3)})
        r = rows[-1]
        print(f"{name}: trainer {ours:,.0f} img/s, reference {reference:,.0f} img/s, {r['ratio']:.2f}×, "
              f"{100 * r['matmul_share']:.0f} % of matmul at 6 × parameters, "
              f"{100 * r['matmul_share_counted']:.0f} % at counted FLOPs", flush=True)
    record = {"images": n, "epochs": args.epochs, "batch_size": BATCH, "threads": torch.get_num_threads(),
              "matmul_gflops": round(gflops, 1), "machine": platform.platform(), "torch": torch.__version__,
              "rows": rows, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_json(args.out, record)
    print(f"\n| model | parameters | trainer (img/s) | pytorch/examples loop (img/s) | ratio | share of matmul "
          f"({gflops:.0f} GFLOP/s) at 6 × parameters | at counted FLOPs |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['parameters']:,} | {r['trainer_images_s']:,.0f} | {r['reference_images_s']:,.0f} | "
              f"{r['ratio']:.2f}× | {100 * r['matmul_share']:.0f} % | {100 * r['matmul_share_counted']:.0f} % |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
