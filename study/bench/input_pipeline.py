"""Benchmark the device-resident input pipeline against a plain torchvision ``DataLoader``.

Trains the article's CNN with Adam (Keras defaults) for a fixed number of steps on real MNIST
through Lightning, once per pipeline and repeat, interleaved (fast, plain, fast, plain, ...) so
that drifts of a shared machine hit both alike, and prints the median training samples/s of each
and their ratio, with the machine::

    python -m study.bench.input_pipeline --steps 300 --batch-size 64 --repeats 3

(a) fast: :class:`~models.data.ImageDataModule` (uint8 tensors resident on the device, one
    ``index_select`` per batch); (b) plain: ``DataLoader(MNIST(transform=ToTensor()), batch_size,
    shuffle=True)``. Both train on the full 60k training set; the first ``--warmup`` steps of each
    run are not timed. Decoding / dataset construction happen once per process, before timing.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader
from torchvision.transforms import ToTensor

from models.classifier import ImageClassifier
from models.cnn import ArticleCNN
from models.data import ImageDataModule
from models.datasets import DatasetUnavailableError, get_dataset_spec, resolve_data_dir, torchvision_dataset
from optimizers.registry import build_optimizer

__all__ = ["main", "machine_description"]


class _StepTimer(L.Callback):
    """Wall time from the start of step ``warmup`` to the end of training (CUDA synchronised)."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start: float | None = None
        self.seconds = float("nan")

    @staticmethod
    def _now(pl_module: L.LightningModule) -> float:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)
        return time.perf_counter()

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int) -> None:
        if trainer.global_step == self.warmup and self.start is None:
            self.start = self._now(pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.start is not None:
            self.seconds = self._now(pl_module) - self.start


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(device: torch.device) -> str:
    text = (
        f"{cpu_model()}, {os.cpu_count()} cores (torch threads {torch.get_num_threads()}), "
        f"torch {torch.__version__}, Lightning {L.__version__}, Python {platform.python_version()}, device {device}"
    )
    if device.type == "cuda":
        text += f" ({torch.cuda.get_device_name(device)})"
    return text


def _train(loader_or_dm: Any, args: argparse.Namespace, accelerator: str) -> float:
    """Samples/s of one timed run of ``args.steps`` steps."""
    torch.manual_seed(args.seed)
    model = ImageClassifier(ArticleCNN(), lambda params: build_optimizer("adam", params, eps=1e-7))
    timer = _StepTimer(args.warmup)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=1,
        max_steps=args.steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    if isinstance(loader_or_dm, ImageDataModule):
        trainer.fit(model, datamodule=loader_or_dm)
    else:
        trainer.fit(model, train_dataloaders=loader_or_dm)
    return float((args.steps - args.warmup) * args.batch_size / timer.seconds)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m study.bench.input_pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps per run (default 300)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps at the start of each run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each pipeline, interleaved")
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--data-dir", default=None, help="data folder (default $OPTIMIZER_STUDY_DATA_DIR or data/)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the plain pipeline")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 <= args.warmup < args.steps:
        parser.error("need 0 <= --warmup < --steps")
    if args.repeats < 1 or args.batch_size < 1:
        parser.error("--repeats and --batch-size must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")

    root = resolve_data_dir(args.data_dir)
    try:
        t0 = time.perf_counter()
        fast = ImageDataModule(
            args.dataset,
            data_dir=root,
            batch_size=args.batch_size,
            validate_on_test=True,
            seed=args.seed,
            device=device,
        )
        fast.prepare_data()
        fast.setup("fit")
        t1 = time.perf_counter()
        train_set = torchvision_dataset(get_dataset_spec(args.dataset), root, train=True, transform=ToTensor())
        t2 = time.perf_counter()
    except DatasetUnavailableError as err:
        print(err, file=sys.stderr)
        return 1
    plain = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.workers)

    print(f"machine: {machine_description(device)}")
    print(
        f"run: {args.dataset} ({len(train_set)} training images), ArticleCNN, Adam (keras defaults), "
        f"batch {args.batch_size}, {args.steps} steps per run ({args.warmup} untimed), "
        f"{args.repeats} repeats interleaved"
    )
    print(f"one-off setup: fast {t1 - t0:.2f} s (decode + to device), plain {t2 - t1:.2f} s (dataset object)")
    results: dict[str, list[float]] = {"fast": [], "plain": []}
    for _ in range(args.repeats):
        results["fast"].append(_train(fast, args, accelerator))
        results["plain"].append(_train(plain, args, accelerator))
    for name, label in (("fast", "fast path (device tensors)"), ("plain", "plain DataLoader(ToTensor)")):
        runs = ", ".join(f"{v:.0f}" for v in results[name])
        print(f"{label:28s}: median {statistics.median(results[name]):8.0f} samples/s  (runs: {runs})")
    ratio = statistics.median(results["fast"]) / statistics.median(results["plain"])
    print(f"ratio fast/plain (medians)  : {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
