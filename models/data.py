"""``ImageDataModule``: MNIST, Fashion-MNIST and CIFAR-10 for Lightning, on the fast device path.

``prepare_data`` verifies the standard files (downloading missing ones when allowed); ``setup``
decodes them once per process (:mod:`models.datasets`), carves a seeded validation split out of
the training set and places the uint8 tensors on ``device``; the dataloaders are
:class:`~models.device_batches.DeviceBatches`. ``with_batch_size`` returns a copy that shares all
of that, so a study builds one module per process and one cheap copy per trial.

Example::

    dm = ImageDataModule("mnist", batch_size=64)  # 55k train / 5k val, x / 255
    dm.prepare_data()
    dm.setup("fit")
    trainer.fit(model, datamodule=dm.with_batch_size(128))
"""

from __future__ import annotations

import copy
import hashlib
import os
from dataclasses import dataclass, field

import lightning as L
import torch

from models.dataset_files import VAL_SIZE
from models.datasets import (
    DatasetSpec,
    get_dataset_spec,
    load_dataset,
    resolve_data_dir,
)
from models.device_batches import DeviceBatches, EpochShuffle

__all__ = ["NORMALIZATIONS", "ImageDataModule", "channel_stats", "split_indices"]

NORMALIZATIONS = ("unit", "standard")
DEFAULT_EVAL_BATCH_SIZE = 1000


