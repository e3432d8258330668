"""Closing a study's MLflow parent run: its status, trial counts, the best trial and a summary per optimizer."""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from study.schema import BATCH_SIZE, FINAL_ROLE, OPTIMIZER, ROLE, RUN_ID_ATTR, best_trial, lr_param
from study.summary import OptimizerSummary, summarize
from study.tracking import StudyTracker

__all__ = ["finish_parent"]


def finish_parent(
    trials: Sequence[FrozenTrial], optimizers: Sequence[str], tracker: StudyTracker, status: str, wall: float
) -> list[OptimizerSummary]:
    """Sets the parent run's final status with the study's metrics and tags; returns the per-optimizer rows."""
    rows = summarize([t for t in trials if t.user_attrs.get(ROLE) != FINAL_ROLE], optimizers)
    metrics = {
        "trials/complete": sum(t.state == TrialState.COMPLETE for t in trials),
        "trials/pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "trials/failed": sum(t.state == TrialState.FAIL for t in trials),
        "study/last_run_seconds": wall,
    }
    tags: dict[str, str] = {}
    summary: dict[str, object] = {"per_optimizer": [r.__dict__ for r in rows]}
    best = best_trial(trials)
    if best is not None:
        metrics["best/val_acc"] = float(best.value or 0.0)
        for row in rows:
            if row.best_val_acc is not None:
                metrics[f"best/val_acc.{row.optimizer}"] = row.best_val_acc
        optimizer = str(best.params.get(OPTIMIZER))
        tags = {
            "best.trial_number": str(best.number),
            "best.optimizer": optimizer,
            "best.batch_size": str(best.params.get(BATCH_SIZE)),
            "best.lr": str(best.params.get(lr_param(optimizer))),
            "best.mlflow_run_id": str(best.user_attrs.get(RUN_ID_ATTR)),
        }
        summary["best_trial"] = {"number": best.number, "value": best.value, "params": best.params}
    tracker.finish(status, metrics, tags, summary)
    return rows
