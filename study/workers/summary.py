"""The end-of-run table: per optimizer, trial counts by state, the best trial and the median fit time."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from optuna.trial import FrozenTrial, TrialState

from study.schema import BATCH_SIZE, FIT_SECONDS, OPTIMIZER, best_trial, lr_param

__all__ = ["OptimizerSummary", "format_table", "summarize"]


@dataclass(frozen=True)
class OptimizerSummary:
    optimizer: str
    complete: int
    pruned: int
    failed: int
    best_val_acc: float | None
    best_lr: float | None
    best_batch_size: int | None
    best_trial: int | None
    median_fit_seconds: float | None


def summarize(trials: Sequence[FrozenTrial], optimizers: Sequence[str]) -> list[OptimizerSummary]:
    """One row per optimizer that was chosen in the config or appears in the study's trials."""
    names = list(optimizers) + sorted({t.params[OPTIMIZER] for t in trials if OPTIMIZER in t.params} - set(optimizers))
    rows = []
    for name in names:
        mine = [t for t in trials if t.params.get(OPTIMIZER) == name]
        complete = [t for t in mine if t.state == TrialState.COMPLETE and t.value is not None]
        best = best_trial(complete)
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


def _cell(value: object, fmt: str = "") -> str:
    return "-" if value is None else format(value, fmt)


def format_table(rows: Sequence[OptimizerSummary]) -> str:
    header = (
        "optimizer",
        "complete",
        "pruned",
        "failed",
        "best val acc",
        "lr",
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
        for r in sorted(rows, key=lambda r: -(r.best_val_acc or -1.0))
    ]
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(lines)
