"""Your data as a study trains on it: a LightningDataModule of yours, or datasets wrapped in one.

A study sets each trial's batch size and orders each trial's samples by the trial's seed; it also needs the
data's shape, its number of classes, its sizes and a fingerprint of what trains and what validates. ``UserData``
gives the same view of your data as ``models.data.ImageDataModule`` gives of the built-in datasets:

- datasets ``(train, validation[, test])`` are wrapped in ``DatasetsModule``: batches of the trial's size, the
  training set shuffled every epoch by a generator seeded with the trial's seed;
- a ``LightningDataModule`` keeps its own loaders: its ``batch_size`` attribute is set for each trial (a module
  built by a callable that takes ``batch_size`` is built again for each trial instead), and its shuffling draws
  from torch's generator, which each trial seeds with its own seed.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["DatasetsModule", "UserData", "fingerprint"]

EVAL_BATCH_SIZE = 1000


class DatasetsModule(L.LightningDataModule):
    """``(train, validation[, test])`` datasets as a data module with a batch size and a seeded shuffle."""

    def __init__(
        self, train: Dataset[Any], val: Dataset[Any], test: Dataset[Any] | None, batch_size: int, seed: int
    ) -> None:
        super().__init__()
        self.train, self.val, self.test = train, val, test
        self.batch_size, self.seed = batch_size, seed

    def train_dataloader(self) -> DataLoader[Any]:
        generator = torch.Generator().manual_seed(self.seed)  # the trial's seed orders every epoch
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True, generator=generator)

    def val_dataloader(self) -> DataLoader[Any]:
        return DataLoader(self.val, batch_size=EVAL_BATCH_SIZE)

    def test_dataloader(self) -> DataLoader[Any]:
        return DataLoader(self.test if self.test is not None else self.val, batch_size=EVAL_BATCH_SIZE)


def _tensors(item: Any) -> Iterable[torch.Tensor]:
    if isinstance(item, torch.Tensor):
        yield item
    elif isinstance(item, list | tuple):
        for part in item:
            yield from _tensors(part)
    elif isinstance(item, dict):
        for key in sorted(item):
            yield from _tensors(item[key])
    elif isinstance(item, int | float):
        yield torch.tensor(item)


def fingerprint(samples: Iterable[Any]) -> str:
    """16 hex digits of a hash of every tensor in ``samples`` (samples or batches), in order."""
    digest = hashlib.sha256()
    for sample in samples:
        for tensor in _tensors(sample):
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _in_order(loader: Any) -> Iterable[Any]:
    """A loader's samples in their dataset's own order (a shuffled loader would change the fingerprint)."""
    dataset = getattr(loader, "dataset", None)
    if dataset is not None and hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
        return (dataset[i] for i in range(len(dataset)))
    batches: Iterable[Any] = iter(loader)
    return batches


class UserData:
    """Your data for a study (see the module docstring). ``rebuild(batch_size)`` builds a data module again for
    each trial when your callable takes the batch size; otherwise ``module`` is copied with the trial's."""

    def __init__(
        self,
        module: L.LightningDataModule,
        rebuild: Callable[[int], L.LightningDataModule] | None,
        num_classes: int | None,
        name: str,
    ) -> None:
        module.prepare_data()
        module.setup("fit")
        self.module, self.rebuild, self.name = module, rebuild, name
        first = next(iter(module.train_dataloader()))
        inputs = first[0] if isinstance(first, list | tuple) else first
        self._input_shape = tuple(int(d) for d in inputs.shape[1:])
        self._num_classes = num_classes if num_classes is not None else self._count_classes()
        self._digests: dict[str, str] = {}

    @classmethod
    def of_datasets(cls, datasets: Sequence[Dataset[Any]], num_classes: int | None, name: str) -> UserData:
        train, val, *rest = datasets
        return cls(DatasetsModule(train, val, rest[0] if rest else None, 64, 0), None, num_classes, name)

    def _count_classes(self) -> int:
        """One more than the largest validation label: what a classifier needs when the data does not say."""
        top = -1
        for batch in self.module.val_dataloader():
            labels = batch[1] if isinstance(batch, list | tuple) and len(batch) > 1 else None
            if isinstance(labels, torch.Tensor) and labels.numel():
                top = max(top, int(labels.max()))
        return top + 1

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._input_shape

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def num_train_samples(self) -> int:
        return len(self.module.train_dataloader().dataset)

    @property
    def num_val_samples(self) -> int:
        return len(self.module.val_dataloader().dataset)

    def with_batch_size(self, batch_size: int, shuffle_seed: int | None = None) -> L.LightningDataModule:
        if self.rebuild is not None:
            module = self.rebuild(batch_size)
            module.prepare_data()
            module.setup("fit")
            return module
        module = copy.copy(self.module)
        module.batch_size = batch_size  # type: ignore[attr-defined]  # checked when the data was loaded
        if isinstance(module, DatasetsModule) and shuffle_seed is not None:
            module.seed = shuffle_seed
        module.trainer = None
        return module

    def val_dataloader(self) -> Any:
        return self.module.val_dataloader()

    def digests(self) -> dict[str, str]:
        if not self._digests:
            self._digests = {
                "training": fingerprint(_in_order(self.module.train_dataloader())),
                "validation": fingerprint(_in_order(self.module.val_dataloader())),
            }
        return dict(self._digests)
