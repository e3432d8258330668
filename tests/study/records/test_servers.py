"""The real servers a user points the study at: PostgreSQL storage, an MLflow tracking server, the dashboard."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from optuna.trial import TrialState

from study.run import main
from testsupport import free_port, mlflow_server, wait_for_http

if TYPE_CHECKING:
    from study.conftest import TinyStudy


def test_postgresql_storage(tiny: TinyStudy, postgres_url: str) -> None:
    assert main(tiny.args(**{"--storage": postgres_url, "--n-trials": "2"})) == 0
    study = tiny.load(storage=postgres_url)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    _, children = tiny.runs()
    assert len(children) == 2


@pytest.fixture
def mlflow_server_url(tmp_path: Path) -> Iterator[str]:
    with mlflow_server(f"sqlite:///{tmp_path}/server.db", tmp_path / "artifacts") as url:
        yield url


def test_http_tracking_server(tiny: TinyStudy, mlflow_server_url: str) -> None:
    mlflow_server = mlflow_server_url
    assert main(tiny.args(**{"--tracking-uri": mlflow_server, "--n-trials": "2"})) == 0
    parent, children = tiny.runs(tracking_uri=mlflow_server)
    assert len(children) == 2
    assert all(r.data.metrics["val/acc"] > 0 for r in children)


def test_dashboard_opens_the_study(tiny: TinyStudy) -> None:
    assert main(tiny.args(**{"--n-trials": "1"})) == 0
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "optuna-dashboard"), str(tiny.tmp / "journal.log"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/api/studies", proc, timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=10) as reply:
            studies = json.load(reply)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["tiny"]
        study_id = studies[0]["study_id"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}", timeout=10) as reply:
            detail = json.load(reply)
        assert len(detail["trials"]) == 1
        assert detail["trials"][0]["state"] == "Complete"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
