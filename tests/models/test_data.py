"""ImageDataModule: splits, sharing, the real loaders on tiny files, and the error messages."""

from __future__ import annotations

import gzip
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import pytest
import torch

from models import datasets
from models.classifier import ImageClassifier
from models.cnn import ArticleCNN
from models.data import ImageDataModule, split_indices
from models.datasets import DATA_DIR_ENV, DatasetCorruptError, DatasetUnavailableError, resolve_data_dir
from models.device_batches import EpochShuffle

if TYPE_CHECKING:
    from models.conftest import TinyData
    from models.data import _Prepared


def ready(dm: ImageDataModule) -> ImageDataModule:
    dm.prepare_data()
    dm.setup("fit")
    return dm


def prepared(dm: ImageDataModule) -> _Prepared:
    """What ``setup`` built (the test has run it)."""
    assert dm._prepared is not None
    return dm._prepared


def val_indices(dm: ImageDataModule) -> torch.Tensor:
    """The rows of the training set carved out for validation (the module has a validation split)."""
    indices = prepared(dm).val_indices
    assert indices is not None
    return indices


# ------------------------------------------------------------------------------ splits


def test_split_is_seeded_deterministic_and_disjoint() -> None:
    train, val = split_indices(1000, 100, seed=0)
    train_again, val_again = split_indices(1000, 100, seed=0)
    _, val_other = split_indices(1000, 100, seed=1)
    assert torch.equal(train, train_again) and torch.equal(val, val_again)
    assert not torch.equal(val, val_other)
    assert len(val) == 100 and len(train) == 900
    assert torch.equal(torch.cat([train, val]).sort().values, torch.arange(1000))
    subset, _ = split_indices(1000, 100, seed=0, train_size=50)
    assert torch.equal(subset, train[:50])


def test_default_split_on_real_mnist(real_data_dir: Path) -> None:
    dm = ready(ImageDataModule("mnist", data_dir=real_data_dir))
    assert (dm.num_train_samples, dm.num_val_samples) == (55000, 5000)
    assert dm.input_shape == (1, 28, 28) and dm.num_classes == 10
    assert len(dm.train_dataloader()) == 860
    same = ready(ImageDataModule("mnist", data_dir=real_data_dir))
    other = ready(ImageDataModule("mnist", data_dir=real_data_dir, seed=1))
    assert torch.equal(val_indices(dm), val_indices(same))
    assert not torch.equal(val_indices(dm), val_indices(other))
    # decoded once per process: the three modules share the same uint8 tensor
    assert prepared(dm).train_images.data_ptr() == prepared(other).train_images.data_ptr()


def test_validate_on_test_trains_on_everything(real_data_dir: Path) -> None:
    dm = ready(ImageDataModule("mnist", data_dir=real_data_dir, validate_on_test=True))
    assert (dm.num_train_samples, dm.num_val_samples) == (60000, 10000)
    assert len(dm.train_dataloader()) == 938  # the article's steps per epoch
    val_labels = torch.cat([y for _, y in dm.val_dataloader()])
    assert torch.equal(val_labels, torch.cat([y for _, y in dm.test_dataloader()]))
    with pytest.raises(ValueError, match="val_size"):
        ImageDataModule("mnist", validate_on_test=True, val_size=100)


def test_train_size_subset(make_tiny_mnist: Callable[..., TinyData]) -> None:
    tiny = make_tiny_mnist(n_train=60)
    dm = ready(ImageDataModule("mnist", data_dir=tiny.root, val_size=10, train_size=20, batch_size=8))
    full = ready(ImageDataModule("mnist", data_dir=tiny.root, val_size=10, batch_size=8))
    assert dm.num_train_samples == 20 and len(dm.train_dataloader()) == 3
    assert torch.equal(prepared(dm).train_indices, prepared(full).train_indices[:20])
    with pytest.raises(ValueError, match="train_size"):
        ready(ImageDataModule("mnist", data_dir=tiny.root, val_size=10, train_size=51))


