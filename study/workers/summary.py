"""The end-of-run table: per optimizer, trial counts by state, the best trial and the median fit time."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from study.schema import ACCURACY, BATCH_SIZE, FIT_SECONDS, LR, OPTIMIZER, RETRY_OF, Objective, best_trial, lr_param

__all__ = ["OptimizerSummary", "budget_line", "format_table", "outcomes_of_the_budget", "summarize"]


@dataclass(frozen=True)
class OptimizerSummary:
    optimizer: str
    complete: int
    pruned: int
    failed: int
    best_val_acc: float | None  # the best trial's value: its validation accuracy, or another objective's metric
    best_lr: float | None
    best_batch_size: int | None
    best_trial: int | None
    median_fit_seconds: float | None


def summarize(
    trials: Sequence[FrozenTrial], optimizers: Sequence[str], objective: Objective = ACCURACY
) -> list[OptimizerSummary]:
    """One row per optimizer that was chosen in the config or appears in the study's trials, best first."""
    names = list(optimizers) + sorted({t.params[OPTIMIZER] for t in trials if OPTIMIZER in t.params} - set(optimizers))
    rows = []
    for name in names:
        mine = [t for t in trials if t.params.get(OPTIMIZER) == name]
        complete = [t for t in mine if t.state == TrialState.COMPLETE and t.value is not None]
        best = best_trial(complete, objective)
        fit = [t.user_attrs[FIT_SECONDS] for t in mine if FIT_SECONDS in t.user_attrs]
        rows.append(
            OptimizerSummary(
                optimizer=name,
                complete=len(complete),
                pruned=sum(t.state == TrialState.PRUNED for t in mine),
                failed=sum(t.state == TrialState.FAIL for t in mine),
                best_val_acc=best.value if best else None,
                best_lr=best.params.get(lr_param(name)) if best else None,
                best_batch_size=best.params.get(BATCH_SIZE) if best else None,
                best_trial=best.number if best else None,
                median_fit_seconds=statistics.median(fit) if fit else None,
            )
        )
    return rows


def _rank(value: float | None, objective: Objective) -> tuple[bool, float]:
    """Sorts rows best first, rows without a value last."""
    if value is None:
        return (True, 0.0)
    return (False, -value if objective.maximize else value)


def outcomes_of_the_budget(trials: Sequence[FrozenTrial]) -> dict[str, int]:
    """How each trial of the budget ended, by state name: a trial retried (after an interrupt or a dead worker)
    counts as its last attempt, so the counts add up to the budget (completed, pruned, failed, running, queued)."""
    last: dict[int, FrozenTrial] = {}
    for trial in sorted(trials, key=lambda t: t.number):
        origin = int(trial.user_attrs.get(RETRY_OF, trial.number))
        last[origin] = trial
    counts = {state.name: 0 for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    counts |= {TrialState.RUNNING.name: 0, TrialState.WAITING.name: 0}
    for trial in last.values():
        counts[trial.state.name] += 1
    return counts


def budget_line(trials: Sequence[FrozenTrial]) -> str:
    """``30 trials budgeted: 3 completed, 0 pruned, 1 failed, 26 queued (not run)``."""
    counts = outcomes_of_the_budget(trials)
    words = [
        f"{counts[TrialState.COMPLETE.name]} completed",
        f"{counts[TrialState.PRUNED.name]} pruned",
        f"{counts[TrialState.FAIL.name]} failed",
    ]
    if counts[TrialState.RUNNING.name]:
        words.append(f"{counts[TrialState.RUNNING.name]} still running (other workers)")
    words.append(f"{counts[TrialState.WAITING.name]} queued (not run)")
    return f"{sum(counts.values())} trials budgeted: {', '.join(words)}"


def _cell(value: object, fmt: str = "") -> str:
    return "-" if value is None else format(value, fmt)


def format_table(rows: Sequence[OptimizerSummary], objective: Objective = ACCURACY) -> str:
    header = (
        "optimizer",
        "complete",
        "pruned",
        "failed",
        f"best {objective.metric}",
        LR,
        "batch",
        "trial",
        "median fit s",
    )
    body = [
        (
            r.optimizer,
            str(r.complete),
            str(r.pruned),
            str(r.failed),
            _cell(r.best_val_acc, ".4f"),
            _cell(r.best_lr, ".3g"),
            _cell(r.best_batch_size),
            _cell(r.best_trial),
            _cell(r.median_fit_seconds, ".1f"),
        )
        for r in sorted(rows, key=lambda r: _rank(r.best_val_acc, objective))
    ]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)
