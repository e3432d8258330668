"""BM-5: fused trials, as epoch-trials per minute for stacks of K = 1, 2, 4, 8 trials.

Each request trains K trials of Adam (K learning rates, K seeds) for the same epochs over the same
device-resident data and validates them after every epoch: K = 1 through ``train()`` (the unfused path that
``--fuse 1`` takes), K > 1 as one stack (``train_fused``). The value is K × epochs over the wall minutes of
the whole training, validation included.
"""

from __future__ import annotations

import time

from models.data import ImageDataModule
from study.design.search_space import default_hyperparameters
from study.schema import LR
from study.training.fused import train_fused
from study.training.train import TrialSpec, train

__all__ = ["fused_set"]


def fused_set(data_dir: str | None, slots: int, batch_size: int, train_size: int, epochs: int) -> float:
    """Epoch-trials per minute of a stack of ``slots`` trials (``slots`` = 1: one trial, unfused)."""
    data = ImageDataModule("mnist", data_dir=data_dir, train_size=train_size, seed=0)
    data.prepare_data()
    data.setup("fit")
    base = default_hyperparameters("adam", "torch")
    specs = [
        TrialSpec("adam", {**base, LR: 1e-3 * 1.5**k}, batch_size, seed=k, max_epochs=epochs) for k in range(slots)
    ]
    started = time.perf_counter()
    results = [train(specs[0], data)] if slots == 1 else train_fused(specs, data)
    minutes = (time.perf_counter() - started) / 60
    assert all(len(r.history) == epochs for r in results)
    return slots * epochs / minutes
