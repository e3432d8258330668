"""What the person at the terminal sees: a line per trial start and end, per epoch when epochs are slow."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState

from study.schema import OPTIMIZER, STATE_REASON
from study.search_space import Choice
from study.train import EpochRecord

__all__ = ["Progress", "format_duration"]

SLOW_EPOCH_SECONDS = 5.0  # epochs faster than this are not worth a line each


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Optuna callback (trial i of N, elapsed, ETA, best so far) plus hooks the objective calls."""

    def __init__(self, n_trials: int, timeout: float | None, max_epochs: int, out: TextIO | None = None) -> None:
        self.n_trials = n_trials
        self.timeout = timeout
        self.max_epochs = max_epochs
        self.out = out or sys.stdout
        self.done = 0
        self.started = time.perf_counter()
        self._epoch_end = self.started

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def trial_started(self, number: int, params: Choice) -> None:
        self._epoch_end = time.perf_counter()
        self._print(
            f"[{self.done + 1}/{self.n_trials}] trial {number}: {params.optimizer} "
            f"lr={params.lr:.3g} batch={params.batch_size}"
        )

    def epoch_done(self, number: int, record: EpochRecord) -> None:
        now = time.perf_counter()
        took, self._epoch_end = now - self._epoch_end, now
        if took >= SLOW_EPOCH_SECONDS:
            self._print(
                f"      epoch {record.epoch}/{self.max_epochs}: val_acc {record.val_acc:.4f} "
                f"val_loss {record.val_loss:.4f} ({took:.1f}s)"
            )

    def eta(self, elapsed: float) -> float:
        remaining = elapsed / max(self.done, 1) * (self.n_trials - self.done)
        if self.timeout is not None:
            remaining = min(remaining, max(self.timeout - elapsed, 0.0))
        return remaining

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.started
        if trial.state == TrialState.COMPLETE:
            outcome = f"val_acc {trial.value:.4f}"
        else:
            reason = trial.user_attrs.get(STATE_REASON, "")
            outcome = f"{trial.state.name.lower()}" + (f" ({reason})" if reason else "")
        try:
            best = study.best_trial
            best_text = f"best {best.value:.4f} (trial {best.number}, {best.params.get(OPTIMIZER)})"
        except ValueError:
            best_text = "best -"
        self._print(
            f"[{self.done}/{self.n_trials}] trial {trial.number} {outcome} | {best_text} | "
            f"elapsed {format_duration(elapsed)} | ETA {format_duration(self.eta(elapsed))}"
        )
