"""Everything a study run can check before it writes a byte, with nothing heavier than SQLAlchemy imported.

``python -m study.run`` calls ``preflight`` right after parsing its options, before torch, Lightning, Optuna or
MLflow load: the stores' addresses (reachable, writable, not in memory), the data (the folder exists, the files
are there and intact), and the counts (the training subset against the split, each batch size against the
training set, workers and threads against this machine's cores and memory). A bad value is a ``ConfigError``:
one line, exit 2, and no folder or file created. What only the heavy stack can tell (a GPU, a download) and what
only the stores can (the study's recorded definition) follow in ``study.workers.session``, still before a write.
"""

from __future__ import annotations

import os
from pathlib import Path

from models.dataset_files import DATA_DIR_ENV, DATASET_FILES, VAL_SIZE, file_problems, resolve_data_dir
from study.config import DEFAULT_STORAGE, ConfigError, StudyConfig
from study.records.store_checks import check_storage, check_tracking_uri

__all__ = [
    "WORKER_MEMORY_BYTES",
    "check_counts",
    "check_data",
    "check_stores",
    "check_task_files",
    "preflight",
    "training_samples",
]

# What one worker process holds at most on this CPU (torch, Lightning, the decoded dataset, a step's buffers):
# about 1.2 GB measured for MNIST at batch 256 (README); CIFAR-10's images add 0.2 GB.
WORKER_MEMORY_BYTES = 1_500_000_000
DEFAULT_TRACKING_URI = StudyConfig().tracking_uri


def preflight(config: StudyConfig) -> None:
    """Raises ConfigError for the first bad value found; writes nothing."""
    check_task_files(config)
    check_counts(config)
    check_data(config)
    check_stores(config)


def check_task_files(config: StudyConfig) -> None:
    """A ``--model`` or ``--data`` given as a path names a file that exists (importing it comes later, with torch)."""
    for option, reference in (("--model", config.model), ("--data", config.data)):
        module = (reference or "").rpartition(":")[0]
        if (module.endswith(".py") or "/" in module) and not Path(module).is_file():
            raise ConfigError(
                option,
                f"got {reference!r}: no file {module}; accepted: MODULE:CALLABLE: an importable module or a path to a "
                ".py file, and a callable in it",
            )


def check_stores(config: StudyConfig) -> None:
    check_tracking_uri(
        config.tracking_uri,
        default=config.tracking_uri == DEFAULT_TRACKING_URI,
        experiment=config.experiment,
        artifact_location=config.artifact_location,
    )
    check_storage(config.storage_url, default=config.storage_url == DEFAULT_STORAGE)
    if config.workers > 1 and config.storage_url.startswith("sqlite:"):
        # Optuna's SQLite storage locks the whole file and its retries fail under several writers
        raise ConfigError(
            "--workers",
            f"got {config.workers} with --storage {config.storage_url}; accepted: --workers 1 with SQLite, or "
            "several workers with a journal file (the default) or a database server",
        )


def _data_option(config: StudyConfig) -> str:
    """How the user set the data folder: the option, the environment variable, or neither (the default)."""
    if config.data_dir is None and os.environ.get(DATA_DIR_ENV):
        return DATA_DIR_ENV
    return "--data-dir"


def check_data(config: StudyConfig) -> None:
    """The data folder exists (unless it is the default, where a download may create it) and the files in it are
    intact. Missing files are left to the download, which writes nothing unless it succeeds."""
    if config.data is not None:
        return  # the user's data: loaded and checked with the task (study.design.tasks)
    option = _data_option(config)
    given = config.data_dir is not None or option == DATA_DIR_ENV
    root = resolve_data_dir(config.data_dir)
    spec = DATASET_FILES[config.dataset]
    accepted = f"a folder holding {spec.title}'s files in {spec.folder}/ (`make data` copies them from ../shared/data)"
    if root.exists() and not root.is_dir():
        raise ConfigError(option, f"got {str(root)!r}, which is a file; accepted: {accepted}")
    if given and not root.is_dir():
        raise ConfigError(option, f"got {str(root)!r}, which does not exist; accepted: {accepted}")
    damaged = [p for p in file_problems(config.dataset, root) if not p.missing]
    if damaged:
        first = damaged[0]
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise ConfigError(
            option,
            f"got {str(root)!r}: {spec.folder}/{first.name} is damaged: {first.problem}{more}; accepted: {accepted}, "
            "intact (delete a damaged file to download it again)",
        )


def _split(config: StudyConfig) -> int:
    """The images of the training split: the official training set, less the validation images held out."""
    return DATASET_FILES[config.dataset].train_samples - (0 if config.validate_on_test else VAL_SIZE)


def training_samples(config: StudyConfig) -> int:
    """The images a trial trains on per epoch."""
    return min(_split(config), config.train_size) if config.train_size is not None else _split(config)


def check_counts(config: StudyConfig) -> None:
    """The training subset fits the split, each batch size the training set, the workers this machine."""
    _check_workers(config)
    if config.data is not None:
        return  # the user's data: its size is known once it is loaded (study.design.tasks checks the batch sizes)
    split = _split(config)
    if config.train_size is not None and config.train_size > split:
        raise ConfigError(
            "--train-size", f"got {config.train_size}; accepted: 1 up to the training split's size ({split})"
        )
    samples = training_samples(config)
    too_large = [size for size in config.batch_sizes if size > samples]
    if too_large:
        raise ConfigError(
            "--batch-sizes",
            f"got {','.join(map(str, too_large))}, larger than the {samples} training images; accepted: batch "
            f"sizes up to {samples}",
        )


def _check_workers(config: StudyConfig) -> None:
    """Workers and threads against this machine's cores, workers against its free memory."""
    cores = os.cpu_count() or 1
    if config.workers > cores:
        raise ConfigError("--workers", f"got {config.workers}; accepted: 1 to {cores} (this machine's cores)")
    threads = config.threads_per_worker
    if threads is not None and threads * config.workers > cores:
        raise ConfigError(
            "--threads-per-worker",
            f"got {threads} for {config.workers} worker(s); accepted: at most {cores // config.workers} "
            f"({cores} cores shared by the workers)",
        )
    available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 0
    if available and config.workers > 1 and config.workers * WORKER_MEMORY_BYTES > available:
        fits = max(1, available // WORKER_MEMORY_BYTES)
        raise ConfigError(
            "--workers",
            f"got {config.workers}, which need about {config.workers * WORKER_MEMORY_BYTES / 1e9:.1f} GB; "
            f"accepted: up to {fits} ({available / 1e9:.1f} GB of memory free, about "
            f"{WORKER_MEMORY_BYTES / 1e9:.1f} GB per worker)",
        )
