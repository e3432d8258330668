"""Find, verify, download and decode the image datasets, once per process.

The files are the standard ones read by torchvision's own dataset classes (``MNIST``,
``FashionMNIST``, ``CIFAR10``), under ``<data_dir>/MNIST/raw/``, ``<data_dir>/FashionMNIST/raw/``
and ``<data_dir>/cifar-10-batches-py/``. Before torchvision reads them, every file is checked
against the md5 that torchvision lists, so a missing, truncated or corrupt file is reported as one
:class:`DatasetUnavailableError` that names the file and says how to get a good copy; the
network is only touched when a file is missing and ``download=True``.

Decoding yields uint8 image tensors ``(N, C, H, W)`` and int64 labels, cached per process so a
study that builds many data modules decodes each dataset once.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

import torch
from torchvision.datasets import CIFAR10, MNIST, FashionMNIST, VisionDataset
from torchvision.datasets.utils import calculate_md5

from models.dataset_files import DATA_DIR_ENV, DATASET_FILES, DatasetFiles, idx_problem, resolve_data_dir

__all__ = [
    "DATASET_NAMES",
    "DATA_DIR_ENV",
    "DatasetCorruptError",
    "DatasetSpec",
    "DatasetUnavailableError",
    "DecodedDataset",
    "clear_cache",
    "ensure_files",
    "get_dataset_spec",
    "load_dataset",
    "resolve_data_dir",
    "torchvision_dataset",
]


class DatasetUnavailableError(Exception):
    """A dataset cannot be used: files missing (and not downloadable) or corrupt. ``str()`` is the message (a few
    lines: what is missing, how to get it), ``summary`` the same in one line."""

    def __init__(self, message: str, summary: str | None = None) -> None:
        super().__init__(message)
        self.summary = summary or " ".join(message.split())


class DatasetCorruptError(DatasetUnavailableError):
    """A dataset file is present but truncated or corrupt (bad gzip, wrong md5, wrong IDX size)."""


@dataclass(frozen=True)
class DatasetSpec:
    """What the loader needs to know about one dataset."""

    name: str  # the name accepted by ImageDataModule, e.g. "fashion-mnist"
    title: str  # for messages, e.g. "Fashion-MNIST"
    source: type[VisionDataset]  # the torchvision class that reads the files
    input_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    files: DatasetFiles | None = None  # its files and their md5 (default: the standard ones, DATASET_FILES)

    @property
    def file_set(self) -> DatasetFiles:
        return self.files or DATASET_FILES[self.name]

    @property
    def is_idx(self) -> bool:
        """MNIST-format (gzipped IDX files) rather than CIFAR's pickled batches."""
        return issubclass(self.source, MNIST)

    def folder(self, root: Path) -> Path:
        """Where the files live under ``root``."""
        return self.file_set.path(root)

    def expected_files(self) -> list[tuple[str, str]]:
        """``(file name, md5)`` of every file the dataset needs, as torchvision lists them."""
        return list(self.file_set.files)

    def download_hint(self) -> str:
        if self.is_idx:
            return ", ".join(self.source.mirrors)
        return str(self.source.url)


SPECS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("mnist", "MNIST", MNIST, (1, 28, 28), 10),
    "fashion-mnist": DatasetSpec("fashion-mnist", "Fashion-MNIST", FashionMNIST, (1, 28, 28), 10),
    "cifar10": DatasetSpec("cifar10", "CIFAR-10", CIFAR10, (3, 32, 32), 10),
}
DATASET_NAMES = tuple(SPECS)


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec of ``name``; ``ValueError`` naming the accepted values otherwise."""
    try:
        return SPECS[name]
    except KeyError:
        raise ValueError(f"Unknown dataset {name!r} (accepted: {', '.join(DATASET_NAMES)})") from None


@dataclass(frozen=True)
class DecodedDataset:
    """A dataset decoded into tensors: images uint8 ``(N, C, H, W)``, labels int64 ``(N,)``."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: tuple[str, ...]


