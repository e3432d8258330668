"""The fast input pipeline: batches sliced from uint8 tensors that already live on the device.

A study trains the same small CNN hundreds of times, so the usual ``DataLoader`` path (a PIL
image and a ``ToTensor`` call per sample, collation, a host-to-device copy per batch) would cost
more than the network itself. Instead the decoded dataset stays resident as uint8, each batch is
one ``index_select`` (or a slice, in order) and is normalised on the fly, with exactly the
arithmetic of ``ToTensor()`` (and ``Normalize(mean, std)``), so the values are bit-identical to
the plain torchvision pipeline (``tests/models/test_device_batches.py``).

Shuffling draws one permutation per epoch from a ``torch.Generator`` seeded with the seed and the
epoch number: Lightning calls ``loader.sampler.set_epoch(epoch)`` before every epoch, so a run
is reproducible and a resumed run sees the same order.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["DeviceBatches", "EpochShuffle", "epoch_seed"]


def epoch_seed(seed: int, epoch: int) -> int:
    """A 64-bit generator seed for ``(seed, epoch)``; distinct pairs give independent streams."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0])


class EpochShuffle:
    """Sampler-like object with ``set_epoch``: the permutation of epoch ``e`` depends on ``(seed, e)`` only.

    Iterating the loader without anyone calling ``set_epoch`` advances the epoch by itself, so
    successive epochs still differ.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def permutation(self, n: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        return torch.randperm(n, generator=generator)


class DeviceBatches:
    """An iterable of ``(images float32 (B, C, H, W), labels int64 (B,))`` with ``__len__``.

    Args:
        images: uint8 ``(N, C, H, W)``, on the device batches should live on.
        labels: int64 ``(N,)``, same device.
        indices: the rows of ``images`` that form this split (in order), or None for all rows.
        batch_size: samples per batch; the last batch is smaller unless ``drop_last``.
        sampler: an :class:`EpochShuffle` to reshuffle every epoch, or None to iterate in order.
        mean, std: per-channel statistics (in the 0..1 scale) to standardise with, or None for x / 255.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        indices: torch.Tensor | None,
        batch_size: int,
        *,
        sampler: EpochShuffle | None = None,
        drop_last: bool = False,
        mean: torch.Tensor | None = None,
        std: torch.Tensor | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"Invalid batch_size: {batch_size}")
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        if (mean is None) != (std is None):
            raise ValueError("mean and std go together")
        self.images = images
        self.labels = labels
        self.indices = None if indices is None else indices.to(images.device)
        self.batch_size = batch_size
        self.sampler = sampler  # Lightning calls ``sampler.set_epoch`` before every epoch
        self.batch_sampler = None  # Lightning's shuffle check reads it next to ``sampler``
        self.drop_last = drop_last
        shape = (-1, 1, 1)
        self.mean = None if mean is None else mean.to(images.device, torch.float32).view(shape)
        self.std = None if std is None else std.to(images.device, torch.float32).view(shape)

    @property
    def num_samples(self) -> int:
        return len(self.images) if self.indices is None else len(self.indices)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return -(-self.num_samples // self.batch_size)

    def order(self) -> torch.Tensor | None:
        """Rows of ``images`` in this epoch's order (advancing the sampler's epoch), None for 0..N-1."""
        if self.sampler is None:
            return self.indices
        perm = self.sampler.permutation(self.num_samples)
        self.sampler.epoch += 1  # overwritten by set_epoch when Lightning drives the loop
        perm = perm.to(self.images.device)
        return perm if self.indices is None else self.indices[perm]

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 -> float32 with ``ToTensor``'s arithmetic (then ``Normalize``'s, if standardising)."""
        x = images.to(torch.float32).div_(255)
        if self.mean is not None and self.std is not None:
            x = x.sub_(self.mean).div_(self.std)
        return x

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            stop = min(start + self.batch_size, self.num_samples)
            if order is None:
                x, y = self.images[start:stop], self.labels[start:stop]
            else:
                rows = order[start:stop]
                x, y = self.images.index_select(0, rows), self.labels.index_select(0, rows)
            yield self.normalize(x), y
