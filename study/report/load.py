"""Reading a study back from both stores: its Optuna studies (NAME and NAME.<suffix>) and its MLflow runs.

Nothing here writes: a missing journal or database file is an error, never silently created empty, and every
bad input raises ``ConfigError`` naming the option to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlparse

import optuna
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.models.model import MLMODEL_FILE_NAME
from optuna.distributions import FloatDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial

from study.config import ConfigError
from study.records.locks import local_file
from study.records.store_checks import check_storage, check_tracking_uri
from study.records.stores import open_storage, study_names
from study.records.tracking import child_runs, client_for, find_parent_run
from study.report.records import CURVE_KEYS, StudyData, TrialRecord, Winner
from study.report.setting import Definition
from study.schema import (
    BATCH_SIZE,
    CONFIG_PARAM_PREFIX,
    DEFINITION_ATTR,
    EPOCHS,
    FINAL_FIT_SECONDS,
    FINAL_PREFIX,
    FINAL_ROLE,
    FINAL_SUFFIX,
    FINAL_TEST_ACC,
    FINAL_TEST_LOSS,
    FIT_SECONDS,
    LEGACY_FINAL_PREFIX,
    OPTIMIZER,
    PARENT_RUN_ATTR,
    PROTOCOL_ATTR,
    PROTOCOLS,
    ROLE,
    RUN_ID_ATTR,
    SEARCH,
    SEARCH_ROLE,
    SEED,
    SEED_PROTOCOL,
    SEED_ROLE,
    STATE_REASON,
    TEST_ACC,
    TEST_ACC_METRIC,
    TEST_LOSS,
    TEST_LOSS_METRIC,
    TEST_PREFIX,
    TUNED,
    VAL_ACC,
    Objective,
    best_trial,
    lr_param,
    sub_study,
)
from study.secrets import mask_url

__all__ = ["load_study_data", "local_file", "main_study_name", "open_checked_storage"]


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def open_checked_storage(url: str) -> BaseStorage:
    path = local_file(url)
    if path is not None and not path.is_file():
        raise ConfigError("--storage", f"no such file: {path} (a journal file path or sqlite:///FILE of a study)")
    if path is None:
        check_storage(url)  # connects once to the server, or rejects the scheme
    try:
        storage = open_storage(url)
        optuna.study.get_all_study_names(storage)
    except Exception as err:  # noqa: BLE001 - any failure to read it means the option is wrong
        raise ConfigError(
            "--storage", f"cannot read Optuna studies from {mask_url(url)} ({_first_line(err)})"
        ) from None
    return storage


def _client(tracking_uri: str, experiment: str) -> tuple[MlflowClient, str]:
    if urlparse(tracking_uri).scheme == "sqlite":
        path = local_file(tracking_uri)
        if path is not None and not path.is_file():
            raise ConfigError("--tracking-uri", f"no MLflow database at {path}")
    else:
        check_tracking_uri(tracking_uri)
    client = client_for(tracking_uri)
    try:
        found = client.get_experiment_by_name(experiment)
        known = [e.name for e in client.search_experiments()] if found is None else []
    except Exception as err:  # noqa: BLE001
        raise ConfigError(
            "--tracking-uri", f"cannot read MLflow at {mask_url(tracking_uri)} ({_first_line(err)})"
        ) from None
    if found is None:
        raise ConfigError(
            "--experiment", f"no experiment {experiment!r} at {mask_url(tracking_uri)}; found: {', '.join(known)}"
        )
    return client, found.experiment_id


def _parent_run(client: MlflowClient, experiment_id: str, name: str, studies: list[optuna.Study]) -> Run:
    found = find_parent_run(client, experiment_id, name)
    if found:
        return found
    for study in studies:  # the runner also writes the parent's id into the study
        run_id = study.user_attrs.get(PARENT_RUN_ATTR)
        if run_id:
            try:
                return client.get_run(run_id)
            except Exception:  # noqa: BLE001 - deleted or in another store: try the next
                continue
    raise ConfigError("--study-name", f"no MLflow parent run for study {name!r} in this experiment")


def _history(client: MlflowClient, run: Run) -> dict[str, dict[int, float]]:
    curves: dict[str, dict[int, float]] = {}
    for key in CURVE_KEYS:
        if key not in run.data.metrics:
            continue
        points = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: (m.step, m.timestamp))
        curves[key] = {m.step: m.value for m in points if m.step >= 1}  # the latest value of a step wins
    return curves


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _end_metrics(metrics: Mapping[str, float]) -> dict[str, float]:
    """A child run's end-of-trial metrics, under today's names also for runs written with the legacy prefix."""
    final = {k: v for k, v in metrics.items() if k.startswith((FINAL_PREFIX, TEST_PREFIX))}
    for key, value in metrics.items():
        if key.startswith(LEGACY_FINAL_PREFIX):
            final.setdefault(FINAL_PREFIX + key.removeprefix(LEGACY_FINAL_PREFIX), value)
    return final


def _record(study: str, trial: FrozenTrial, run: Run | None, client: MlflowClient) -> TrialRecord:
    attrs = trial.user_attrs
    optimizer = trial.params.get(OPTIMIZER)
    lr_key = lr_param(str(optimizer))
    distribution = trial.distributions.get(lr_key)
    lr_range = None
    if isinstance(distribution, FloatDistribution) and distribution.low < distribution.high:
        lr_range = (distribution.low, distribution.high)  # a fixed (enqueued) lr is a one-point distribution
    metrics: Mapping[str, float] = run.data.metrics if run else {}
    final = _end_metrics(metrics)
    curves = _history(client, run) if run else {}
    if VAL_ACC not in curves and trial.intermediate_values:
        curves[VAL_ACC] = {int(k): float(v) for k, v in trial.intermediate_values.items()}
    role = attrs.get(ROLE) or (FINAL_ROLE if study.endswith("." + FINAL_SUFFIX) else SEARCH_ROLE)
    epochs = attrs.get(EPOCHS, len(trial.intermediate_values) or None)
    return TrialRecord(
        study=study,
        number=trial.number,
        state=trial.state.name,
        optimizer=optimizer,
        lr=_float(trial.params.get(lr_key)),
        batch_size=trial.params.get(BATCH_SIZE),
        seed=attrs.get(SEED),
        role=str(role),
        value=trial.value if trial.values is not None and len(trial.values) == 1 else None,
        epochs=int(epochs) if epochs is not None else None,
        fit_seconds=_float(attrs.get(FIT_SECONDS, final.get(FINAL_FIT_SECONDS))),
        test_acc=_float(attrs.get(TEST_ACC, final.get(FINAL_TEST_ACC, final.get(TEST_ACC_METRIC)))),
        test_loss=_float(attrs.get(TEST_LOSS, final.get(FINAL_TEST_LOSS, final.get(TEST_LOSS_METRIC)))),
        mlflow_run_id=attrs.get(RUN_ID_ATTR),
        state_reason=attrs.get(STATE_REASON),
        lr_range=lr_range,
        curves=curves,
        final=final,
        tags=dict(run.data.tags) if run else {},
        params=dict(run.data.params) if run else {},
        started=trial.datetime_start,
        completed=trial.datetime_complete,
    )


def _protocol(studies: list[optuna.Study], definition: Mapping[str, str], trials: list[TrialRecord]) -> str:
    """The Optuna studies' protocol attribute, else the recorded definition's, else what the trials' roles tell."""
    for study in studies:
        if study.user_attrs.get(PROTOCOL_ATTR) in PROTOCOLS:
            return str(study.user_attrs[PROTOCOL_ATTR])
    recorded = Definition.read(definition).protocol
    if recorded in PROTOCOLS:
        return str(recorded)
    roles = {t.role for t in trials}
    return TUNED if FINAL_ROLE in roles else SEED_PROTOCOL if SEED_ROLE in roles else SEARCH


