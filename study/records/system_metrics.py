"""MLflow's system metrics monitor, made to publish after the run's first epoch.

MLflow's Compare view (its parallel coordinates plot) opens on the first metric a run logged. MLflow's monitor logs
its first CPU sample a few seconds into the run, before the first epoch ends, so Compare opened on CPU utilisation.
Holding the monitor's first publication until the epoch's metrics (the objective first) are in the store makes the
objective the default. No sample is lost: the held sample is published late, and the next one covers the wait.
"""

from __future__ import annotations

import threading
from typing import Any

from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

__all__ = ["SystemMetricsAfterFirstEpoch"]


class SystemMetricsAfterFirstEpoch(SystemMetricsMonitor):
    """``SystemMetricsMonitor`` whose first publication waits for ``first_epoch_logged`` (or for ``finish``)."""

    def __init__(self, run_id: str, sampling_interval: float, tracking_uri: str) -> None:
        super().__init__(run_id, sampling_interval, tracking_uri=tracking_uri)  # type: ignore[no-untyped-call]
        self.first_epoch_logged = threading.Event()

    def start(self) -> None:
        super().start()  # type: ignore[no-untyped-call]

    def publish_metrics(self, metrics: dict[str, Any]) -> None:
        self.first_epoch_logged.wait()  # on the monitor's own thread: training goes on meanwhile
        super().publish_metrics(metrics)  # type: ignore[no-untyped-call]

    def finish(self) -> None:
        self.first_epoch_logged.set()  # a run that ends before its first epoch still publishes, and never hangs
        super().finish()  # type: ignore[no-untyped-call]
