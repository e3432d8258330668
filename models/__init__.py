"""The network, the LightningModule and the data: ``optimizers`` <- ``models`` <- ``study``.

``models`` depends on torch, torchvision and Lightning only (never on optuna, mlflow or ``study``).
"""

from __future__ import annotations

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
