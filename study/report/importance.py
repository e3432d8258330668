"""How much of the searched trials' validation accuracy each choice explains, comparable across optimizers.

Optuna's importance panel sees ``lr_adam``, ``lr_sgd``... as separate, conditional parameters, each set in a
few trials only, and gives them nothing: the optimizer and the batch size take it all, although the learning
rate matters most. Here every trial's learning rate is put on one axis, relative to its own optimizer's
default on a log scale (``log10(lr / default)``), and each choice's share of the variance of the best
validation accuracy is measured directly:

- optimizer, batch size: η², the between-group sum of squares over the total;
- learning rate: R² of a parabola in the log-ratio (accuracy rises, peaks, falls as lr grows), pooled over the
  optimizers and, per optimizer, on its own trials.

Shares of different choices need not add up to one: they overlap when the search tried them together.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from study.report.records import StudyData, TrialRecord, by_optimizer
from study.schema import COMPLETE, DEFAULTS, TORCH_CONVENTION, config_param

__all__ = ["Importance", "importance"]

_MIN_TRIALS = 4  # a parabola needs more points than its three coefficients


@dataclass(frozen=True)
class Importance:
    n: int  # completed searched trials
    optimizer: float | None  # η² of the optimizer (None with one optimizer)
    lr: float | None  # R² of the parabola in log10(lr / default), pooled
    batch_size: float | None  # η² of the batch size (None with one batch size)
    lr_per_optimizer: dict[str, tuple[int, float | None]]  # optimizer -> (trials, R² of its own parabola)


def _eta_squared(values: Sequence[float], groups: Sequence[Hashable]) -> float | None:
    if len(set(groups)) < 2 or len(values) < 3:
        return None
    mean = statistics.fmean(values)
    total = sum((v - mean) ** 2 for v in values)
    if total == 0:
        return None
    between = 0.0
    for group in set(groups):
        members = [v for v, g in zip(values, groups, strict=True) if g == group]
        between += len(members) * (statistics.fmean(members) - mean) ** 2
    return between / total


def _parabola_r2(x: Sequence[float], y: Sequence[float]) -> float | None:
    if len(x) < _MIN_TRIALS or len(set(x)) < 3:
        return None
    coefficients = np.polyfit(np.asarray(x), np.asarray(y), 2)
    fitted = np.polyval(coefficients, np.asarray(x))
    total = float(np.sum((np.asarray(y) - np.mean(y)) ** 2))
    return None if total == 0 else max(0.0, 1.0 - float(np.sum((np.asarray(y) - fitted) ** 2)) / total)


def importance(data: StudyData, default_lr: Callable[[str, str], float]) -> Importance | None:
    """``default_lr(optimizer, convention)`` is the learning rate the log-ratio is taken against."""
    trials: list[TrialRecord] = [
        t for t in data.search_trials if t.state == COMPLETE and t.lr and t.best_val_acc is not None and t.optimizer
    ]
    if len(trials) < _MIN_TRIALS:
        return None
    convention = data.parent_params.get(config_param(DEFAULTS), TORCH_CONVENTION)
    y = [float(t.best_val_acc or 0.0) for t in trials]
    x = [math.log10(float(t.lr or 1.0) / default_lr(str(t.optimizer), convention)) for t in trials]
    per: dict[str, tuple[int, float | None]] = {}
    for name, mine in by_optimizer(trials).items():
        logs = [math.log10(float(t.lr or 1.0)) for t in mine]
        per[name] = (len(mine), _parabola_r2(logs, [float(t.best_val_acc or 0.0) for t in mine]))
    return Importance(
        n=len(trials),
        optimizer=_eta_squared(y, [str(t.optimizer) for t in trials]),
        lr=_parabola_r2(x, y),
        batch_size=_eta_squared(y, [t.batch_size for t in trials]),
        lr_per_optimizer=per,
    )
