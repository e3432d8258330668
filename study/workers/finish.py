"""Closing a study's MLflow parent run, by whichever worker leaves it with nothing running.

Several workers share one parent run. It reads FINISHED only when the study's budget is met (nothing queued)
and no trial is running; KILLED when trials are left queued (an interrupt, a timeout) and nobody is at work;
FAILED when this process crashed and nobody else is at work. While another worker still runs a trial, a
worker that stops leaves the parent RUNNING for that one to close.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from study.config import StudyConfig
from study.records.locks import study_lock
from study.records.tracking import StudyTracker
from study.schema import (
    ACCURACY,
    BATCH_SIZE,
    BEST_BATCH_SIZE_TAG,
    BEST_LR_TAG,
    BEST_OPTIMIZER_TAG,
    BEST_RUN_TAG,
    BEST_TRIAL_TAG,
    BEST_VAL_ACC,
    FAILED,
    FINAL_ROLE,
    FINISHED,
    KILLED,
    LAST_RUN_SECONDS,
    MLFLOW_STATUS,
    OPTIMIZER,
    ROLE,
    RUN_ID_ATTR,
    RUNNING,
    STOP_TAG,
    TRIALS_COMPLETE,
    TRIALS_FAILED,
    TRIALS_PRUNED,
    TRIALS_WAITING,
    Objective,
    best_trial,
    best_val_acc_of,
    lr_param,
)
from study.workers.session import Session
from study.workers.summary import OptimizerSummary, summarize

__all__ = ["Closing", "close_parent", "finish_parent", "searched_summary"]


def searched_summary(
    trials: Sequence[FrozenTrial], optimizers: Sequence[str], objective: Objective = ACCURACY
) -> list[OptimizerSummary]:
    """The end-of-run table's rows: the searched trials per optimizer (retrainings are the report's business)."""
    return summarize([t for t in trials if t.user_attrs.get(ROLE) != FINAL_ROLE], optimizers, objective)


def finish_parent(
    trials: Sequence[FrozenTrial],
    config: StudyConfig,
    tracker: StudyTracker,
    status: str,
    wall: float,
    why: str,
) -> None:
    """Sets the parent run's final status with the study's metrics and tags."""
    rows = searched_summary(trials, config.optimizers, config.objective)
    metrics = {
        TRIALS_COMPLETE: sum(t.state == TrialState.COMPLETE for t in trials),
        TRIALS_PRUNED: sum(t.state == TrialState.PRUNED for t in trials),
        TRIALS_FAILED: sum(t.state == TrialState.FAIL for t in trials),
        TRIALS_WAITING: sum(t.state == TrialState.WAITING for t in trials),
        LAST_RUN_SECONDS: wall,
    }
    tags: dict[str, str] = {STOP_TAG: why}
    summary: dict[str, object] = {"per_optimizer": [r.__dict__ for r in rows], "stop_reason": why}
    best = best_trial(trials, config.objective)
    if best is not None:
        metrics[BEST_VAL_ACC] = float(best.value or 0.0)
        for row in rows:
            if row.best_val_acc is not None:
                metrics[best_val_acc_of(row.optimizer)] = row.best_val_acc
        optimizer = str(best.params.get(OPTIMIZER))
        tags.update(
            {
                BEST_TRIAL_TAG: str(best.number),
                BEST_OPTIMIZER_TAG: optimizer,
                BEST_BATCH_SIZE_TAG: str(best.params.get(BATCH_SIZE)),
                BEST_LR_TAG: str(best.params.get(lr_param(optimizer))),
                BEST_RUN_TAG: str(best.user_attrs.get(RUN_ID_ATTR)),
            }
        )
        summary["best_trial"] = {"number": best.number, "value": best.value, "params": best.params}
    tracker.finish(status, metrics, tags, summary)


@dataclass(frozen=True)
class Closing:
    status: str | None  # the parent run's status afterwards; None while another worker is at work
    by_me: bool  # this process closed it (another worker may have closed it first)


def close_parent(session: Session, wall: float, *, interrupted: bool, timed_out: bool, crashed: bool) -> Closing:
    """Closes the parent run if no worker is at work and nobody closed it since this process joined."""
    config = session.config
    tracker = session.tracker
    with study_lock(config.storage_url, config.tracking_uri):
        trials = session.trials()
        if any(t.state == TrialState.RUNNING for t in trials):
            return Closing(None, by_me=False)
        current = tracker.client.get_run(tracker.parent_run_id).info.status
        if current != MLFLOW_STATUS[RUNNING]:  # every worker that joined set it RUNNING: another one closed it since
            return Closing(current, by_me=False)
        waiting = sum(t.state == TrialState.WAITING for t in trials)
        if crashed:
            status, why = FAILED, "a worker crashed"
        elif waiting:
            cause = "interrupted" if interrupted else "timed out" if timed_out else "stopped"
            status, why = KILLED, f"{cause} with {waiting} queued trials not run"
        else:
            status, why = FINISHED, "budget met"
        finish_parent(trials, config, tracker, status, wall, why)
    return Closing(status, by_me=True)