# ----------------------------------------------------------------------------------------------
# verifying and fetching files


def _unavailable_message(spec: DatasetSpec, folder: Path, missing: list[str], reason: str | None) -> str:
    lines = [f"{spec.title} is not available: files missing in {folder.resolve()}"]
    for name, _ in spec.expected_files():
        lines.append(f"  {name}{'  (missing)' if name in missing else ''}")
    if reason:
        lines.append(f"Download failed: {reason}")
    lines.append(
        f"Copy these files there (set ${DATA_DIR_ENV} or data_dir to use another folder), "
        f"or run with network access to download them (from {spec.download_hint()})."
    )
    return "\n".join(lines)


def _corrupt_message(path: Path, problem: str, spec: DatasetSpec) -> str:
    return (
        f"{spec.title} file {path.resolve()} is corrupt: {problem}. "
        "Delete it and copy a good one there, or run with network access to download it again."
    )


def _check_md5(spec: DatasetSpec, path: Path, md5: str) -> None:
    actual = calculate_md5(path)
    if actual != md5:
        raise DatasetCorruptError(
            _corrupt_message(path, f"md5 {actual} does not match the expected {md5} (truncated?)", spec)
        )


def _extract_gzip(spec: DatasetSpec, gz: Path, target: Path) -> None:
    """Decompress ``gz`` to ``target`` atomically (a temp file renamed), so concurrent readers never
    see a partial file."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as err:
        raise DatasetUnavailableError(
            f"{spec.title}: cannot write the decompressed files into {target.parent.resolve()}: {err}"
        ) from None
    try:
        with gzip.open(gz, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600
        os.replace(tmp, target)
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, (gzip.BadGzipFile, EOFError, zlib.error)):
            raise DatasetCorruptError(_corrupt_message(gz, f"not a valid gzip file ({err})", spec)) from None
        raise DatasetUnavailableError(f"{spec.title}: cannot decompress {gz.resolve()}: {err}") from None


def _download(spec: DatasetSpec, root: Path) -> str | None:
    """Let torchvision download the dataset into a temporary folder, then move the files it lacks under ``root``;
    the failure reason (one line), or None on success. A failed download leaves ``root`` as it was."""
    with tempfile.TemporaryDirectory(prefix="optimizer-study-download-") as tmp:
        try:
            spec.source(tmp, train=True, download=True)
        except (URLError, OSError, RuntimeError) as err:
            return " ".join(str(err).split()) or type(err).__name__
        fetched, folder = spec.folder(Path(tmp)), spec.folder(root)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name, _ in spec.expected_files():
                if (fetched / name).is_file() and not (folder / name).exists():
                    shutil.move(fetched / name, folder / name)
        except OSError as err:
            return f"cannot write into {folder}: {err.strerror or err}"
    return None


def ensure_files(spec: DatasetSpec, root: Path, *, download: bool = False) -> None:
    """Make sure ``spec``'s files are under ``root`` and intact, downloading missing ones if allowed.

    Files present are verified against torchvision's md5 and never re-downloaded; gzipped IDX
    files are decompressed next to themselves (as torchvision does) and their size checked
    against the IDX header. Raises :class:`DatasetUnavailableError` / :class:`DatasetCorruptError`.
    """
    folder = spec.folder(root)
    expected = spec.expected_files()

    def missing_files() -> list[str]:
        missing = []
        for name, _ in expected:
            plain = folder / name.removesuffix(".gz")
            if not (folder / name).is_file() and not (spec.is_idx and plain.is_file()):
                missing.append(name)
        return missing

    missing = missing_files()
    if missing:
        reason = _download(spec, root) if download else None
        missing = missing_files()
        if missing:
            failed = f"; the download failed: {reason}" if reason else ""
            summary = f"{spec.title} files missing in {folder}: {', '.join(missing)}{failed}"
            raise DatasetUnavailableError(_unavailable_message(spec, folder, missing, reason), summary)

    for name, md5 in expected:
        path = folder / name
        if path.is_file():
            _check_md5(spec, path, md5)
        if not spec.is_idx:
            continue
        plain = folder / name.removesuffix(".gz")
        if path.is_file() and (not plain.is_file() or idx_problem(plain) is not None):
            _extract_gzip(spec, path, plain)  # missing, or left half-written by an interrupted extraction
        problem = idx_problem(plain)
        if problem is not None:
            raise DatasetCorruptError(_corrupt_message(path if path.is_file() else plain, problem, spec))


# ----------------------------------------------------------------------------------------------
# decoding


def torchvision_dataset(
    spec: DatasetSpec, root: Path, *, train: bool, transform: object | None = None
) -> VisionDataset:
    """torchvision's own dataset object over the (verified) files, e.g. for a plain ``DataLoader``."""
    ensure_files(spec, root, download=False)
    try:
        return spec.source(str(root), train=train, transform=transform, download=False)
    except Exception as err:  # assertions in the IDX reader, pickle errors, ...
        raise DatasetCorruptError(
            f"{spec.title} files in {spec.folder(root).resolve()} could not be decoded: {type(err).__name__}: {err}"
        ) from None


