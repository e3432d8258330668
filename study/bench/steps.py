"""BM-1's torch arms: training-step throughput, measured the same way for each, and the CPU's GEMM rate.

Each arm trains for ``warmup + steps`` steps on real MNIST and times the last ``steps`` (allocations and
first-call costs stay out); samples per second = steps × batch size / seconds.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import ToTensor

from models.data import ImageDataModule
from models.datasets import get_dataset_spec, resolve_data_dir, torchvision_dataset
from study.design.search_space import default_hyperparameters
from study.schema import SAMPLES_PER_SECOND
from study.training.allocator import keep_freed_memory
from study.training.train import TrialSpec, train

__all__ = ["FLOP_PER_SAMPLE", "article_layout_cnn", "gemm_gflops", "ours", "plain"]

# Multiply-adds of one training sample of ArticleCNN on MNIST, x2: the conv forward and weight gradient
# (26·26·32·9 each), fc1 forward, input and weight gradients (5408·256 each), fc2 likewise (256·10 each).
FLOP_PER_SAMPLE = 2 * (2 * 26 * 26 * 32 * 9 + 3 * 5408 * 256 + 3 * 256 * 10)  # 9.10 MFLOP


def ours(data_dir: str | None, batch_size: int, steps: int) -> float:
    """The study's own training step: ``study.training.train.train`` on device-resident data with our Adam.

    Two epochs of ``steps`` steps each; the second epoch's training throughput (validation excluded).
    """
    keep_freed_memory()  # as a study worker does (study.training.allocator); this arm runs in a process of its own
    data = ImageDataModule("mnist", data_dir=data_dir, train_size=batch_size * steps, seed=0)
    data.prepare_data()
    data.setup("fit")
    spec = TrialSpec("adam", default_hyperparameters("adam", "torch"), batch_size, seed=0, max_epochs=2)
    result = train(spec, data)
    return result.history[-1].metrics[SAMPLES_PER_SECOND]


def article_layout_cnn() -> nn.Module:
    """The article's Keras model, layer for layer, in PyTorch's usual layout (ReLU before the pool, NCHW)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(5408, 256),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(256, 10),
    )


def plain(data_dir: str | None, batch_size: int, steps: int, warmup: int = 10) -> float:
    """A plain PyTorch loop as most tutorials write it: DataLoader(ToTensor()), torch.optim.Adam, no Lightning."""
    root = Path(resolve_data_dir(data_dir))
    dataset = torchvision_dataset(get_dataset_spec("mnist"), root, train=True, transform=ToTensor())
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    torch.manual_seed(0)
    net = article_layout_cnn()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    started = 0.0
    for index, (x, y) in enumerate(loader):
        if index == warmup:
            started = time.perf_counter()
        if index == warmup + steps:
            break
        optimizer.zero_grad()
        torch.autograd.backward(F.cross_entropy(net(x), y))
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - started)


def gemm_gflops(n: int = 2048, repeats: int = 10) -> float:
    """float32 matrix multiply rate of this process's threads: 2n³ flop per product."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9
