"""The fast path yields exactly what the plain torchvision pipeline yields, in the same order."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset
from torchvision.transforms import Compose, Normalize, ToTensor

from models.data import ImageDataModule
from models.datasets import get_dataset_spec, torchvision_dataset
from models.device_batches import DeviceBatches, EpochShuffle


class ListSampler(torch.utils.data.Sampler[int]):
    def __init__(self, order: list[int]) -> None:
        self.order = order

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


def assert_same_batches(fast: DeviceBatches, plain: DataLoader[tuple[torch.Tensor, torch.Tensor]], count: int) -> None:
    for (x_fast, y_fast), (x_plain, y_plain) in islice(zip(fast, plain, strict=False), count):
        assert x_fast.dtype == x_plain.dtype == torch.float32
        assert torch.equal(x_fast, x_plain)
        assert torch.equal(y_fast, y_plain)


def test_train_batches_equal_torchvision_pipeline(real_data_dir: Path) -> None:
    dm = ImageDataModule("mnist", data_dir=real_data_dir, batch_size=64, seed=3)
    dm.prepare_data()
    dm.setup("fit")
    fast = dm.train_dataloader()
    assert fast.sampler is not None
    fast.sampler.set_epoch(2)
    # the same permutation, expressed as dataset indices for a plain DataLoader
    assert dm._prepared is not None
    train_indices = dm._prepared.train_indices
    perm = EpochShuffle(3)
    perm.set_epoch(2)
    order = train_indices[perm.permutation(len(train_indices))].tolist()
    dataset = torchvision_dataset(get_dataset_spec("mnist"), real_data_dir, train=True, transform=ToTensor())
    plain = DataLoader(dataset, batch_size=64, sampler=ListSampler(order))
    assert len(fast) == len(plain) == 860  # 55000 / 64, last partial batch kept
    assert_same_batches(fast, plain, count=4)


def test_standardized_val_and_test_batches_equal_torchvision_pipeline(real_data_dir: Path) -> None:
    dm = ImageDataModule("mnist", data_dir=real_data_dir, normalize="standard", eval_batch_size=500)
    dm.setup("fit")
    assert dm.normalization is not None
    (mean,), (std,) = dm.normalization
    assert abs(mean - 0.1307) < 2e-3 and abs(std - 0.3081) < 2e-3  # MNIST's well-known statistics
    transform = Compose([ToTensor(), Normalize((mean,), (std,))])
    spec = get_dataset_spec("mnist")
    train = torchvision_dataset(spec, real_data_dir, train=True, transform=transform)
    assert dm._prepared is not None and dm._prepared.val_indices is not None
    val_plain = DataLoader(Subset(train, dm._prepared.val_indices.tolist()), batch_size=500)
    assert_same_batches(dm.val_dataloader(), val_plain, count=2)
    test = torchvision_dataset(spec, real_data_dir, train=False, transform=transform)
    assert_same_batches(dm.test_dataloader(), DataLoader(test, batch_size=500), count=2)


def test_article_step_count_and_partial_batch() -> None:
    images = torch.zeros(60000, 1, 2, 2, dtype=torch.uint8)
    labels = torch.zeros(60000, dtype=torch.int64)
    batches = DeviceBatches(images, labels, None, 64, sampler=EpochShuffle(0))
    assert len(batches) == 938  # the article's steps per epoch
    sizes = [len(y) for _, y in batches]
    assert len(sizes) == 938 and sizes[-1] == 60000 - 937 * 64 and sum(sizes) == 60000
    dropped = DeviceBatches(images, labels, None, 64, sampler=EpochShuffle(0), drop_last=True)
    assert len(dropped) == 937 == len(list(dropped))


def test_each_epoch_is_a_seeded_permutation() -> None:
    images = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1)
    labels = torch.arange(10)
    indices = torch.tensor([1, 3, 4, 6, 8, 9])

    def epoch_order(seed: int, epoch: int) -> list[int]:
        sampler = EpochShuffle(seed)
        sampler.set_epoch(epoch)
        batches = DeviceBatches(images, labels, indices, 4, sampler=sampler)
        return torch.cat([y for _, y in batches]).tolist()

    assert sorted(epoch_order(0, 0)) == indices.tolist()
    assert epoch_order(0, 0) == epoch_order(0, 0)
    assert len({tuple(epoch_order(0, e)) for e in range(6)}) > 1  # reshuffled every epoch
    assert [epoch_order(0, e) for e in range(6)] != [epoch_order(1, e) for e in range(6)]
    # without set_epoch, iterating again advances to the next epoch
    loader = DeviceBatches(images, labels, indices, 4, sampler=EpochShuffle(0))
    first, second = (torch.cat([y for _, y in loader]).tolist() for _ in range(2))
    assert (first, second) == (epoch_order(0, 0), epoch_order(0, 1))


def test_unshuffled_iteration_is_in_order_and_unit_scaled() -> None:
    images = torch.tensor([0, 51, 255, 102, 204], dtype=torch.uint8).view(5, 1, 1, 1)
    labels = torch.arange(5)
    batches = DeviceBatches(images, labels, torch.tensor([0, 2, 3]), 2)
    (x1, y1), (x2, y2) = batches
    assert y1.tolist() == [0, 2] and y2.tolist() == [3]
    assert x1.flatten().tolist() == [0.0, 1.0] and x2.flatten().tolist() == [torch.tensor(102 / 255).item()]
