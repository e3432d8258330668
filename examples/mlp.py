"""An MLP on MNIST as flat vectors: your model and your data in one file.

    python -m study.run --model examples/mlp.py:build --data examples/mlp.py:data --n-trials 4 --max-epochs 1

``data`` returns MNIST's images flattened to 784-vectors (so ``input_shape`` is ``(784,)``), ``build`` an MLP for
them; ``--model-arg hidden=512`` widens it.
"""

from __future__ import annotations

import os

import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset
from torchvision.datasets import MNIST


def _vectors(folder: str, train: bool) -> TensorDataset:
    # download=True unpacks the .gz files `make data` copied and fetches only what is missing
    raw = MNIST(folder, train=train, download=True)
    return TensorDataset(raw.data.flatten(1).float().div_(255.0), raw.targets)


def data(
    seed: int, data_dir: str | None = None, train_size: int | None = None
) -> tuple[Dataset[tuple[torch.Tensor, ...]], ...]:
    folder = data_dir or os.environ.get("OPTIMIZER_STUDY_DATA_DIR") or "data"
    full = _vectors(folder, train=True)
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed))
    validation, training = order[:5000], order[5000:]
    if train_size is not None:
        training = training[:train_size]
    images, labels = full.tensors
    return (
        TensorDataset(images[training], labels[training]),
        TensorDataset(images[validation], labels[validation]),
        _vectors(folder, train=False),
    )


def build(input_shape: tuple[int, ...], num_classes: int, hidden: int = 256) -> nn.Module:
    return nn.Sequential(nn.Linear(input_shape[0], hidden), nn.ReLU(), nn.Dropout(0.2), nn.Linear(hidden, num_classes))