def test_with_batch_size_shares_decoded_tensors(
    make_tiny_mnist: Callable[..., TinyData], monkeypatch: pytest.MonkeyPatch
) -> None:
    tiny = make_tiny_mnist()
    dm = ready(ImageDataModule("mnist", data_dir=tiny.root, val_size=10, batch_size=4))

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoded again")

    monkeypatch.setattr(datasets, "load_dataset", no_decoding)
    monkeypatch.setattr("models.data.load_dataset", no_decoding)
    copy = dm.with_batch_size(16)
    copy.prepare_data()
    copy.setup("fit")
    assert copy._prepared is dm._prepared
    assert (copy.batch_size, dm.batch_size) == (16, 4)
    assert len(copy.train_dataloader()) == 4 and len(dm.train_dataloader()) == 13  # 50 samples


def test_data_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert resolve_data_dir() == Path("data")
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert ImageDataModule("mnist").data_dir == tmp_path
    assert resolve_data_dir("elsewhere") == Path("elsewhere")


def test_unknown_dataset_names_accepted_values() -> None:
    with pytest.raises(ValueError, match="mnist, fashion-mnist, cifar10"):
        ImageDataModule("imagenet")


# ------------------------------------------------------------------------------ real loaders, tiny files


def test_tiny_mnist_through_torchvision(make_tiny_mnist: Callable[..., TinyData]) -> None:
    tiny = make_tiny_mnist(n_train=30, n_test=7)
    dm = ready(ImageDataModule("mnist", data_dir=tiny.root, val_size=5, shuffle=False, batch_size=100))
    (x, y), *_ = dm.train_dataloader()
    train = prepared(dm).train_indices
    assert torch.equal(y, tiny.train_labels[train])
    assert torch.equal(x, tiny.train_images[train].float() / 255)
    (x_test, y_test), *_ = dm.test_dataloader()
    assert torch.equal(y_test, tiny.test_labels) and torch.equal(x_test, tiny.test_images.float() / 255)


def test_tiny_cifar_through_torchvision(make_tiny_cifar: Callable[..., TinyData]) -> None:
    tiny = make_tiny_cifar(per_batch=4, n_test=6)
    dm = ready(ImageDataModule("cifar10", data_dir=tiny.root, val_size=5, validate_on_test=False))
    assert dm.input_shape == (3, 32, 32)
    assert (dm.num_train_samples, dm.num_val_samples) == (15, 5)
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (6, 3, 32, 32)
    assert torch.equal(y, tiny.test_labels)
    assert torch.equal(x, tiny.test_images.float() / 255)  # channel planes decoded as (C, H, W)
    standard = ready(ImageDataModule("cifar10", data_dir=tiny.root, val_size=5, normalize="standard"))
    assert standard.normalization is not None
    mean, std = standard.normalization
    pixels = tiny.train_images[prepared(standard).train_indices].double() / 255
    torch.testing.assert_close(torch.tensor(mean), pixels.mean(dim=(0, 2, 3)).float())
    torch.testing.assert_close(torch.tensor(std), pixels.std(dim=(0, 2, 3), unbiased=False).float())


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("name", "folder", "files"),
    [
        ("mnist", "MNIST/raw", ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]),
        ("fashion-mnist", "FashionMNIST/raw", ["train-labels-idx1-ubyte.gz"]),
        ("cifar10", "cifar-10-batches-py", ["data_batch_1", "data_batch_5", "test_batch", "batches.meta"]),
    ],
)
def test_missing_files_offline(offline: None, tmp_path: Path, name: str, folder: str, files: list[str]) -> None:
    dm = ImageDataModule(name, data_dir=tmp_path)
    with pytest.raises(DatasetUnavailableError) as info:
        dm.prepare_data()
    message = str(info.value)
    assert str((tmp_path / folder).resolve()) in message
    assert all(f in message for f in files)
    assert "network access" in message and "Download failed" in message
    assert message.splitlines()[0].startswith(("MNIST", "Fashion-MNIST", "CIFAR-10"))
    # setup never downloads: same error without touching the network
    with pytest.raises(DatasetUnavailableError, match="missing"):
        ImageDataModule(name, data_dir=tmp_path, download=False).setup("fit")


def test_truncated_real_file_names_the_file(real_data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "MNIST" / "raw"
    folder.mkdir(parents=True)
    for src in (real_data_dir / "MNIST" / "raw").glob("*.gz"):
        shutil.copyfile(src, folder / src.name)
    bad = folder / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:1000])
    with pytest.raises(DatasetCorruptError, match="train-labels-idx1-ubyte.gz.*md5") as info:
        ImageDataModule("mnist", data_dir=tmp_path).prepare_data()
    assert str(bad.resolve()) in str(info.value)


