"""Fixtures for ``tests/models``: the real data folder, tiny datasets in the real file formats, a logger.

Tiny datasets are written in the exact formats torchvision reads (gzipped IDX for MNIST, pickled
batches for CIFAR-10) and loaded by torchvision's own classes; only the md5 table differs, through a
subclass with the same class name (torchvision derives the folder from it) registered under the
dataset's name for the duration of one test.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers.logger import Logger
from torchvision.datasets import CIFAR10, MNIST

from models import datasets
from models.dataset_files import DATASET_FILES
from models.datasets import DatasetSpec, resolve_data_dir


@pytest.fixture(autouse=True)
def one_cpu_thread() -> Iterator[None]:
    """Run these tests with one intra-op thread, restoring the setting afterwards.

    The CNN's batches are small, so extra threads gain little, and on a loaded CPU (tests run next to
    other jobs) OpenMP's waiting made a step of the article's CNN 5x slower with 2 threads than with 1.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The project's data folder (``$OPTIMIZER_STUDY_DATA_DIR`` or ``data/``) with real MNIST in it."""
    root = resolve_data_dir()
    folder = root / "MNIST" / "raw"
    missing = [name for name, _ in MNIST.resources if not (folder / name).is_file()]
    if missing:
        pytest.fail(
            f"real MNIST files missing in {folder.resolve()}: {', '.join(missing)}; run `make data`",
            pytrace=False,
        )
    return root


# ------------------------------------------------------------------------------ tiny datasets


@dataclass
class TinyData:
    root: Path  # the data_dir to pass to ImageDataModule
    folder: Path  # where the files are
    spec: DatasetSpec
    train_images: torch.Tensor  # uint8 (N, C, H, W)
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """A uint8 IDX file (big-endian header: 0, 0, 0x08, ndim, then each dim)."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _random_split(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


@pytest.fixture
def make_tiny_mnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., TinyData]:
    """Writes a tiny MNIST (gzipped IDX) and registers it as ``"mnist"``.

    ``replace={file name: bytes}`` writes those bytes instead of a file (their md5 is registered),
    to make a corrupt file that passes the md5 check.
    """

    def make(n_train: int = 60, n_test: int = 20, seed: int = 0, replace: dict[str, bytes] | None = None) -> TinyData:
        rng = np.random.default_rng(seed)
        train_x, train_y = _random_split(rng, n_train, (28, 28))
        test_x, test_y = _random_split(rng, n_test, (28, 28))
        root = tmp_path / "data"
        folder = root / "MNIST" / "raw"
        folder.mkdir(parents=True, exist_ok=True)
        contents = {
            "train-images-idx3-ubyte.gz": train_x,
            "train-labels-idx1-ubyte.gz": train_y,
            "t10k-images-idx3-ubyte.gz": test_x,
            "t10k-labels-idx1-ubyte.gz": test_y,
        }
        resources = []
        for name, array in contents.items():
            data = (replace or {}).get(name, gzip.compress(idx_bytes(array), mtime=0))
            (folder / name).write_bytes(data)
            resources.append((name, md5(folder / name)))
        source = type("MNIST", (MNIST,), {"resources": resources})  # same name: same folder
        files = dataclasses.replace(DATASET_FILES["mnist"], files=tuple((n, m) for n, m in resources))
        spec = DatasetSpec("mnist", "MNIST", source, (1, 28, 28), 10, files)
        monkeypatch.setitem(datasets.SPECS, "mnist", spec)
        return TinyData(
            root,
            folder,
            spec,
            torch.from_numpy(train_x).unsqueeze(1),
            torch.from_numpy(train_y).long(),
            torch.from_numpy(test_x).unsqueeze(1),
            torch.from_numpy(test_y).long(),
        )

    return make


@pytest.fixture
def make_tiny_cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., TinyData]:
    """Writes a tiny CIFAR-10 (``cifar-10-batches-py``, pickled batches) and registers it as ``"cifar10"``."""

    def make(per_batch: int = 4, n_test: int = 6, seed: int = 0) -> TinyData:
        rng = np.random.default_rng(seed)
        root = tmp_path / "data"
        folder = root / CIFAR10.base_folder
        folder.mkdir(parents=True, exist_ok=True)

        def write(name: str, entry: dict[str, Any]) -> list[str]:
            with (folder / name).open("wb") as f:
                pickle.dump(entry, f)
            return [name, md5(folder / name)]

        train_x, train_y, train_list = [], [], []
        for b in range(1, 6):
            x, y = _random_split(rng, per_batch, (3 * 32 * 32,))  # rows: R plane, G plane, B plane
            train_x.append(x)
            train_y.append(y)
            entry = {"batch_label": f"training batch {b} of 5", "data": x, "labels": y.tolist()}
            train_list.append(write(f"data_batch_{b}", entry))
        test_x, test_y = _random_split(rng, n_test, (3 * 32 * 32,))
        test_list = [
            write("test_batch", {"batch_label": "testing batch 1 of 1", "data": test_x, "labels": test_y.tolist()})
        ]
        names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        meta_md5 = write("batches.meta", {"label_names": names, "num_cases_per_batch": per_batch})[1]
        source = type(
            "CIFAR10",
            (CIFAR10,),
            {
                "train_list": train_list,
                "test_list": test_list,
                "meta": {"filename": "batches.meta", "key": "label_names", "md5": meta_md5},
            },
        )
        listed = [*train_list, *test_list, ["batches.meta", meta_md5]]
        files = dataclasses.replace(DATASET_FILES["cifar10"], files=tuple((n, m) for n, m in listed))
        spec = DatasetSpec("cifar10", "CIFAR-10", source, (3, 32, 32), 10, files)
        monkeypatch.setitem(datasets.SPECS, "cifar10", spec)
        return TinyData(
            root,
            folder,
            spec,
            torch.from_numpy(np.concatenate(train_x)).view(-1, 3, 32, 32),
            torch.from_numpy(np.concatenate(train_y)).long(),
            torch.from_numpy(test_x).view(-1, 3, 32, 32),
            torch.from_numpy(test_y).long(),
        )

    return make


# ------------------------------------------------------------------------------ logging


class MemoryLogger(Logger):
    """Keeps what Lightning sends to a logger (as MLflow would receive it)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[int | None, dict[str, float]]] = []
        self.hparams: dict[str, Any] = {}

    @property
    def name(self) -> str:
        return "memory"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        self.hparams.update(dict(params))

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.records.append((step, dict(metrics)))

    def series(self, key: str) -> list[float]:
        """Every value logged under ``key``, in order."""
        return [metrics[key] for _, metrics in self.records if key in metrics]


@pytest.fixture
def memory_logger() -> MemoryLogger:
    return MemoryLogger()


@pytest.fixture
def make_trainer() -> Callable[..., L.Trainer]:
    """``make_trainer(max_epochs=1, ...)``: a quiet CPU trainer (no logger, checkpoints, bars or summary)."""

    def make(**overrides: Any) -> L.Trainer:
        kwargs: dict[str, Any] = {
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "accelerator": "cpu",
            "devices": 1,
        }
        kwargs.update(overrides)
        return L.Trainer(**kwargs)

    return make
