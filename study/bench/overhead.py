"""BM-2: what a study trial costs beyond its training.

Both arms train ArticleCNN with our Adam for the same epochs over the same device-resident batches and validate
on the same held-out images after each epoch. ``study_trial`` does it as the study does, through a worker of a
fresh study (claim, MLflow run, Lightning, per-epoch records, commit to both stores, the collection after a
trial); ``raw_loop`` with a bare PyTorch loop. Each returns milliseconds per training step, wall clock from the
claim (or the first step) to the commit (or the last validation).
"""

from __future__ import annotations

import math
import tempfile
import time

import torch
import torch.nn.functional as F

from models.cnn import ArticleCNN
from models.data import ImageDataModule
from optimizers.registry import build_optimizer
from study.bench.runner import fresh_study_args
from study.config.cli import parse_config
from study.workers.interrupts import Interrupts
from study.workers.session import join, load_data
from study.workers.worker import Worker

__all__ = ["raw_loop", "study_trial"]


class _Quiet:
    """Events that go nowhere: the benchmark times the study, not its display."""

    def trial_started(self, *args: object) -> None: ...

    def epoch_done(self, *args: object) -> None: ...

    def trial_finished(self, *args: object) -> None: ...

    def note(self, text: str) -> None: ...


def _steps(train_size: int, batch_size: int, epochs: int) -> int:
    return epochs * math.ceil(train_size / batch_size)


def study_trial(data_dir: str | None, batch_size: int, train_size: int, epochs: int) -> float:
    """ms per training step of one whole trial run by a study worker (stores in a temporary folder)."""
    folder = tempfile.mkdtemp(prefix="bench-trial-")
    args = ["--study-name", "bench", "--n-trials", "1", "--optimizers", "adam", "--batch-sizes", str(batch_size)]
    args += fresh_study_args(folder, train_size, epochs, data_dir)
    config = parse_config(args)
    data = load_data(config, "cpu")
    session = join(config, log=lambda line: None)
    worker = Worker(session.parts, session.studies, session.tracker, data, "cpu", _Quiet(), Interrupts(), 10.0)
    started = time.perf_counter()
    assert worker.run().trials == 1
    return (time.perf_counter() - started) * 1000 / _steps(train_size, batch_size, epochs)


def raw_loop(data_dir: str | None, batch_size: int, train_size: int, epochs: int) -> float:
    """ms per training step of a bare loop over the same model, batches, optimizer and validation passes."""
    data = ImageDataModule("mnist", data_dir=data_dir, train_size=train_size, seed=0, batch_size=batch_size)
    data.prepare_data()
    data.setup("fit")
    started = time.perf_counter()
    torch.manual_seed(0)
    net = ArticleCNN()
    optimizer = build_optimizer("adam", net.parameters())
    for _ in range(epochs):
        net.train()
        for x, y in data.train_dataloader():
            optimizer.zero_grad()
            torch.autograd.backward(F.cross_entropy(net(x), y))
            optimizer.step()
        net.eval()
        with torch.no_grad():
            correct = sum(int((net(x).argmax(1) == y).sum()) for x, y in data.val_dataloader())
        assert correct >= 0
    return (time.perf_counter() - started) * 1000 / _steps(train_size, batch_size, epochs)
