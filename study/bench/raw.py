"""The raw loop: a study trial's training work with no study around it, BM-2's baseline.

It trains ArticleCNN with our Adam for the same epochs over the same device-resident batches as a one-trial study,
and validates on the same held-out images after each epoch, in a bare PyTorch loop: no Lightning Trainer, no
stores. ``raw_loop`` runs it inside an arm process; ``python -m study.bench.raw`` runs it as a fresh process and
prints the wall clock (``time.time()``) of its first training step, which BM-2 sets against a one-trial
``python -m study.run`` process started the same way. It imports no Optuna, MLflow or study code.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from models.allocator import keep_freed_memory
from models.cnn import ArticleCNN
from models.data import ImageDataModule
from models.denormals import flush_denormals
from optimizers.registry import build_optimizer

__all__ = ["main", "raw_loop", "steps_of"]


def steps_of(train_size: int, batch_size: int, epochs: int) -> int:
    """Training steps of ``epochs`` epochs over ``train_size`` samples (the last batch may be partial)."""
    return epochs * math.ceil(train_size / batch_size)


def _data(data_dir: str | None, batch_size: int, train_size: int) -> ImageDataModule:
    data = ImageDataModule("mnist", data_dir=data_dir, train_size=train_size, seed=0, batch_size=batch_size)
    data.prepare_data()
    data.setup("fit")
    return data


def _train(data: ImageDataModule, epochs: int) -> float:
    """Trains and validates; returns the wall clock of the first training step."""
    keep_freed_memory()  # as a trial's Trainer does: the overhead compared is the study's, not the allocator's
    flush_denormals()  # likewise
    torch.manual_seed(0)
    net = ArticleCNN()
    optimizer = build_optimizer("adam", net.parameters())
    first_step = 0.0
    for _ in range(epochs):
        net.train()
        for x, y in data.train_dataloader():
            first_step = first_step or time.time()
            optimizer.zero_grad()
            torch.autograd.backward(F.cross_entropy(net(x), y))
            optimizer.step()
        net.eval()
        with torch.no_grad():
            correct = sum(int((net(x).argmax(1) == y).sum()) for x, y in data.val_dataloader())
        assert correct >= 0
    return first_step


def raw_loop(data_dir: str | None, batch_size: int, train_size: int, epochs: int) -> float:
    """ms per training step of the bare loop, wall clock from building the network to the last validation."""
    data = _data(data_dir, batch_size, train_size)
    started = time.perf_counter()
    _train(data, epochs)
    return (time.perf_counter() - started) * 1000 / steps_of(train_size, batch_size, epochs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.bench.raw", description=__doc__)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--train-size", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--data-dir")
    args = parser.parse_args(argv)
    first_step = _train(_data(args.data_dir, args.batch_size, args.train_size), args.epochs)
    print(json.dumps({"first_step": first_step}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
