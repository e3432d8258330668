"""A trial's end, written to both stores in an order that no signal or kill can split, and the repair of any
disagreement a kill left behind.

The order of ``commit``:

1. MLflow: the final metrics and the state (and reason) as tags; the run stays RUNNING.
2. Optuna: the user attributes, then ``tell``: the commit point. Optuna's state is the truth.
3. MLflow: the status matching Optuna's state.

SIGINT and SIGTERM are held for the whole sequence (``Interrupts.held``). A kill between two steps leaves MLflow
behind Optuna, never ahead of it in a way that cannot be told: ``reconcile`` (run by every worker that joins
the study) makes each finished trial's run carry Optuna's state and status, and gives a run to a failed trial
that has none. A trial still RUNNING is left to ``study.workers.liveness``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from study.records.failures import StoreError, writes_to
from study.records.optuna_internals import refreshed, set_trial_attr
from study.records.tracking import StudyTracker
from study.schema import (
    ADOPTED_TAG,
    BATCH_SIZE,
    FAIL,
    LR,
    MLFLOW_STATUS,
    OPTIMIZER,
    ROLE,
    RUN_ID_ATTR,
    SEED,
    STATE_REASON,
    STATE_TAG,
    lr_param,
)

__all__ = ["Outcome", "commit", "crashed", "reconcile"]

NO_RUN_REASON = "its process stopped before the trial's MLflow run was recorded"


@dataclass(frozen=True)
class Outcome:
    """How a trial ended, as the worker will record it."""

    state: str  # COMPLETE, PRUNED or FAIL (study.schema)
    value: float | None = None  # COMPLETE: the best validation accuracy
    reason: str | None = None  # PRUNED and FAIL: why
    metrics: Mapping[str, float] = field(default_factory=dict)  # the run's final metrics
    step: int = 0  # epochs trained: the MLflow step of the final metrics
    attrs: Mapping[str, Any] = field(default_factory=dict)  # Optuna user attributes to set
    interrupted: bool = False  # Ctrl-C or SIGTERM: stop the worker once recorded


def crashed(err: Exception) -> Outcome:
    """The outcome of a trial that an exception ended: FAIL, with the exception as its reason."""
    return Outcome(FAIL, reason=f"{type(err).__name__}: {err}".strip())


def run_params(trial: FrozenTrial) -> dict[str, Any]:
    """What a run created after the fact can say about its trial: optimizer, lr, batch size, role and seed."""
    optimizer = trial.params.get(OPTIMIZER)
    values = {
        OPTIMIZER: optimizer,
        LR: trial.params.get(lr_param(str(optimizer))),
        BATCH_SIZE: trial.params.get(BATCH_SIZE),
        ROLE: trial.user_attrs.get(ROLE),
        SEED: trial.user_attrs.get(SEED),
    }
    return {k: v for k, v in values.items() if v is not None}


def commit(study: optuna.Study, trial: FrozenTrial, run_id: str | None, outcome: Outcome, tracker: StudyTracker) -> str:
    """Writes the end of claimed ``trial`` (call it with signals held); returns the state Optuna holds afterwards.

    If another worker already failed the trial (it judged it dead), Optuna keeps that state and the run
    follows it. If MLflow refuses the first write, Optuna is still told (it is the truth, and the next run's
    ``reconcile`` brings the run in line) before the ``StoreError`` is raised.
    """
    refused: StoreError | None = None
    try:
        with writes_to("--tracking-uri"):
            run_id = run_id or _created_run(study, trial, tracker)
            tracker.record_end(run_id, outcome.state, outcome.metrics, outcome.reason, outcome.step)
    except StoreError as err:
        refused = err
    attrs = dict(outcome.attrs)
    if outcome.reason:
        attrs[STATE_REASON] = outcome.reason[:1000]
    with writes_to("--storage"):
        try:
            for key, value in attrs.items():
                set_trial_attr(study, trial, key, value)
        except UpdateFinishedTrialError:
            pass  # finished by another worker: tell() below keeps its state
        if outcome.state == TrialState.COMPLETE.name:
            frozen = study.tell(trial.number, outcome.value, skip_if_finished=True)
        else:
            frozen = study.tell(trial.number, state=TrialState[outcome.state], skip_if_finished=True)
    if refused is not None:
        raise refused
    assert run_id is not None, "created above, or MLflow refused"
    state = frozen.state.name
    with writes_to("--tracking-uri"):
        if state != outcome.state:
            tracker.record_end(run_id, state, reason=frozen.user_attrs.get(STATE_REASON))
        tracker.terminate(run_id, state)
    return state


def _created_run(study: optuna.Study, trial: FrozenTrial, tracker: StudyTracker) -> str:
    """The run of a trial that ended before its start created one (or created and linked it, then failed): linked
    to the trial while the trial is still open, so the Optuna trial always names its run."""
    now = refreshed(study, trial)
    linked = now.user_attrs.get(RUN_ID_ATTR)
    if isinstance(linked, str):
        return linked

    def link(new: str) -> None:
        with contextlib.suppress(UpdateFinishedTrialError):  # failed by another worker meanwhile
            set_trial_attr(study, trial, RUN_ID_ATTR, new)

    return tracker.start_trial(
        study.study_name, trial.number, str(now.params.get(OPTIMIZER)), run_params(now), {}, link
    )


def reconcile(study: optuna.Study, tracker: StudyTracker) -> list[int]:
    """Makes every finished trial's MLflow run agree with Optuna; returns the numbers of the trials repaired.

    A trial's run is the one it names (its run id attribute), else the newest of its number; another run of the
    same trial (a start cut short after creating one, by an earlier version) is deleted, so each trial has one."""
    runs = tracker.runs_by_trial(study.study_name)
    repaired = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)):
        state = trial.state.name
        reason = trial.user_attrs.get(STATE_REASON)
        mine = runs.get(trial.number, [])
        linked = [r for r in mine if r.info.run_id == trial.user_attrs.get(RUN_ID_ATTR)]
        run = linked[0] if linked else mine[-1] if mine else None
        extra = [r for r in mine if r is not run]
        for other in extra:
            tracker.delete_run(other.info.run_id)
        # a finished trial's attributes can no longer be written: a run it does not name is adopted by a tag
        adopted = {ADOPTED_TAG: "true"}
        if run is None:
            optimizer = str(trial.params.get(OPTIMIZER))
            run_id = tracker.start_trial(study.study_name, trial.number, optimizer, run_params(trial), adopted)
            tracker.end_trial(run_id, state, reason=reason or NO_RUN_REASON)
            repaired.append(trial.number)
            continue
        fixed = bool(extra)
        if RUN_ID_ATTR not in trial.user_attrs and run.data.tags.get(ADOPTED_TAG) != "true":
            tracker.tag_trial(run.info.run_id, adopted)
            fixed = True
        if run.info.status != MLFLOW_STATUS[state] or run.data.tags.get(STATE_TAG) != state:
            tracker.end_trial(run.info.run_id, state, reason=reason)
            fixed = True
        if fixed:
            repaired.append(trial.number)
    return repaired
