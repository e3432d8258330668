"""A database password never leaves the process: not in any output, either store, the artifacts or the reports.

Real PostgreSQL with a password, a real MLflow server, and a database tracking store; every byte each run
printed, an SQL dump of every database, every artifact and report file is searched for the password.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from study.secrets import mask_url, redact, remember
from testsupport import PROJECT_ROOT, mlflow_server, postgres_bin, temporary_postgres

if TYPE_CHECKING:
    from study.conftest import TinyStudy

PASSWORD = "s3cret-Pw-5821"

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL is not installed: `make test` installs it")


def test_mask_url_hides_the_password_and_secret_query_values() -> None:
    assert mask_url("postgresql://user:pw@host:5432/db") == "postgresql://user:***@host:5432/db"
    assert mask_url("postgresql+psycopg://u:p%40ss@h/db?sslmode=require&password=x") == (
        "postgresql+psycopg://u:***@h/db?sslmode=require&password=***"
    )
    assert mask_url("http://host:5000?token=abc") == "http://host:5000?token=***"
    assert mask_url("sqlite:///mlruns/mlflow.db") == "sqlite:///mlruns/mlflow.db"
    assert mask_url("mlruns/optuna-journal.log") == "mlruns/optuna-journal.log"
    remember("postgresql://u:p%40ss-word@h/db")
    assert redact("failed for p@ss-word at h") == "failed for *** at h"


def test_the_working_folder_is_not_a_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PWD", str(tmp_path))
    monkeypatch.setenv("OLDPWD", str(tmp_path / "before"))
    monkeypatch.setenv("SOME_DB_PASSWORD", "hunter2-but-longer")
    remember()
    assert redact(f"no study in {tmp_path}/nope.log") == f"no study in {tmp_path}/nope.log"
    assert redact("login hunter2-but-longer failed") == "login *** failed"


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "study.run", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _dump(url: str) -> str:
    bin_dir = postgres_bin()
    assert bin_dir is not None
    plain = url.replace(f":{PASSWORD}@", "@")
    result = subprocess.run(
        [str(bin_dir / "pg_dump"), "--data-only", "--inserts", plain],
        env={**os.environ, "PGPASSWORD": PASSWORD},
        capture_output=True,
        text=True,
        check=True,
    )
    assert "INSERT INTO" in result.stdout  # the dump holds the study, so a miss would mean something
    return result.stdout


def _files_holding(folder: Path, secret: str) -> list[str]:
    return [str(p) for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.slow
def test_no_byte_anywhere_holds_the_password(tiny: TinyStudy, tmp_path: Path) -> None:
    with (
        temporary_postgres("optuna", "mlflow", "tracking", password=PASSWORD) as urls,
        mlflow_server(urls["mlflow"], tmp_path / "server-artifacts") as server,
    ):
        common = ["--train-size", "256", "--max-epochs", "1", "--n-trials", "2", "--optimizers", "adam,sgd"]
        common += ["--data-dir", str(tiny.data_dir), "--experiment", "tests", "--timeout", "none"]
        work = tmp_path / "work"
        work.mkdir()
        runs = [
            # an Optuna database with a password and an MLflow server; the report is written and logged
            _run([*common, "--study-name", "one", "--storage", urls["optuna"], "--tracking-uri", server], work),
            # the same through two workers: their options travel to them, never on a command line
            _run(
                [
                    *common,
                    "--study-name",
                    "two",
                    "--storage",
                    urls["optuna"],
                    "--tracking-uri",
                    server,
                    "--workers",
                    "2",
                ],
                work,
            ),
            # a database tracking store with a password (artifacts in a folder of ours)
            _run(
                [
                    *common,
                    *("--study-name", "three", "--storage", str(tmp_path / "journal.log")),
                    *("--tracking-uri", urls["tracking"], "--artifact-location", (tmp_path / "art").as_uri()),
                ],
                work,
            ),
            # a wrong password: the connection error is reported without it
            _run([*common, "--storage", urls["optuna"].replace(PASSWORD, "wrong-Pw-9913")], work),
        ]
        assert [r.returncode for r in runs] == [0, 0, 0, 2], [r.stderr[-2000:] for r in runs]
        assert "--storage" in runs[3].stderr and "wrong-Pw-9913" not in runs[3].stderr
        for result in runs:
            assert PASSWORD not in result.stdout and PASSWORD not in result.stderr
        assert "***" in runs[0].stdout  # the configuration shows the URL, masked
        for name in ("optuna", "mlflow", "tracking"):
            assert PASSWORD not in _dump(urls[name]), name
        (folder,) = (work / "reports").glob("one-*")
        assert (folder / "report.md").exists() and PASSWORD not in folder.name
        for folder in (work, tmp_path / "server-artifacts", tmp_path / "art", tmp_path):
            assert _files_holding(folder, PASSWORD) == [], folder
