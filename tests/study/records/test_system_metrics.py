"""System metrics wait for the run's first epoch, so the run's first logged metric is the objective (MLflow's
Compare view opens on it), and nothing hangs or is lost when a run ends before its first epoch."""

from __future__ import annotations

import time
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric

from study.records.system_metrics import SystemMetricsAfterFirstEpoch

INTERVAL_S = 0.05  # MLflow samples every 5 s in a study; fast here


def _run(tmp_path: Path) -> tuple[MlflowClient, str, str]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("tests"))
    return client, uri, run.info.run_id


def _system_keys(client: MlflowClient, run_id: str) -> list[str]:
    return [k for k in client.get_run(run_id).data.metrics if k.startswith("system/")]


def test_system_metrics_follow_the_first_epoch(tmp_path: Path) -> None:
    client, uri, run_id = _run(tmp_path)
    monitor = SystemMetricsAfterFirstEpoch(run_id, INTERVAL_S, uri)
    monitor.start()
    try:
        time.sleep(20 * INTERVAL_S)  # MLflow's own monitor would have logged several samples by now
        assert _system_keys(client, run_id) == []
        client.log_batch(run_id, metrics=[Metric("val/acc", 0.9, 0, 1), Metric("train/loss", 0.3, 0, 1)])
        monitor.first_epoch_logged.set()
        time.sleep(10 * INTERVAL_S)
    finally:
        monitor.finish()
    keys = list(client.get_run(run_id).data.metrics)
    assert keys[0] == "val/acc"
    assert "system/cpu_utilization_percentage" in keys
    history = client.get_metric_history(run_id, "system/cpu_utilization_percentage")
    assert [m.step for m in history] == list(range(len(history)))  # the held sample kept its place, none lost


def test_a_run_ending_before_its_first_epoch_still_gets_its_samples(tmp_path: Path) -> None:
    client, uri, run_id = _run(tmp_path)
    monitor = SystemMetricsAfterFirstEpoch(run_id, INTERVAL_S, uri)
    monitor.start()
    time.sleep(5 * INTERVAL_S)
    started = time.monotonic()
    monitor.finish()  # a crash in the first epoch: the monitor must not wait for an epoch that never comes
    assert time.monotonic() - started < 5.0
    assert "system/cpu_utilization_percentage" in _system_keys(client, run_id)
