"""Joining a study: check everything that can be checked without writing, then open both stores under the lock.

``check_config`` (and ``study.design.tasks.load_task``) write nothing, so bad input stops the run before either
store exists.
``join`` then takes the study's lock (``study.records.locks``) and, exactly once however many workers start together:
creates the stores' schemas, the MLflow experiment and the study's parent run (or finds them), creates or loads
every (sub-)study of the protocol, queues the trials its budget still lacks (``study.design.protocols.plan``), and
repairs the records a killed process left disagreeing (``study.records.ledger.reconcile``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import optuna
import torch
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from study.config import PRECISIONS, ConfigError, StudyConfig
from study.config.definition import definition, refuse_other_definition
from study.design.protocols import Part, parts_of, plan
from study.design.sampling import make_pruner, make_sampler
from study.records.environment import resolve_device
from study.records.ledger import reconcile
from study.records.locks import local_file, study_lock
from study.records.stores import open_storage
from study.records.tracking import StudyTracker, recorded_configuration
from study.schema import (
    DEFINITION_ATTR,
    OBJECTIVE_NAME,
    PARENT_RUN_ATTR,
    PROTOCOL_ATTR,
    SPLIT_SEED_ATTR,
    TRACKING_URI_ATTR,
    VAL_ACC,
)
from study.secrets import mask_url

__all__ = ["Session", "check_config", "join"]

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
    """What only the heavy stack can check (``study.workers.preflight`` did the rest); returns the device."""
    device = resolve_device(config.device)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device", "got 'cuda' but no GPU is visible; accepted: auto, cpu")
    if device == "cpu" and config.precision in CUDA_ONLY_PRECISIONS:
        # Lightning would quietly train in bf16-mixed instead, and the records would name the wrong precision
        accepted = ", ".join(p for p in PRECISIONS if p not in CUDA_ONLY_PRECISIONS)
        raise ConfigError("--precision", f"got {config.precision!r} on the CPU; accepted on the CPU: {accepted}")
    return device


def _open_part(storage: BaseStorage, part: Part) -> optuna.Study:
    pruner = optuna.pruners.NopPruner() if part.fixed else make_pruner(part.config)
    study = optuna.create_study(
        storage=storage,
        study_name=part.name,
        direction=part.config.objective.direction,
        sampler=make_sampler(part.config, 0),  # replaced per trial (study.design.sampling)
        pruner=pruner,
        load_if_exists=True,
    )
    if study.metric_names is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([part.config.metric if part.config.metric != VAL_ACC else OBJECTIVE_NAME])
    return study


def _check_definition(storage: BaseStorage, config: StudyConfig, code: Mapping[str, str]) -> None:
    """Refuses ``config`` if it defines other trials than the study was created with: its Optuna studies' record,
    else (a study from before definitions were recorded) the options its MLflow parent run holds. Reads only."""
    names = {s.study_name: s for s in storage.get_all_studies()}
    for part in parts_of(config):
        existing = names.get(part.name)
        recorded = existing.user_attrs.get(DEFINITION_ATTR) if existing else None
        if isinstance(recorded, dict):
            refuse_other_definition(config.study_name, {str(k): str(v) for k, v in recorded.items()}, config, code)
            return
    legacy = recorded_configuration(config.tracking_uri, config.experiment, config.study_name)
    if legacy is not None:
        refuse_other_definition(config.study_name, legacy, config, only_recorded=True)


def _create_store_folders(config: StudyConfig) -> None:
    """The folders of local store files (``mlruns/`` by default): created now, after every check passed."""
    for url in (config.storage_url, config.tracking_uri):
        path = local_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)


def join(config: StudyConfig, log: Callable[[str], None] = print, code: Mapping[str, str] | None = None) -> Session:
    """Opens the study's stores and (sub-)studies, queues its budget and repairs its records, under its lock.

    A process whose options (or whose task's files, ``code``) define other trials than the study was created with
    is refused (``ConfigError``) before either store is written: one study, one experiment."""
    code = dict(code or {})
    _create_store_folders(config)
    with study_lock(config.storage_url, config.tracking_uri):
        storage = open_storage(config.storage_url)
        _check_definition(storage, config, code)  # before anything is written: a refused option changes nothing
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
            DEFINITION_ATTR: definition(config, code),
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