def split_indices(
    num_samples: int, val_size: int, seed: int, train_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random split of ``range(num_samples)``: ``(train, val)`` indices, each sorted.

    ``train_size`` keeps the first ``train_size`` training indices (a subset for quick runs).
    """
    if not 0 < val_size < num_samples:
        raise ValueError(f"Invalid val_size: {val_size} (the training set has {num_samples} samples)")
    perm = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))
    val = perm[:val_size].sort().values
    train = perm[val_size:].sort().values
    if train_size is not None:
        if not 0 < train_size <= len(train):
            raise ValueError(f"Invalid train_size: {train_size} (the training split has {len(train)} samples)")
        train = train[:train_size]
    return train, val


def channel_stats(images: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-channel mean and (population) std of ``images[indices] / 255``, from 256-bin histograms."""
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.zeros(256, dtype=torch.float64)
        for chunk in torch.split(indices, 8192):
            pixels = images.index_select(0, chunk.to(images.device))[:, c].flatten()
            counts += torch.bincount(pixels.to(torch.int64), minlength=256).to("cpu", torch.float64)
        total = counts.sum()
        mean = (counts * values).sum() / total
        var = (counts * (values - mean) ** 2).sum() / total
        means.append(mean / 255)
        stds.append(var.sqrt() / 255)
    return torch.stack(means).float(), torch.stack(stds).float()


@dataclass(frozen=True)
class _Prepared:
    """Everything ``setup`` builds; shared by ``with_batch_size`` copies (read-only)."""

    train_images: torch.Tensor  # uint8 (N, C, H, W) on the device: the official training set
    train_labels: torch.Tensor
    test_images: torch.Tensor  # the official test set
    test_labels: torch.Tensor
    train_indices: torch.Tensor  # rows of train_images used for training
    val_indices: torch.Tensor | None  # rows of train_images used for validation; None: the test set
    mean: torch.Tensor | None  # per-channel, 0..1 scale (normalize="standard"), else None
    std: torch.Tensor | None
    digests: dict[str, str] = field(default_factory=dict)  # ImageDataModule.digests(), computed once


class ImageDataModule(L.LightningDataModule):
    """MNIST / Fashion-MNIST / CIFAR-10 with a seeded train/val split and device-resident batches.

    Args:
        dataset: ``"mnist"``, ``"fashion-mnist"`` or ``"cifar10"``.
        data_dir: the data folder; None: ``$OPTIMIZER_STUDY_DATA_DIR``, else ``data/``.
        batch_size: training batch size.
        val_size: samples carved out of the training set for validation (default 5000: 55k/5k for
            MNIST and Fashion-MNIST, 45k/5k for CIFAR-10).
        train_size: train on only the first N samples of the training split (quick runs).
        validate_on_test: validate on the official test set, as the article did; the whole training
            set then trains (``val_size`` must be None).
        seed: seeds the split, and the per-epoch shuffles unless ``shuffle_seed`` is given.
        device: where the batches live (``"cuda"`` keeps the uint8 dataset in GPU memory).
        normalize: ``"unit"`` (x / 255, the article's Keras preprocessing) or ``"standard"``
            (per-channel mean / std of the training split).
        drop_last: drop the last partial training batch (kept by default: 938 steps of 64 on 60k).
        shuffle: reshuffle the training split every epoch.
        shuffle_seed: seeds the per-epoch shuffles (a study gives each trial its own, keeping the split fixed).
        eval_batch_size: batch size of validation and test (they do not depend on it).
        download: let ``prepare_data`` download missing files.
    """

    def __init__(
        self,
        dataset: str = "mnist",
        *,
        data_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 64,
        val_size: int | None = None,
        train_size: int | None = None,
        validate_on_test: bool = False,
        seed: int = 0,
        device: str | torch.device = "cpu",
        normalize: str = "unit",
        drop_last: bool = False,
        shuffle: bool = True,
        shuffle_seed: int | None = None,
        eval_batch_size: int = DEFAULT_EVAL_BATCH_SIZE,
        download: bool = True,
    ) -> None:
        super().__init__()
        self.spec: DatasetSpec = get_dataset_spec(dataset)
        if batch_size < 1:
            raise ValueError(f"Invalid batch_size: {batch_size}")
        if eval_batch_size < 1:
            raise ValueError(f"Invalid eval_batch_size: {eval_batch_size}")
        if validate_on_test and val_size is not None:
            raise ValueError("val_size has no meaning with validate_on_test=True (the test set validates)")
        if val_size is not None and val_size < 1:
            raise ValueError(f"Invalid val_size: {val_size}")
        if train_size is not None and train_size < 1:
            raise ValueError(f"Invalid train_size: {train_size}")
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"Invalid normalize: {normalize!r} (accepted: {', '.join(NORMALIZATIONS)})")
        self.dataset = dataset
        self.data_dir = resolve_data_dir(data_dir)
        self.batch_size = batch_size
        self.val_size = None if validate_on_test else (VAL_SIZE if val_size is None else val_size)
        self.train_size = train_size
        self.validate_on_test = validate_on_test
        self.seed = seed
        self.device = torch.device(device)
        self.normalize = normalize
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.shuffle_seed = seed if shuffle_seed is None else shuffle_seed
        self.eval_batch_size = eval_batch_size
        self.download = download
        self._prepared: _Prepared | None = None

    # ---------------------------------------------------------------- Lightning hooks

    def prepare_data(self) -> None:
        """Verify the files, downloading missing ones if ``download``; decodes too (once per process)."""
        if self._prepared is None:
            load_dataset(self.spec, self.data_dir, download=self.download)

    def setup(self, stage: str | None = None) -> None:
        """Decode (cached per process), split and move to the device; idempotent."""
        if self._prepared is not None:
            return
        data = load_dataset(self.spec, self.data_dir, download=False)
        if self.validate_on_test:
            train = torch.arange(len(data.train_labels))
            if self.train_size is not None:
                if self.train_size > len(train):
                    raise ValueError(f"Invalid train_size: {self.train_size} (the training set has {len(train)})")
                train = train[: self.train_size]
            val: torch.Tensor | None = None
        else:
            assert self.val_size is not None
            train, val = split_indices(len(data.train_labels), self.val_size, self.seed, self.train_size)
        mean = std = None
        if self.normalize == "standard":
            mean, std = channel_stats(data.train_images, train)
        dev = self.device
        self._prepared = _Prepared(
            train_images=data.train_images.to(dev),
            train_labels=data.train_labels.to(dev),
            test_images=data.test_images.to(dev),
            test_labels=data.test_labels.to(dev),
            train_indices=train.to(dev),
            val_indices=None if val is None else val.to(dev),
            mean=None if mean is None else mean.to(dev),
            std=None if std is None else std.to(dev),
        )

    def train_dataloader(self) -> DeviceBatches:
        p = self._require()
        return DeviceBatches(
            p.train_images,
            p.train_labels,
            p.train_indices,
            self.batch_size,
            sampler=EpochShuffle(self.shuffle_seed) if self.shuffle else None,
            drop_last=self.drop_last,
            mean=p.mean,
            std=p.std,
        )

    def val_dataloader(self) -> DeviceBatches:
        p = self._require()
        if p.val_indices is None:
            return self.test_dataloader()
        return DeviceBatches(
            p.train_images, p.train_labels, p.val_indices, self.eval_batch_size, mean=p.mean, std=p.std
        )

    def test_dataloader(self) -> DeviceBatches:
        p = self._require()
        return DeviceBatches(p.test_images, p.test_labels, None, self.eval_batch_size, mean=p.mean, std=p.std)

    # ---------------------------------------------------------------- study helpers

    def with_batch_size(self, batch_size: int, shuffle_seed: int | None = None) -> ImageDataModule:
        """A copy with another training batch size (and shuffle seed), sharing the decoded, device-resident
        tensors and the split."""
        if batch_size < 1:
            raise ValueError(f"Invalid batch_size: {batch_size}")
        clone = copy.copy(self)
        clone.batch_size = batch_size
        if shuffle_seed is not None:
            clone.shuffle_seed = shuffle_seed
        clone.trainer = None
        return clone

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return self.spec.input_shape

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    @property
    def num_train_samples(self) -> int:
        """Samples per training epoch (after ``setup``)."""
        return len(self._require().train_indices)

    @property
    def num_val_samples(self) -> int:
        p = self._require()
        return len(p.test_labels) if p.val_indices is None else len(p.val_indices)

    def digests(self) -> dict[str, str]:
        """A fingerprint of exactly what trains and what validates (images, labels, the split), per part:
        two studies with equal digests trained and validated on the same samples."""
        p = self._require()
        if p.digests:
            return dict(p.digests)
        parts = {"training": (p.train_images, p.train_labels, p.train_indices)}
        if p.val_indices is None:
            parts["validation"] = (p.test_images, p.test_labels, torch.arange(len(p.test_labels)))
        else:
            parts["validation"] = (p.train_images, p.train_labels, p.val_indices)
        out = {}
        for part, (images, labels, rows) in parts.items():
            digest = hashlib.sha256()
            rows = rows.cpu()
            for tensor in (images.cpu()[rows], labels.cpu()[rows]):
                digest.update(tensor.contiguous().numpy().tobytes())
            out[part] = digest.hexdigest()[:16]
        p.digests.update(out)
        return out

    @property
    def normalization(self) -> tuple[list[float], list[float]] | None:
        """``(mean, std)`` per channel used by ``normalize="standard"`` (after ``setup``), else None."""
        p = self._require()
        if p.mean is None or p.std is None:
            return None
        return p.mean.tolist(), p.std.tolist()

    def _require(self) -> _Prepared:
        if self._prepared is None:
            raise RuntimeError("ImageDataModule: call prepare_data() and setup() first (trainer.fit does both)")
        return self._prepared
