"""Reading a study back from both stores: its Optuna studies (NAME and NAME.<suffix>) and its MLflow runs.

Nothing here writes: a missing journal or database file is an error, never silently created empty, and every
bad input raises ``ConfigError`` naming the option to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

import optuna
from mlflow import MlflowClient
from mlflow.entities import Run
from optuna.distributions import FloatDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial

from study.config import ConfigError
from study.report.records import CURVE_KEYS, VAL_ACC, StudyData, TrialRecord
from study.stores import check_storage, check_tracking_uri, open_storage
from study.tracking import ROLE_TAG, STUDY_TAG

__all__ = ["PROTOCOLS", "load_study_data", "local_file", "open_checked_storage", "study_names"]

PROTOCOLS = ("search", "seed", "tuned")
_PAGE = 1000


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def local_file(url: str) -> Path | None:
    """The file behind a journal path or a sqlite URL; None for a database server."""
    if "://" not in url:
        return Path(url)
    if url.startswith("sqlite:"):
        return Path(url.split(":///", 1)[1])
    return None


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
        raise ConfigError("--storage", f"cannot read Optuna studies from {url} ({_first_line(err)})") from None
    return storage


def study_names(storage: BaseStorage, name: str) -> list[str]:
    """NAME first (when it exists), then its sub-studies NAME.<suffix> in name order, NAME.final last: the
    order the tuned protocol runs them in."""
    names = optuna.study.get_all_study_names(storage)
    mine = [n for n in names if n == name or n.startswith(name + ".")]
    return sorted(mine, key=lambda n: (n != name, n == f"{name}.final", n))


def _client(tracking_uri: str, experiment: str) -> tuple[MlflowClient, str]:
    if urlparse(tracking_uri).scheme == "sqlite":
        path = local_file(tracking_uri)
        if path is not None and not path.is_file():
            raise ConfigError("--tracking-uri", f"no MLflow database at {path}")
    else:
        check_tracking_uri(tracking_uri)
    client = MlflowClient(tracking_uri)
    try:
        found = client.get_experiment_by_name(experiment)
        known = [e.name for e in client.search_experiments()] if found is None else []
    except Exception as err:  # noqa: BLE001
        raise ConfigError("--tracking-uri", f"cannot read MLflow at {tracking_uri} ({_first_line(err)})") from None
    if found is None:
        raise ConfigError("--experiment", f"no experiment {experiment!r} at {tracking_uri}; found: {', '.join(known)}")
    return client, found.experiment_id


def _parent_run(client: MlflowClient, experiment_id: str, name: str, studies: list[optuna.Study]) -> Run:
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{ROLE_TAG}` = 'parent' and tags.`{STUDY_TAG}` = '{name}'", max_results=1
    )
    if runs:
        return runs[0]
    for study in studies:  # the runner also writes the parent's id into the study
        run_id = study.user_attrs.get("mlflow_parent_run_id")
        if run_id:
            try:
                return client.get_run(run_id)
            except Exception:  # noqa: BLE001 - deleted or in another store: try the next
                continue
    raise ConfigError("--study-name", f"no MLflow parent run for study {name!r} in this experiment")


def _children(client: MlflowClient, experiment_id: str, parent_run_id: str) -> dict[str, Run]:
    out: dict[str, Run] = {}
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`mlflow.parentRunId` = '{parent_run_id}'",
            max_results=_PAGE,
            page_token=token,
        )
        out.update({run.info.run_id: run for run in page})
        token = page.token
        if not token:
            return out


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


def _record(study: str, trial: FrozenTrial, run: Run | None, client: MlflowClient) -> TrialRecord:
    attrs = trial.user_attrs
    optimizer = trial.params.get("optimizer")
    lr_key = f"lr_{optimizer}"
    distribution = trial.distributions.get(lr_key)
    lr_range = None
    if isinstance(distribution, FloatDistribution) and distribution.low < distribution.high:
        lr_range = (distribution.low, distribution.high)  # a fixed (enqueued) lr is a one-point distribution
    metrics: Mapping[str, float] = run.data.metrics if run else {}
    final = {k: v for k, v in metrics.items() if k.startswith(("final/", "test/"))}
    curves = _history(client, run) if run else {}
    if VAL_ACC not in curves and trial.intermediate_values:
        curves[VAL_ACC] = {int(k): float(v) for k, v in trial.intermediate_values.items()}
    role = attrs.get("role") or ("final" if study.endswith(".final") else "search")
    epochs = attrs.get("epochs", len(trial.intermediate_values) or None)
    return TrialRecord(
        study=study,
        number=trial.number,
        state=trial.state.name,
        optimizer=optimizer,
        lr=_float(trial.params.get(lr_key, attrs.get("lr"))),
        batch_size=trial.params.get("batch_size"),
        seed=attrs.get("seed"),
        role=str(role),
        value=trial.value if trial.values is not None and len(trial.values) == 1 else None,
        epochs=int(epochs) if epochs is not None else None,
        fit_seconds=_float(attrs.get("fit_seconds", final.get("final/fit_seconds"))),
        test_acc=_float(attrs.get("test_acc", final.get("final/test_acc", final.get("test/acc")))),
        test_loss=_float(attrs.get("test_loss", final.get("final/test_loss", final.get("test/loss")))),
        mlflow_run_id=attrs.get("mlflow_run_id"),
        state_reason=attrs.get("state_reason"),
        lr_range=lr_range,
        curves=curves,
        final=final,
        tags=dict(run.data.tags) if run else {},
        params=dict(run.data.params) if run else {},
        started=trial.datetime_start,
        completed=trial.datetime_complete,
    )


def _protocol(studies: list[optuna.Study], parent: Run, trials: list[TrialRecord]) -> str:
    for study in studies:
        if study.user_attrs.get("protocol") in PROTOCOLS:
            return str(study.user_attrs["protocol"])
    if parent.data.params.get("config.protocol") in PROTOCOLS:
        return parent.data.params["config.protocol"]
    roles = {t.role for t in trials}
    return "tuned" if "final" in roles else "seed" if "seed" in roles else "search"


def load_study_data(study_name: str, storage_url: str, tracking_uri: str, experiment: str) -> StudyData:
    storage = open_checked_storage(storage_url)
    names = study_names(storage, study_name)
    if not names:
        known = ", ".join(optuna.study.get_all_study_names(storage)) or "none"
        raise ConfigError("--study-name", f"no study {study_name!r} in {storage_url}; found: {known}")
    client, experiment_id = _client(tracking_uri, experiment)
    studies = [optuna.load_study(study_name=n, storage=storage) for n in names]
    parent = _parent_run(client, experiment_id, study_name, studies)
    children = _children(client, experiment_id, parent.info.run_id)
    trials = []
    for study in studies:
        for trial in study.get_trials(deepcopy=False):
            run_id = trial.user_attrs.get("mlflow_run_id")
            trials.append(_record(study.study_name, trial, children.get(run_id) if run_id else None, client))
    return StudyData(
        name=study_name,
        protocol=_protocol(studies, parent, trials),
        studies=tuple(names),
        trials=tuple(trials),
        storage_url=storage_url,
        tracking_uri=tracking_uri,
        experiment=experiment,
        parent_run_id=parent.info.run_id,
        parent_params=dict(parent.data.params),
    )
