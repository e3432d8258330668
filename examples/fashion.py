"""Fashion-MNIST as your own data would come: ``--data examples/fashion.py:data``.

``data`` returns ``(train, validation, test)`` datasets; the study wraps them in loaders with each trial's batch
size and a shuffle seeded by the trial. It reads the standard files with torchvision (``make data`` copies them into
``data/FashionMNIST/raw``) and holds 5,000 training images out for validation, split by the study's ``seed``.
``--data-arg train_size=10000`` trains on a subset (quick looks).
"""

from __future__ import annotations

import os

import torch
from torch.utils.data import Dataset, Subset, TensorDataset
from torchvision.datasets import FashionMNIST


def _tensors(folder: str, train: bool) -> TensorDataset:
    # download=True unpacks the .gz files `make data` copied and fetches only what is missing
    raw = FashionMNIST(folder, train=train, download=True)
    images = raw.data.unsqueeze(1).float().div_(255.0)  # (N, 1, 28, 28) in [0, 1]
    return TensorDataset(images, raw.targets)


def data(
    seed: int, data_dir: str | None = None, train_size: int | None = None
) -> tuple[Dataset[tuple[torch.Tensor, ...]], ...]:
    folder = data_dir or os.environ.get("OPTIMIZER_STUDY_DATA_DIR") or "data"
    full = _tensors(folder, train=True)
    order = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed)).tolist()
    validation, training = order[:5000], order[5000:]
    if train_size is not None:
        training = training[:train_size]
    return Subset(full, training), Subset(full, validation), _tensors(folder, train=False)
