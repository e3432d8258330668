"""Joining a study: check everything that can be checked without writing, then open both stores under the lock.

``check_config`` and ``load_data`` write nothing, so bad input stops the run before either store exists.
``join`` then takes the study's lock (``study.records.locks``) and, exactly once however many workers start together:
creates the stores' schemas, the MLflow experiment and the study's parent run (or finds them), creates or loads
every (sub-)study of the protocol, queues the trials its budget still lacks (``study.design.protocols.plan``), and
repairs the records a killed process left disagreeing (``study.records.ledger.reconcile``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import optuna
import torch
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from models.data import ImageDataModule
from study.config import PRECISIONS, ConfigError, StudyConfig
from study.design.protocols import Part, parts_of, plan
from study.design.sampling import make_pruner, make_sampler
from study.records.environment import resolve_device
from study.records.ledger import reconcile
from study.records.locks import study_lock
from study.records.stores import check_storage, check_tracking_uri, open_storage
from study.records.tracking import StudyTracker
from study.schema import OBJECTIVE_NAME, PARENT_RUN_ATTR, PROTOCOL_ATTR, SPLIT_SEED_ATTR, TRACKING_URI_ATTR
from study.secrets import mask_url

__all__ = ["Session", "check_config", "join", "load_data"]

DEFAULT_TRACKING_URI = StudyConfig().tracking_uri
CUDA_ONLY_PRECISIONS = ("16-mixed",)  # float16 autocast: Lightning swaps it for bf16-mixed on the CPU


@dataclass
class Session:
    """One process's handle on a study: its configuration, both stores and its (sub-)studies."""

    config: StudyConfig
    storage: BaseStorage
    tracker: StudyTracker
    parts: list[Part]
    studies: dict[str, optuna.Study]
    queued: int  # trials waiting to be run when this process joined
    log: Callable[[str], None] = field(default=print)

    def trials(self) -> list[optuna.trial.FrozenTrial]:
        return [t for p in self.parts for t in self.studies[p.name].get_trials(deepcopy=False)]


def check_config(config: StudyConfig) -> str:
    """Everything that can be checked without writing anything; returns the resolved device."""
    device = resolve_device(config.device)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device", "got 'cuda' but no GPU is visible; accepted: auto, cpu")
    if device == "cpu" and config.precision in CUDA_ONLY_PRECISIONS:
        # Lightning would quietly train in bf16-mixed instead, and the records would name the wrong precision
        accepted = ", ".join(p for p in PRECISIONS if p not in CUDA_ONLY_PRECISIONS)
        raise ConfigError("--precision", f"got {config.precision!r} on the CPU; accepted on the CPU: {accepted}")
    check_tracking_uri(
        config.tracking_uri,
        default=config.tracking_uri == DEFAULT_TRACKING_URI,
        experiment=config.experiment,
        artifact_location=config.artifact_location,
    )
    check_storage(config.storage_url, default=config.storage is None)
    if config.workers > 1 and config.storage_url.startswith("sqlite:"):
        # Optuna's SQLite storage locks the whole file and its retries fail under several writers
        raise ConfigError(
            "--workers",
            f"got {config.workers} with --storage {config.storage_url}; accepted: --workers 1 with SQLite, or "
            "several workers with a journal file (the default) or a database server",
        )
    return device


def load_data(config: StudyConfig, device: str) -> ImageDataModule:
    """Decodes the dataset once for the whole study; each trial reuses it at its own batch size."""
    data = ImageDataModule(
        dataset=config.dataset,
        data_dir=config.data_dir,
        train_size=config.train_size,
        validate_on_test=config.validate_on_test,
        normalize=config.normalize,
        seed=config.split_seed,
        device=device,
    )
    data.prepare_data()
    try:
        data.setup("fit")
    except ValueError as err:  # the only size the split can reject is the requested subset
        raise ConfigError("--train-size", f"{err}; accepted: 1 up to the training split's size") from None
    return data


def _open_part(storage: BaseStorage, part: Part) -> optuna.Study:
    pruner = optuna.pruners.NopPruner() if part.fixed else make_pruner(part.config)
    study = optuna.create_study(
        storage=storage,
        study_name=part.name,
        direction="maximize",
        sampler=make_sampler(part.config, 0),  # replaced per trial (study.design.sampling)
        pruner=pruner,
        load_if_exists=True,
    )
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([OBJECTIVE_NAME])
    return study


def _check_split_seed(storage: BaseStorage, config: StudyConfig) -> None:
    """A study keeps the split it started with: its trials must be comparable."""
    names = {s.study_name: s for s in storage.get_all_studies()}
    for part in parts_of(config):
        existing = names.get(part.name)
        recorded = existing.user_attrs.get(SPLIT_SEED_ATTR) if existing else None
        if recorded is not None and recorded != config.split_seed:
            raise ConfigError(
                "--split-seed",
                f"got {config.split_seed}, but study {config.study_name!r} was run with split seed {recorded}; "
                f"accepted: {recorded} (or a new --study-name)",
            )


def join(config: StudyConfig, log: Callable[[str], None] = print) -> Session:
    """Opens the study's stores and (sub-)studies, queues its budget and repairs its records, under its lock."""
    with study_lock(config.storage_url, config.tracking_uri):
        storage = open_storage(config.storage_url)
        _check_split_seed(storage, config)  # before anything is written: a refused option changes nothing
        tracker = StudyTracker.open(
            config.tracking_uri, config.experiment, config.study_name, config.to_dict(), config.artifact_location
        )
        tracker.reopen()
        parts = parts_of(config)
        studies = {part.name: _open_part(storage, part) for part in parts}
        attrs = {
            PROTOCOL_ATTR: config.protocol,
            PARENT_RUN_ATTR: tracker.parent_run_id,
            TRACKING_URI_ATTR: mask_url(config.tracking_uri),
            SPLIT_SEED_ATTR: config.split_seed,
        }
        for study in studies.values():
            for key, value in attrs.items():
                if study.user_attrs.get(key) != value:
                    study.set_user_attr(key, value)
        ran = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        before = {name: len(s.get_trials(deepcopy=False, states=ran)) for name, s in studies.items()}
        plan(config, studies)
        for name, study in studies.items():
            repaired = reconcile(study, tracker)
            if repaired:
                log(f"{name}: MLflow runs of trials {repaired} repaired to match Optuna")
            if before[name]:
                log(f"continuing study {name!r}: {before[name]} trials already ran")
        waiting = sum(len(s.get_trials(deepcopy=False, states=(TrialState.WAITING,))) for s in studies.values())
    return Session(config, storage, tracker, parts, studies, waiting, log)