def test_bad_gzip_names_the_file(make_tiny_mnist: Callable[..., TinyData]) -> None:
    tiny = make_tiny_mnist(replace={"t10k-images-idx3-ubyte.gz": b"this is not gzip data"})
    with pytest.raises(DatasetCorruptError, match="t10k-images-idx3-ubyte.gz.*not a valid gzip"):
        ImageDataModule("mnist", data_dir=tiny.root, val_size=10).prepare_data()


def test_wrong_idx_size_names_the_file(make_tiny_mnist: Callable[..., TinyData]) -> None:
    header = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (60, 28, 28))
    short = gzip.compress(header + bytes(59 * 28 * 28), mtime=0)  # one image missing
    tiny = make_tiny_mnist(replace={"train-images-idx3-ubyte.gz": short})
    with pytest.raises(DatasetCorruptError, match=r"train-images-idx3-ubyte.gz.*\(60, 28, 28\)"):
        ImageDataModule("mnist", data_dir=tiny.root, val_size=10).prepare_data()


def test_truncated_extracted_file_is_reextracted(make_tiny_mnist: Callable[..., TinyData]) -> None:
    tiny = make_tiny_mnist()
    ready(ImageDataModule("mnist", data_dir=tiny.root, val_size=10))
    plain = tiny.folder / "train-images-idx3-ubyte"
    plain.write_bytes(plain.read_bytes()[:500])  # e.g. an interrupted extraction by another tool
    datasets.clear_cache()
    dm = ready(ImageDataModule("mnist", data_dir=tiny.root, val_size=10))
    assert dm.num_train_samples == 50
    plain.write_bytes(plain.read_bytes()[:500])
    (tiny.folder / "train-images-idx3-ubyte.gz").unlink()  # and no archive to repair it from
    with pytest.raises(DatasetCorruptError, match=f"{plain.name} is corrupt"):
        ImageDataModule("mnist", data_dir=tiny.root, val_size=10, download=False).prepare_data()


def test_corrupt_cifar_pickle(make_tiny_cifar: Callable[..., TinyData]) -> None:
    tiny = make_tiny_cifar()
    (tiny.folder / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(DatasetCorruptError, match="data_batch_3.*md5"):
        ImageDataModule("cifar10", data_dir=tiny.root, val_size=5).prepare_data()


def test_lightning_drives_the_epoch_shuffle(
    make_tiny_mnist: Callable[..., TinyData], make_trainer: Callable[..., L.Trainer]
) -> None:
    """Under Lightning, epoch e is the permutation of (seed, e): reproducible, different per epoch."""
    tiny = make_tiny_mnist()
    dm = ImageDataModule("mnist", data_dir=tiny.root, val_size=10, batch_size=8, seed=5)
    seen: list[torch.Tensor] = []

    class Recorder(ImageClassifier):
        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            seen.append(batch[1].clone())
            return super().training_step(batch, batch_idx)

    model = Recorder(ArticleCNN(), lambda params: torch.optim.SGD(params, lr=0.01))
    make_trainer(max_epochs=2, limit_val_batches=0).fit(model, datamodule=dm)
    expected = []
    for epoch in (0, 1):
        sampler = EpochShuffle(5)
        sampler.set_epoch(epoch)
        expected.append(tiny.train_labels[prepared(dm).train_indices[sampler.permutation(50)]])
    assert not torch.equal(expected[0], expected[1])
    assert torch.equal(torch.cat(seen), torch.cat(expected))


def test_the_dataset_file_lists_are_torchvisions() -> None:
    """``models.dataset_files`` writes out torchvision's names and md5 sums (to check files before torch loads)."""
    from torchvision.datasets import CIFAR10, MNIST, FashionMNIST

    from models.dataset_files import DATASET_FILES

    assert DATASET_FILES["mnist"].files == tuple(MNIST.resources)
    assert DATASET_FILES["fashion-mnist"].files == tuple(FashionMNIST.resources)
    cifar = dict(CIFAR10.train_list + CIFAR10.test_list) | {CIFAR10.meta["filename"]: CIFAR10.meta["md5"]}
    assert dict(DATASET_FILES["cifar10"].files) == cifar
    assert DATASET_FILES["cifar10"].folder == CIFAR10.base_folder
