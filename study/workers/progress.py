"""What the person at the terminal sees: a line per trial start and end, per epoch when epochs are slow.

``Progress`` takes the workers' events (``study.workers.events``) directly, or replayed from the JSON lines of the
workers ``--workers N`` started, and keeps the study's count, best trial so far and ETA across all of them.
"""

from __future__ import annotations

import math
import time
from typing import TextIO

from study.config.console import LOG
from study.design.search_space import Choice
from study.schema import ACCURACY, COMPLETE, VAL_LOSS, Objective
from study.training.train import EpochRecord

__all__ = ["Progress", "format_duration"]

SLOW_EPOCH_SECONDS = 5.0  # epochs faster than this are not worth a line each


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """The console display: trial i of N, elapsed, ETA and the best trial so far."""

    def __init__(
        self,
        study_name: str,
        n_trials: int,
        timeout: float | None,
        max_epochs: int,
        out: TextIO | None = None,
        objective: Objective = ACCURACY,
    ) -> None:
        self.study_name = study_name
        self.objective = objective
        self.n_trials = n_trials  # trials queued for this run
        self.timeout = timeout
        self.max_epochs = max_epochs
        self.out = out
        self.done = 0
        self.best: tuple[float, str] | None = None  # (value, "trial 3, adam")
        self.started = time.perf_counter()
        self._optimizers: dict[tuple[str, int], str] = {}
        self._epoch_end: dict[tuple[str, int], float] = {}

    def _print(self, line: str) -> None:
        if self.out is None:
            LOG.info(line)  # -q hides the progress
        else:
            print(line, file=self.out, flush=True)

    def _label(self, study: str, number: int) -> str:
        suffix = study.removeprefix(self.study_name).lstrip(".")
        return f"{suffix} trial {number}" if suffix else f"trial {number}"

    def trial_started(self, study: str, number: int, choice: Choice) -> None:
        self._optimizers[(study, number)] = choice.optimizer
        self._epoch_end[(study, number)] = time.perf_counter()
        self._print(
            f"[{self.done + 1}/{self.n_trials}] {self._label(study, number)}: {choice.optimizer} "
            f"lr={choice.lr:.3g} batch={choice.batch_size}"
        )

    def epoch_done(self, study: str, number: int, record: EpochRecord) -> None:
        now = time.perf_counter()
        took = now - self._epoch_end.get((study, number), now)
        self._epoch_end[(study, number)] = now
        if took >= SLOW_EPOCH_SECONDS:
            self._print(
                f"      {self._label(study, number)} epoch {record.epoch}/{self.max_epochs}: "
                f"{self._epoch_values(record)} ({took:.1f}s)"
            )

    def _epoch_values(self, record: EpochRecord) -> str:
        """The objective's metric, and the validation loss beside the accuracy when it was logged."""
        shown = [self.objective.metric] + ([VAL_LOSS] if VAL_LOSS in record.metrics else [])
        return " ".join(f"{name} {record.value(name):.4f}" for name in dict.fromkeys(shown))

    def eta(self, elapsed: float) -> float:
        remaining = elapsed / max(self.done, 1) * max(self.n_trials - self.done, 0)
        if self.timeout is not None:
            remaining = min(remaining, max(self.timeout - elapsed, 0.0))
        return remaining

    def trial_finished(self, study: str, number: int, state: str, value: float | None, reason: str | None) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.started
        label = self._label(study, number)
        optimizer = self._optimizers.pop((study, number), "?")
        self._epoch_end.pop((study, number), None)
        if state == COMPLETE and value is not None:
            outcome = f"{self.objective.metric} {value:.4f}"
            if self.best is None or self.objective.best([value, self.best[0]]) == value != self.best[0]:
                self.best = (value, f"{label}, {optimizer}")
        else:
            outcome = state.lower() + (f" ({reason})" if reason else "")
        best_text = f"best {self.best[0]:.4f} ({self.best[1]})" if self.best else "best -"
        self._print(
            f"[{self.done}/{self.n_trials}] {label} {outcome} | {best_text} | "
            f"elapsed {format_duration(elapsed)} | ETA {format_duration(self.eta(elapsed))}"
        )

    def note(self, text: str) -> None:
        self._print(text)
