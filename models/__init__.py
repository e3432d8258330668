"""The network, the LightningModule and the data: ``optimizers`` <- ``models`` <- ``study``.

``models`` depends on torch, torchvision and Lightning only (never on optuna, mlflow or ``study``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.classifier import ImageClassifier, OptimizerFactory, SchedulerFactory
    from models.cnn import ArticleCNN, count_parameters
    from models.data import ImageDataModule
    from models.datasets import (
        DATA_DIR_ENV,
        DATASET_NAMES,
        DatasetCorruptError,
        DatasetUnavailableError,
        resolve_data_dir,
    )

# Imported on first use, so that ``models.metric_names`` can be read without importing torch.
_HOMES = {
    "ImageClassifier": "models.classifier",
    "OptimizerFactory": "models.classifier",
    "SchedulerFactory": "models.classifier",
    "ArticleCNN": "models.cnn",
    "count_parameters": "models.cnn",
    "ImageDataModule": "models.data",
    "DATA_DIR_ENV": "models.datasets",
    "DATASET_NAMES": "models.datasets",
    "DatasetCorruptError": "models.datasets",
    "DatasetUnavailableError": "models.datasets",
    "resolve_data_dir": "models.datasets",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")


__all__ = [
    "DATASET_NAMES",
    "DATA_DIR_ENV",
    "ArticleCNN",
    "DatasetCorruptError",
    "DatasetUnavailableError",
    "ImageClassifier",
    "ImageDataModule",
    "OptimizerFactory",
    "SchedulerFactory",
    "count_parameters",
    "resolve_data_dir",
]
