"""MLflow records of a study: one parent run per study, one nested child run per Optuna trial.

Small code of our own instead of optuna-integration's deprecated ``MLflowCallback``: it knows the parent/child
layout, maps Optuna states onto MLflow statuses (a pruned trial is KILLED, a failed one FAILED, never a plain
FINISHED), and logs metrics once per epoch in one batch. Everything goes through an explicit
``MlflowClient`` bound to the tracking URI: nothing falls back to MLflow's global state or ``file:./mlruns``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mlflow import MlflowClient
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_PARENT_RUN_ID

from study.config.definition import flatten_params
from study.records.locks import local_file
from study.records.sqlite_template import seed_sqlite_store
from study.records.store_checks import database_has_experiment, mlflow_uri
from study.schema import (
    CONFIG_PARAM_PREFIX,
    MLFLOW_STATUS,
    PARENT_ROLE,
    REASON_TAG,
    ROLE_TAG,
    RUNNING,
    STATE_TAG,
    STUDY_TAG,
    SUMMARY_ARTIFACT,
    TRIAL_ROLE,
    TRIAL_TAG,
    sub_study_suffix,
)

__all__ = [
    "EXPERIMENT_KIND_TAG",
    "TRAINING_VIEW",
    "StudyTracker",
    "child_runs",
    "client_for",
    "default_artifact_location",
    "find_parent_run",
    "recorded_configuration",
]

# What the MLflow UI (3.x) reads to choose its view, model training rather than GenAI evaluation: the experiment's
# kind tag, and a page's workflowType parameter (its sidebar toggle, which overrides the tag; it starts on GenAI).
EXPERIMENT_KIND_TAG, TRAINING = "mlflow.experimentKind", "custom_model_development"
TRAINING_VIEW = "?workflowType=machine_learning"

_PAGE = 1000  # runs per search page
_BATCH = 900  # MLflow accepts at most 1000 metrics and 100 params per log_batch call


def _now_ms() -> int:
    return int(time.time() * 1000)


def default_artifact_location(tracking_uri: str) -> str | None:
    """Artifacts of a SQLite store live beside its database, not under whatever folder the run started in.

    An MLflow server (http) puts them under its own artifact root: None leaves it to the server. Any other
    database has no sensible default here (MLflow's own would be ``./mlruns`` of the current directory), so
    ``check_tracking_uri`` asks for ``--artifact-location`` before anything is created.
    """
    if not tracking_uri.startswith("sqlite:///"):
        return None
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    return (database.resolve().parent / "artifacts").as_uri()


def client_for(tracking_uri: str) -> MlflowClient:
    """A client of the tracking store; an http(s) address's credentials go to MLflow's own variables."""
    return MlflowClient(mlflow_uri(tracking_uri))


def _experiment_id(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """The experiment's id, created if missing (another process creating it at the same instant is fine), tagged
    so that the MLflow UI opens it on its model-training view (runs, charts), not the GenAI pages."""
    found = client.get_experiment_by_name(name)
    if found is None:
        with contextlib.suppress(MlflowException):  # another process created it at the same instant
            client.create_experiment(name, artifact_location=artifact_location, tags={EXPERIMENT_KIND_TAG: TRAINING})
        found = client.get_experiment_by_name(name)
        if found is None:
            raise MlflowException(f"experiment {name!r} could not be created")
    if found.tags.get(EXPERIMENT_KIND_TAG) != TRAINING:
        client.set_experiment_tag(found.experiment_id, EXPERIMENT_KIND_TAG, TRAINING)
    return str(found.experiment_id)


def recorded_configuration(tracking_uri: str, experiment: str, study_name: str) -> dict[str, str] | None:
    """The configuration the study's parent run was created with (its ``config.*`` params, without the prefix), or
    None when the store, the experiment or the run does not exist. Reads only: a missing store is not created."""
    path = local_file(tracking_uri)
    if path is not None and not path.is_file():
        return None
    database = urlsplit(tracking_uri).scheme.split("+")[0] in ("postgresql", "mysql", "mssql")
    if database and not database_has_experiment(tracking_uri, experiment):
        return None
    client = client_for(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    parent = find_parent_run(client, found.experiment_id, study_name) if found else None
    if parent is None:
        return None
    params = parent.data.params
    return {k.removeprefix(CONFIG_PARAM_PREFIX): v for k, v in params.items() if k.startswith(CONFIG_PARAM_PREFIX)}


def find_parent_run(client: MlflowClient, experiment_id: str, study_name: str) -> Run | None:
    """The study's parent run in the experiment, found by its tags."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{ROLE_TAG}` = '{PARENT_ROLE}' and tags.`{STUDY_TAG}` = '{study_name}'",
        max_results=1,
    )
    return runs[0] if runs else None


