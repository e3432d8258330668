"""The real servers a user points the study at: PostgreSQL storage, an MLflow tracking server, the dashboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from optuna.trial import TrialState

from study.run import main
from testsupport import PROJECT_ROOT, free_port, mlflow_server, wait_for_http

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


def test_an_mlflow_server_behind_basic_auth(tiny: TinyStudy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``http://USER:PASSWORD@HOST`` reaches a server that asks for them, through MLflow's own variables; the
    password is masked in what the study prints and records, and in its visible command line."""
    password = "s3cret-Word-42"
    config = tmp_path / "basic_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = EDIT\n"
        f"database_uri = sqlite:///{tmp_path}/auth.db\nadmin_username = admin\nadmin_password = {password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    for variable in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.setenv(variable, "")  # whatever the study sets them to is undone after the test
        monkeypatch.delenv(variable)
    server = mlflow_server(
        f"sqlite:///{tmp_path}/server.db",
        tmp_path / "artifacts",
        env={"MLFLOW_AUTH_CONFIG_PATH": str(config), "MLFLOW_FLASK_SERVER_SECRET_KEY": "tests-only-csrf-key"},
        app=["--app-name", "basic-auth"],
    )
    with server as url:
        anonymous = MlflowClient(url)
        with pytest.raises(MlflowException):  # the server does ask: without them, nothing
            anonymous.search_experiments()
        authed = url.replace("http://", f"http://admin:{password}@")
        proc = subprocess.Popen(
            [sys.executable, "-m", "study.run", *tiny.args(**{"--tracking-uri": authed, "--n-trials": "2"})],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the header: the options are parsed, the command line masked
        visible = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode()  # what `ps` shows every user
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert password not in visible and "admin:***@" in visible, visible
        assert password not in first + out + err
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
        parent, children = tiny.runs(tracking_uri=url)
        assert len(children) == 2 and all(r.info.status == "FINISHED" for r in children)
        assert (
            password not in json.dumps(parent.data.params) and "admin:***@" in parent.data.params["config.tracking_uri"]
        )


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
