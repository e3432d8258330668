"""A Lightning callback that watches each epoch of a trial: reports to Optuna, prunes, catches divergence.

Pruning and divergence stop the trainer at the end of the current epoch (``trainer.should_stop``) instead of
raising mid-epoch, so the epoch's training metrics still reach MLflow; the objective raises ``TrialPruned``
once ``fit`` returns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import optuna

__all__ = ["MILESTONES", "EpochRecord", "TrialMonitor"]

MILESTONES = (0.97, 0.98, 0.99)
# A diverged network rarely reaches NaN within an epoch: its loss explodes to 1e3..1e25 and stays finite. A
# validation loss this many times the chance-level loss ln(classes) means divergence, not slow progress.
DIVERGENCE_FACTOR = 100.0


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based: epochs completed
    val_acc: float
    val_loss: float
    seconds: float  # wall seconds since fit start, validation included


class TrialMonitor(L.Callback):
    def __init__(
        self, trial: optuna.Trial, num_classes: int, on_epoch: Callable[[EpochRecord], None] | None = None
    ) -> None:
        self.trial = trial
        self.divergence_loss = DIVERGENCE_FACTOR * math.log(num_classes)
        self.on_epoch = on_epoch
        self.history: list[EpochRecord] = []
        self.stop_reason: str | None = None
        self._started = time.perf_counter()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        record = EpochRecord(
            epoch=trainer.current_epoch + 1,
            val_acc=float(metrics["val/acc"]),
            val_loss=float(metrics["val/loss"]),
            seconds=time.perf_counter() - self._started,
        )
        self.history.append(record)
        if self.on_epoch:
            self.on_epoch(record)
        self.trial.report(record.val_acc, step=record.epoch)
        if not math.isfinite(record.val_loss) or record.val_loss > self.divergence_loss:
            self.stop_reason = (
                f"diverged: val/loss {record.val_loss:.4g} at epoch {record.epoch} "
                f"(limit {self.divergence_loss:.4g}, {DIVERGENCE_FACTOR:g}x chance level)"
            )
        elif self.trial.should_prune():
            self.stop_reason = f"pruned at epoch {record.epoch} (val/acc {record.val_acc:.4f})"
        if self.stop_reason:
            trainer.should_stop = True

    @property
    def best_val_acc(self) -> float:
        return max((r.val_acc for r in self.history), default=float("nan"))

    def final_metrics(self, fit_seconds: float) -> dict[str, float]:
        """Best accuracy, fit time, and the seconds/epochs it took to first reach each milestone."""
        out = {"final/best_val_acc": self.best_val_acc, "final/fit_seconds": fit_seconds}
        out["final/epochs"] = float(len(self.history))
        for threshold in MILESTONES:
            reached = next((r for r in self.history if r.val_acc >= threshold), None)
            if reached:
                out[f"final/seconds_to_{threshold}"] = reached.seconds
                out[f"final/epochs_to_{threshold}"] = float(reached.epoch)
        return {k: v for k, v in out.items() if math.isfinite(v)}