def _definition(studies: list[optuna.Study], parent: Run) -> dict[str, str]:
    """The options that define the study's trials: recorded on its Optuna studies when it was created; for a
    study from before they were, the parent run's ``config.*`` params (the first invocation's, the same keys)."""
    for study in studies:
        recorded = study.user_attrs.get(DEFINITION_ATTR)
        if isinstance(recorded, dict):
            return {str(k): str(v) for k, v in recorded.items()}
    params = parent.data.params
    return {k.removeprefix(CONFIG_PARAM_PREFIX): v for k, v in params.items() if k.startswith(CONFIG_PARAM_PREFIX)}


def main_study_name(name: str, protocol: str) -> str:
    """Where the protocol's answer lies (as ``study.workers.export`` exports it): the search, the seed runs, or the
    tuned protocol's retrainings NAME.final."""
    return sub_study(name, FINAL_SUFFIX) if protocol == TUNED else name


def _model_path(client: MlflowClient, run_id: str) -> str | None:
    """The folder of the run's artifacts that holds an MLflow model (its MLmodel file): the exported weights."""
    try:
        folders = [a.path for a in client.list_artifacts(run_id) if a.is_dir]
        for folder in folders:
            if any(a.path == f"{folder}/{MLMODEL_FILE_NAME}" for a in client.list_artifacts(run_id, folder)):
                return folder
    except Exception:  # noqa: BLE001 - an artifact store out of reach: the report says no model was found
        return None
    return None


def _winner(client: MlflowClient, studies: list[optuna.Study], main: str, trials: list[TrialRecord]) -> Winner:
    """The best completed trial of the main study, by that study's own direction, and its exported model."""
    study = next((s for s in studies if s.study_name == main), None)
    if study is None:
        return Winner(main, None)
    objective = Objective(maximize=study.direction == StudyDirection.MAXIMIZE)
    top = best_trial(study.get_trials(deepcopy=False), objective)
    record = next((t for t in trials if top is not None and t.study == main and t.number == top.number), None)
    if record is None or record.mlflow_run_id is None:
        return Winner(main, record)
    return Winner(main, record, _model_path(client, record.mlflow_run_id))


def load_study_data(study_name: str, storage_url: str, tracking_uri: str, experiment: str) -> StudyData:
    storage = open_checked_storage(storage_url)
    names = study_names(storage, study_name)
    if not names:
        known = ", ".join(optuna.study.get_all_study_names(storage)) or "none"
        raise ConfigError("--study-name", f"no study {study_name!r} in {mask_url(storage_url)}; found: {known}")
    client, experiment_id = _client(tracking_uri, experiment)
    studies = [optuna.load_study(study_name=n, storage=storage) for n in names]
    parent = _parent_run(client, experiment_id, study_name, studies)
    children = {run.info.run_id: run for run in child_runs(client, experiment_id, parent.info.run_id)}
    trials = []
    for study in studies:
        for trial in study.get_trials(deepcopy=False):
            run_id = trial.user_attrs.get(RUN_ID_ATTR)
            trials.append(_record(study.study_name, trial, children.get(run_id) if run_id else None, client))
    definition = _definition(studies, parent)
    protocol = _protocol(studies, definition, trials)
    return StudyData(
        name=study_name,
        protocol=protocol,
        studies=tuple(names),
        trials=tuple(trials),
        storage_url=mask_url(storage_url),  # the report shows them: never with a password
        tracking_uri=mask_url(tracking_uri),
        experiment=experiment,
        parent_run_id=parent.info.run_id,
        parent_params=dict(parent.data.params),
        definition=definition,
        winner=_winner(client, studies, main_study_name(study_name, protocol), trials),
    )
