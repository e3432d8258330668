"""Opening a study: check everything that can be checked without writing, load the data, open both stores.

``check_config`` and ``load_data`` write nothing, so bad input stops the run before either store exists.
``open_session`` then opens the Optuna storage and the MLflow parent run (found or created) and ``open_study``
creates or continues one (sub-)study inside it, repairing the records of trials whose process died.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
import torch
from optuna.storages import BaseStorage

from models.data import ImageDataModule
from study.config import ConfigError, StudyConfig
from study.environment import resolve_device
from study.progress import Progress
from study.recovery import recover_interrupted
from study.sampling import make_pruner, make_sampler
from study.schema import PARENT_RUN_ATTR, PROTOCOL_ATTR, TRACKING_URI_ATTR
from study.stores import check_storage, check_tracking_uri, open_storage
from study.tracking import StudyTracker

__all__ = ["Session", "check_config", "load_data", "open_session", "open_study"]

DEFAULT_TRACKING_URI = StudyConfig().tracking_uri


@dataclass
class Session:
    """One process's handle on a study: its configuration, both stores, the data and the progress display."""

    config: StudyConfig
    storage: BaseStorage
    tracker: StudyTracker
    data: ImageDataModule
    device: str
    progress: Progress
    log: Callable[[str], None] = field(default=print)


def check_config(config: StudyConfig) -> str:
    """Everything that can be checked without writing anything; returns the resolved device."""
    device = resolve_device(config.device)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device", "got 'cuda' but no GPU is visible; accepted: auto, cpu")
    check_tracking_uri(config.tracking_uri, default=config.tracking_uri == DEFAULT_TRACKING_URI)
    check_storage(config.storage_url, default=config.storage is None)
    return device


def load_data(config: StudyConfig, device: str) -> ImageDataModule:
    """Decodes the dataset once for the whole study; each trial reuses it at its own batch size."""
    data = ImageDataModule(
        dataset=config.dataset,
        data_dir=config.data_dir,
        train_size=config.train_size,
        validate_on_test=config.validate_on_test,
        normalize=config.normalize,
        seed=config.seed,
        device=device,
    )
    data.prepare_data()
    try:
        data.setup("fit")
    except ValueError as err:  # the only size the split can reject is the requested subset
        raise ConfigError("--train-size", f"{err}; accepted: 1 up to the training split's size") from None
    return data


def open_session(
    config: StudyConfig, device: str, data: ImageDataModule, log: Callable[[str], None] = print
) -> Session:
    """Opens the Optuna storage and finds or creates the study's MLflow parent run."""
    storage = open_storage(config.storage_url)
    tracker = StudyTracker.open(config.tracking_uri, config.experiment, config.study_name, config.to_dict())
    progress = Progress(config.n_trials, config.timeout, config.max_epochs)
    return Session(config, storage, tracker, data, device, progress, log)


def open_study(
    session: Session,
    name: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Creates or continues a (sub-)study, links it to the MLflow parent run, and repairs killed trials."""
    existing = name in optuna.study.get_all_study_names(session.storage)
    n_before = len(optuna.load_study(study_name=name, storage=session.storage).trials) if existing else 0
    study = optuna.create_study(
        storage=session.storage,
        study_name=name,
        direction="maximize",
        sampler=sampler or make_sampler(session.config, n_before),
        pruner=pruner or make_pruner(session.config),
        load_if_exists=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["val_acc"])
    study.set_user_attr(PROTOCOL_ATTR, session.config.protocol)
    study.set_user_attr(PARENT_RUN_ATTR, session.tracker.parent_run_id)
    study.set_user_attr(TRACKING_URI_ATTR, session.config.tracking_uri)
    recovered = recover_interrupted(study, session.storage, session.tracker)
    if recovered:
        session.log(f"{name}: marked trials {recovered} FAIL: their process died mid-trial")
    if n_before:
        session.log(f"continuing study {name!r}: {n_before} earlier trials")
    return study
