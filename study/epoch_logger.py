"""A Lightning logger that sends a trial's epoch metrics to its MLflow child run, one batch per call.

The LightningModule logs once per epoch (never per step), so each call here is one ``log_batch``: the
validation metrics at validation end, the training and timing metrics at the epoch's end.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities import rank_zero_only

from study.tracking import StudyTracker

__all__ = ["EpochLogger"]


class EpochLogger(Logger):
    def __init__(self, tracker: StudyTracker, run_id: str) -> None:
        super().__init__()
        self._tracker = tracker
        self._run_id = run_id
        self._started = time.perf_counter()

    @property
    def name(self) -> str:
        return "mlflow-epochs"

    @property
    def version(self) -> str:
        return self._run_id

    @rank_zero_only
    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The study logs every parameter itself when it creates the run; Lightning's copy adds nothing."""

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        values = {k: float(v) for k, v in metrics.items() if k != "epoch"}
        # Lightning's `epoch` is 0-based; the MLflow step is the number of epochs completed.
        epoch = int(metrics.get("epoch", 0)) + 1
        if any(k.startswith("train/") for k in values):
            values["time/cumulative_seconds"] = time.perf_counter() - self._started
        self._tracker.log_epoch(self._run_id, epoch, values)
