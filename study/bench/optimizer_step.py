"""Time ``optimizer.step()`` alone: the single-tensor path (``foreach=False``) against the multi-tensor one.

The parameters have the shapes of the article's CNN (:class:`~models.cnn.ArticleCNN` for MNIST: conv
32x1x3x3 + 32, fc1 256x5408 + 256, fc2 10x256 + 10), float32 on the CPU, each with a fixed random
gradient; every optimizer runs with its registry defaults. For each optimizer and thread count the two
paths alternate (single, multi, multi, single, ...) in repeats of a few steps, so that drifts of a shared
machine hit both alike, and the Markdown table gives the median wall time per step of each and their
ratio, with the ratio of median process CPU times beside it (steadier when other processes compete for
the cores; with several threads it also counts their waiting)::

    python -m study.bench.optimizer_step --repeats 25 --steps 3 --threads 1 2

Reading the numbers: on the CPU a ``torch._foreach_*`` op loops over the same per-tensor kernels, so the
multi-tensor path saves only Python dispatch (lost in the noise at these sizes) unless it makes fewer temporaries. Adam,
AdamW and NAdam's single-tensor denominators make two fc1-sized (5.5 MB) temporaries, the multi-tensor
path one; with glibc's default heap trimming the second costs page faults on every step (2-core VM,
torch 2.14: Adam 14.3 ms single vs 6.3 ms multi at 1 thread; with ``MALLOC_TRIM_THRESHOLD_`` and
``MALLOC_MMAP_THRESHOLD_`` raised to 256 MB, 5.6 vs 5.1 ms). Adadelta makes two in either path.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Sequence

import torch

from models.cnn import ArticleCNN
from optimizers.registry import OPTIMIZER_NAMES, build_optimizer

__all__ = ["main"]

WARMUP_STEPS = 3  # untimed: state creation and first-touch page faults


def _timed_optimizer(name: str, foreach: bool, shapes: Sequence[torch.Size]) -> torch.optim.Optimizer:
    """``name``'s optimizer over fresh parameters of ``shapes`` with fixed random gradients, warmed up."""
    generator = torch.Generator().manual_seed(0)
    params = []
    for shape in shapes:
        param = (0.05 * torch.randn(shape, generator=generator)).requires_grad_()
        param.grad = torch.randn(shape, generator=generator)
        params.append(param)
    optimizer = build_optimizer(name, params, foreach=foreach)
    for _ in range(WARMUP_STEPS):
        optimizer.step()
    return optimizer


def _seconds_per_step(optimizer: torch.optim.Optimizer, steps: int) -> tuple[float, float]:
    """Wall and process CPU seconds per step over ``steps`` steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        optimizer.step()
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def compare(name: str, shapes: Sequence[torch.Size], repeats: int, steps: int) -> dict[bool, tuple[float, float]]:
    """Median (wall, CPU) seconds per step of ``name``, by ``foreach`` (False: single-tensor, True: multi-tensor)."""
    optimizers = {foreach: _timed_optimizer(name, foreach, shapes) for foreach in (False, True)}
    times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for repeat in range(repeats):
        for foreach in (False, True) if repeat % 2 == 0 else (True, False):
            times[foreach].append(_seconds_per_step(optimizers[foreach], steps))
    return {
        foreach: (statistics.median(t[0] for t in runs), statistics.median(t[1] for t in runs))
        for foreach, runs in times.items()
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m study.bench.optimizer_step", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=25, help="timed runs of each path, interleaved (default 25)")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per timed run (default 3)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op thread counts")
    parser.add_argument("--names", nargs="+", default=list(OPTIMIZER_NAMES), choices=OPTIMIZER_NAMES)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.steps < 1 or min(args.threads) < 1:
        parser.error("--repeats, --steps and --threads must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    shapes = [param.shape for param in ArticleCNN().parameters()]
    print(
        f"torch {torch.__version__}, {os.cpu_count()} cores, {len(shapes)} float32 tensors "
        f"({sum(shape.numel() for shape in shapes):,} values) on the CPU; "
        f"median of {args.repeats} interleaved runs of {args.steps} steps\n"
    )
    print("| optimizer | threads | foreach=False (ms/step) | multi-tensor (ms/step) | speed-up | CPU-time speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    threads_before = torch.get_num_threads()
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            for name in args.names:
                times = compare(name, shapes, args.repeats, args.steps)
                (single, single_cpu), (multi, multi_cpu) = times[False], times[True]
                print(
                    f"| {name} | {threads} | {single * 1e3:.3f} | {multi * 1e3:.3f} | {single / multi:.2f}x "
                    f"| {single_cpu / multi_cpu:.2f}x |"
                )
    finally:
        torch.set_num_threads(threads_before)  # in-process callers (tests) keep their setting
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