def child_runs(client: MlflowClient, experiment_id: str, parent_run_id: str, where: str = "") -> list[Run]:
    """Every child run of the parent (all pages), optionally narrowed by a further filter clause."""
    clause = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'" + (f" and {where}" if where else "")
    out: list[Run] = []
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=clause, max_results=_PAGE, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


class StudyTracker:
    """The MLflow side of one study: finds or creates its parent run and writes the trials' child runs."""

    def __init__(self, client: MlflowClient, experiment_id: str, parent_run_id: str, study_name: str) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.parent_run_id = parent_run_id
        self.study_name = study_name

    @classmethod
    def open(
        cls,
        tracking_uri: str,
        experiment: str,
        study_name: str,
        config: Mapping[str, Any],
        artifact_location: str | None = None,
    ) -> StudyTracker:
        """Continues the study's parent run if one exists in the experiment, else creates it.

        Call it under the study's lock (``study.records.locks``): the lock makes "find, else create" happen once.
        """
        seed_sqlite_store(tracking_uri)  # a new SQLite store in milliseconds instead of MLflow's migrations
        client = client_for(tracking_uri)
        experiment_id = _experiment_id(client, experiment, artifact_location or default_artifact_location(tracking_uri))
        parent = find_parent_run(client, experiment_id, study_name)
        if parent:
            run_id = parent.info.run_id
            known = parent.data.params
        else:
            run = client.create_run(
                experiment_id,
                run_name=f"study-{study_name}",
                tags={ROLE_TAG: PARENT_ROLE, STUDY_TAG: study_name},
            )
            run_id = run.info.run_id
            known = {}
        tracker = cls(client, experiment_id, run_id, study_name)
        # Params are immutable in MLflow: the first invocation's configuration stays; each invocation's own
        # configuration is kept whole as an artifact, named so that workers starting together do not collide.
        new = {k: v for k, v in flatten_params(config, CONFIG_PARAM_PREFIX).items() if k not in known}
        tracker._log(run_id, params=new)
        stamp = f"{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}-{os.getpid()}"
        client.log_dict(run_id, dict(config), f"invocations/config-{stamp}.json")
        return tracker

    def reopen(self) -> None:
        """Marks the parent run RUNNING again: a worker is at work on the study."""
        self.client.update_run(self.parent_run_id, status=MLFLOW_STATUS[RUNNING])

    def _log(
        self,
        run_id: str,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        step: int = 0,
    ) -> None:
        ts = _now_ms()
        m = [Metric(k, float(v), ts, step) for k, v in (metrics or {}).items()]
        p = [Param(k, v) for k, v in (params or {}).items()]
        t = [RunTag(k, v) for k, v in (tags or {}).items()]
        while m or p or t:
            self.client.log_batch(run_id, metrics=m[:_BATCH], params=p[:90], tags=t[:90])
            m, p, t = m[_BATCH:], p[90:], t[90:]

    def start_trial(
        self,
        study_name: str,
        trial_number: int,
        optimizer: str,
        params: Mapping[str, Any],
        tags: Mapping[str, str],
        link: Callable[[str], None] | None = None,
    ) -> str:
        """Creates the trial's child run, named after the trial and its optimizer, with all its params.

        ``link(run_id)`` runs as soon as the run exists, before anything else is written to it: the Optuna trial
        names its run even if what follows fails. Trials of a sub-study (``NAME.adam``, ``NAME.final``) are
        children of the same parent; their run names start with the sub-study's suffix.
        """
        suffix = sub_study_suffix(study_name, self.study_name)
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{suffix + '-' if suffix else ''}trial-{trial_number:03d}-{optimizer}",
            tags={
                MLFLOW_PARENT_RUN_ID: self.parent_run_id,
                ROLE_TAG: TRIAL_ROLE,
                STUDY_TAG: study_name,
                TRIAL_TAG: str(trial_number),
                STATE_TAG: RUNNING,
            },
        )
        run_id: str = run.info.run_id
        if link is not None:
            link(run_id)
        self._log(run_id, params=flatten_params(params), tags=dict(tags))
        return run_id

    def log_datasets(self, run_id: str, datasets: Mapping[str, Dataset]) -> None:
        """The run's inputs, by their role (``mlflow.data.context``: training, validation): the Dataset column."""
        inputs = [DatasetInput(d, [InputTag(MLFLOW_DATASET_CONTEXT, role)]) for role, d in datasets.items()]
        self.client.log_inputs(run_id, inputs)

    def log_epoch(self, run_id: str, epoch: int, metrics: Mapping[str, float]) -> None:
        """One batch per epoch: the epoch number (1-based) is the MLflow step."""
        self._log(run_id, metrics=metrics, step=epoch)

    def tag_trial(self, run_id: str, tags: Mapping[str, str]) -> None:
        self._log(run_id, tags=tags)

    def record_end(
        self,
        run_id: str,
        state: str,
        metrics: Mapping[str, float] | None = None,
        reason: str | None = None,
        step: int = 0,
    ) -> None:
        """Final metrics and the Optuna state (and reason) as tags; the status follows in ``terminate``."""
        tags = {STATE_TAG: state}
        if reason:
            tags[REASON_TAG] = reason[:5000]
        self._log(run_id, metrics=metrics, tags=tags, step=step)

    def terminate(self, run_id: str, state: str) -> None:
        """The MLflow status matching the Optuna state: FINISHED, KILLED (pruned) or FAILED."""
        self.client.set_terminated(run_id, status=MLFLOW_STATUS[state])

    def end_trial(self, run_id: str, state: str, reason: str | None = None) -> None:
        """Both at once: for a run that is only being brought in line with Optuna (nothing left to log)."""
        self.record_end(run_id, state, reason=reason)
        self.terminate(run_id, state)

    def runs_by_trial(self, study_name: str) -> dict[int, list[Run]]:
        """Every child run of one (sub-)study by trial number, oldest first (a trial has one, unless a start was
        cut short after creating a run: ``study.records.ledger.reconcile`` removes the extra ones)."""
        runs = child_runs(self.client, self.experiment_id, self.parent_run_id, f"tags.`{STUDY_TAG}` = '{study_name}'")
        out: dict[int, list[Run]] = {}
        for run in sorted(runs, key=lambda r: r.info.start_time or 0):
            number = run.data.tags.get(TRIAL_TAG, "")
            if number.isdigit():
                out.setdefault(int(number), []).append(run)
        return out

    def trial_runs(self, study_name: str) -> dict[int, Run]:
        """The child runs of one (sub-)study by trial number (the newest when a number has several)."""
        return {number: runs[-1] for number, runs in self.runs_by_trial(study_name).items()}

    def delete_run(self, run_id: str) -> None:
        """Moves a run to MLflow's deleted lifecycle stage (restorable; hidden from searches and the UI)."""
        self.client.delete_run(run_id)

    def finish(
        self, status: str, metrics: Mapping[str, float], tags: Mapping[str, str], summary: Mapping[str, Any]
    ) -> None:
        """Closes the parent run with the study's summary (best trial, counts)."""
        self._log(self.parent_run_id, metrics=metrics, tags=tags)
        self.client.log_text(self.parent_run_id, json.dumps(summary, indent=2, default=str), SUMMARY_ARTIFACT)
        self.client.set_terminated(self.parent_run_id, status=status)

    def parent_url_path(self) -> str:
        """The MLflow UI's page of the study, in its model-training view (runs, charts; not the GenAI pages)."""
        return f"#/experiments/{self.experiment_id}/runs/{self.parent_run_id}{TRAINING_VIEW}"
