"""The files each dataset needs, and a check of them that imports nothing but the standard library.

The names and md5 sums are torchvision's (``MNIST.resources``, ``FashionMNIST.resources``, ``CIFAR10``'s lists;
``tests/models/test_data.py`` checks they agree), written out here so that a missing or corrupt file is found
before torch is even imported: a study refuses bad data in well under a second, before it writes anything.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

__all__ = [
    "DATASET_FILES",
    "DATA_DIR_ENV",
    "VAL_SIZE",
    "DatasetFiles",
    "FileProblem",
    "file_problems",
    "idx_problem",
    "md5_of",
    "resolve_data_dir",
]

DATA_DIR_ENV = "OPTIMIZER_STUDY_DATA_DIR"
DEFAULT_DATA_DIR = "data"
VAL_SIZE = 5000  # images held out of the training set for validation (unless the test set validates)


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``data_dir``, else ``$OPTIMIZER_STUDY_DATA_DIR``, else ``data/``."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR
    return Path(data_dir).expanduser()


@dataclass(frozen=True)
class DatasetFiles:
    """Where a dataset's files live under the data folder, and what they must be."""

    title: str  # for messages, e.g. "Fashion-MNIST"
    folder: str  # relative to the data folder
    files: tuple[tuple[str, str], ...]  # (file name, md5): a tuple, so that a dataset's description is hashable
    idx: bool  # gzipped IDX files (the MNIST family), each also accepted decompressed beside itself
    train_samples: int  # images in the official training set

    def path(self, root: Path) -> Path:
        return root / self.folder


DATASET_FILES: Mapping[str, DatasetFiles] = MappingProxyType(
    {
        "mnist": DatasetFiles(
            "MNIST",
            "MNIST/raw",
            (
                ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
            ),
            idx=True,
            train_samples=60000,
        ),
        "fashion-mnist": DatasetFiles(
            "Fashion-MNIST",
            "FashionMNIST/raw",
            (
                ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
            ),
            idx=True,
            train_samples=60000,
        ),
        "cifar10": DatasetFiles(
            "CIFAR-10",
            "cifar-10-batches-py",
            (
                ("data_batch_1", "c99cafc152244af753f735de768cd75f"),
                ("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"),
                ("data_batch_3", "54ebc095f3ab1f0389bbae665268c751"),
                ("data_batch_4", "634d18415352ddfa80567beed471001a"),
                ("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"),
                ("test_batch", "40351d587109b95175f43aff81a1287e"),
                ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888"),
            ),
            idx=False,
            train_samples=50000,
        ),
    }
)


@dataclass(frozen=True)
class FileProblem:
    name: str  # the expected file's name
    problem: str  # "missing", or why the file present is not the one expected

    @property
    def missing(self) -> bool:
        return self.problem == "missing"


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def idx_problem(path: Path) -> str | None:
    """Why ``path`` is not a well-formed uint8 IDX file (None when it is)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] != 0x08 or not 1 <= head[3] <= 3:
            return f"not a uint8 IDX file (magic bytes {head.hex() or 'missing'})"
        ndim = head[3]
        dims_raw = f.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        return "IDX header truncated"
    dims = [int.from_bytes(dims_raw[4 * i : 4 * i + 4], "big") for i in range(ndim)]
    expected = 4 + 4 * ndim + math.prod(dims)
    if size != expected:
        return f"IDX header says shape {tuple(dims)} ({expected} bytes) but the file has {size} bytes"
    return None


def file_problems(dataset: str, root: Path) -> list[FileProblem]:
    """What is wrong with ``dataset``'s files under ``root``: missing ones, and present ones whose md5 (or, for a
    decompressed IDX file without its archive, whose size) is not the expected one. Reads only."""
    spec = DATASET_FILES[dataset]
    folder = spec.path(root)
    out = []
    for name, md5 in spec.files:
        path = folder / name
        plain = folder / name.removesuffix(".gz")
        try:
            if path.is_file():
                actual = md5_of(path)
                if actual != md5:
                    out.append(FileProblem(name, f"md5 {actual} does not match the expected {md5} (truncated?)"))
            elif spec.idx and plain.is_file():
                problem = idx_problem(plain)
                if problem is not None:
                    out.append(FileProblem(plain.name, problem))
            else:
                out.append(FileProblem(name, "missing"))
        except OSError as err:
            out.append(FileProblem(name, f"unreadable ({err.strerror or err})"))
    return out
