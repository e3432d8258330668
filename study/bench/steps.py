"""BM-1's torch arms: training throughput, and the CPU's matrix-multiply rate.

- ``ours``: one trial of a fresh study run by the study's own worker (``study.bench.overhead.study_worker``: the
  claim, its MLflow run with per-epoch records, Lightning, both stores), as float32 or bf16-mixed; the value is what
  the trial itself logged, ``time/samples_per_second`` of epochs 2 and later (the first epoch warms up).
- ``plain``: a plain PyTorch loop as most tutorials write it, timed after a few warm-up steps.
- ``gemm_gflops``: the float32 or bfloat16 matrix-multiply rate of the arm's threads.

Samples per second = training samples / training seconds (validation excluded).
"""

from __future__ import annotations

import itertools
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import ToTensor

from models.datasets import get_dataset_spec, resolve_data_dir, torchvision_dataset
from study.bench.overhead import study_worker
from study.bench.runner import fresh_study_args, seed_trial_args
from study.schema import COMPLETE, EPOCH_SECONDS, RUN_ID_ATTR, SAMPLES_PER_SECOND

__all__ = ["article_layout_cnn", "gemm_gflops", "ours", "plain"]


def ours(data_dir: str | None, batch_size: int, train_size: int, epochs: int, precision: str) -> dict[str, Any]:
    """The training samples/s a study trial logs, over epochs 2..``epochs`` (stores in a temporary folder)."""
    if epochs < 2:
        raise ValueError(f"epochs: got {epochs}; accepted: 2 or more (the first one warms up)")
    with tempfile.TemporaryDirectory(prefix="bench-ours-", ignore_cleanup_errors=True) as folder:
        args = seed_trial_args(folder, batch_size, precision, 1e-3)
        session, worker = study_worker(args + fresh_study_args(folder, train_size, epochs, data_dir))
        assert worker.run().trials == 1
        (trial,) = session.trials()
        if trial.state.name != COMPLETE:
            raise RuntimeError(f"the benchmark's trial ended {trial.state.name}")
        client, run_id = session.tracker.client, trial.user_attrs[RUN_ID_ATTR]
        rates = {m.step: m.value for m in client.get_metric_history(run_id, SAMPLES_PER_SECOND)}
        seconds = {m.step: m.value for m in client.get_metric_history(run_id, EPOCH_SECONDS)}
    timed = sorted(epoch for epoch in rates if epoch >= 2)
    samples = sum(rates[epoch] * seconds[epoch] for epoch in timed)
    steps = len(timed) * math.ceil(train_size / batch_size)
    value = samples / sum(seconds[epoch] for epoch in timed)
    return {"value": value, "extra": {"timed_steps": steps, "epochs": [rates[epoch] for epoch in timed]}}


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
    """A plain PyTorch loop as most tutorials write it: DataLoader(ToTensor()), torch.optim.Adam, no Lightning;
    ``steps`` steps timed after ``warmup`` (as many epochs as that takes)."""
    root = Path(resolve_data_dir(data_dir))
    dataset = torchvision_dataset(get_dataset_spec("mnist"), root, train=True, transform=ToTensor())
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    torch.manual_seed(0)
    net = article_layout_cnn()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    net.train()
    batches = itertools.chain.from_iterable(itertools.repeat(loader))  # a new shuffled epoch when one ends
    started = 0.0
    for index, (x, y) in enumerate(batches):
        if index == warmup:
            started = time.perf_counter()
        if index == warmup + steps:
            break
        optimizer.zero_grad()
        torch.autograd.backward(F.cross_entropy(net(x), y))
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - started)


def gemm_gflops(dtype: str = "float32", n: int = 2048, repeats: int = 10) -> float:
    """Matrix-multiply rate of this process's threads in ``dtype`` (float32 or bfloat16): 2n³ flop per product."""
    kind = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    a, b = torch.randn(n, n, dtype=kind), torch.randn(n, n, dtype=kind)
    torch.mm(a, b)
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * n**3 * repeats / (time.perf_counter() - started) / 1e9