def _to_tensors(ds: VisionDataset) -> tuple[torch.Tensor, torch.Tensor]:
    data = ds.data
    if isinstance(data, torch.Tensor):  # MNIST family: (N, H, W) uint8
        images = data.unsqueeze(1).contiguous()
    else:  # CIFAR: numpy (N, H, W, C) uint8
        images = torch.from_numpy(data).permute(0, 3, 1, 2).contiguous()
    labels = torch.as_tensor(ds.targets, dtype=torch.int64)
    return images, labels


_CACHE: dict[tuple[object, ...], DecodedDataset] = {}


def _fingerprint(spec: DatasetSpec, root: Path) -> tuple[object, ...]:
    folder = spec.folder(root)
    stats = []
    for name, _ in spec.expected_files():
        for candidate in {folder / name, folder / name.removesuffix(".gz")}:
            try:
                st = candidate.stat()
            except OSError:
                continue
            stats.append((candidate.name, st.st_size, st.st_mtime_ns))
    return (spec, str(root.resolve()), tuple(sorted(stats)))


def load_dataset(spec: DatasetSpec, root: Path, *, download: bool = False) -> DecodedDataset:
    """Verify (or download) and decode ``spec`` under ``root``; cached per process and file state."""
    key = _fingerprint(spec, root)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    ensure_files(spec, root, download=download)
    train = torchvision_dataset(spec, root, train=True)
    test = torchvision_dataset(spec, root, train=False)
    train_images, train_labels = _to_tensors(train)
    test_images, test_labels = _to_tensors(test)
    folder = spec.folder(root).resolve()
    for split, images, labels in (("train", train_images, train_labels), ("test", test_images, test_labels)):
        if images.shape[1:] != spec.input_shape or len(images) != len(labels):
            raise DatasetCorruptError(
                f"{spec.title} {split} split in {folder} has images of shape {tuple(images.shape)} and "
                f"{len(labels)} labels; expected (N, *{spec.input_shape}) with one label per image"
            )
        if len(labels) and (int(labels.min()) < 0 or int(labels.max()) >= spec.num_classes):
            raise DatasetCorruptError(f"{spec.title} {split} labels in {folder} are outside 0..{spec.num_classes - 1}")
    decoded = DecodedDataset(train_images, train_labels, test_images, test_labels, tuple(getattr(train, "classes", ())))
    _CACHE[_fingerprint(spec, root)] = decoded  # after extraction the plain files exist: key on them
    return decoded


def clear_cache() -> None:
    """Forget decoded datasets (tests)."""
    _CACHE.clear()
