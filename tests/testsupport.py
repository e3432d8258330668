"""Plain helpers the tests import (pytest puts tests/ on sys.path): ports, waiting for servers, PostgreSQL."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise TimeoutError(f"no answer from {url} within {timeout}s")


@contextmanager
def mlflow_server(
    backend_store_uri: str, artifacts: Path, env: dict[str, str] | None = None, app: list[str] | None = None
) -> Iterator[str]:
    """A real ``mlflow server`` on a free loopback port (``app``: e.g. ``["--app-name", "basic-auth"]``); yields
    its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            backend_store_uri,
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            *(app or []),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", proc, timeout=180)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextmanager
def temporary_postgres(*databases: str, password: str | None = None) -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL cluster on a free port; yields the URL of each empty database, by name.

    With ``password``, connections need it (the URLs carry it) instead of being trusted.
    """
    bin_dir = postgres_bin()
    assert bin_dir is not None
    base = Path(tempfile.mkdtemp(prefix="pg-"))
    # initdb refuses to run as root: run the server as the postgres user the Debian package creates.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", free_port()

    def run(*cmd: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*as_user, *cmd], check=True, capture_output=True)

    auth = ["-A", "trust"]
    if password is not None:
        secret = base / "pwfile"
        secret.write_text(password + "\n")
        if as_user:
            shutil.chown(secret, "postgres", "postgres")
        auth = ["-A", "scram-sha-256", f"--pwfile={secret}"]
    env = {**os.environ, "PGPASSWORD": password} if password is not None else None
    try:
        run(str(bin_dir / "initdb"), "-D", str(data), *auth, "-U", "postgres")
        options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start")
        user = "postgres" if password is None else f"postgres:{password}"
        urls = {}
        for name in databases or ("optuna",):
            subprocess.run(
                [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", name],
                check=True,
                capture_output=True,
                env=env,
            )
            urls[name] = f"postgresql://{user}@127.0.0.1:{port}/{name}"
        yield urls
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(base, ignore_errors=True)


def start_together(argvs: list[list[str]], env: dict[str, str] | None = None) -> list[subprocess.Popen[str]]:
    """Starts one ``python -m study.run ARGV`` per argument list, so that all enter ``main`` at the same instant.

    Each process imports the whole stack first (seconds), then waits for a go file; the file appears once
    every process is waiting, so the joins race for real.
    """
    go = Path(tempfile.mkdtemp(prefix="go-")) / "go"
    ready = go.with_name("ready")
    ready.mkdir()
    launcher = (
        "import pathlib, sys, time, uuid\n"
        "import study.run, study.orchestrate\n"
        f"pathlib.Path({str(ready)!r}, uuid.uuid4().hex).touch()\n"
        f"while not pathlib.Path({str(go)!r}).exists(): time.sleep(0.005)\n"
        "raise SystemExit(study.run.main(sys.argv[1:]))\n"
    )
    procs = []
    for argv in argvs:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", launcher, *argv],
                cwd=PROJECT_ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    deadline = time.monotonic() + 300
    while len(list(ready.iterdir())) < len(procs):
        assert time.monotonic() < deadline, "the workers never got ready"
        assert all(p.poll() is None for p in procs), [
            p.stdout.read() for p in procs if p.poll() is not None and p.stdout is not None
        ]
        time.sleep(0.05)
    go.touch()
    return procs


def stores_disagree(storage_url: str, tracking_uri: str, experiment: str, study_name: str) -> list[str]:
    """Every way the two stores disagree about a study and its sub-studies (an empty list when they agree).

    Checks: one parent run; every Optuna trial that has run has exactly one child run (by study and trial
    number tags) under that parent, whose state tag equals the Optuna state and whose status matches it;
    the trial's run id attribute, when set, names that run; no child run without its trial.
    """
    import optuna
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from study.records.stores import open_storage, study_names
    from study.records.tracking import child_runs
    from study.schema import (
        ADOPTED_TAG,
        MLFLOW_STATUS,
        PARENT_ROLE,
        PARENT_RUN_ATTR,
        ROLE_TAG,
        RUN_ID_ATTR,
        STATE_TAG,
        STUDY_TAG,
        TRIAL_TAG,
    )

    problems = []
    storage = open_storage(storage_url)
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return [f"no experiment {experiment}"]
    role = f"tags.`{ROLE_TAG}` = '{PARENT_ROLE}' and tags.`{STUDY_TAG}` = '{study_name}'"
    parents = client.search_runs([found.experiment_id], filter_string=role)
    if len(parents) != 1:
        return [f"{len(parents)} parent runs"]
    parent = parents[0]
    runs = child_runs(client, found.experiment_id, parent.info.run_id)
    by_key: dict[tuple[str, int], list[Run]] = {}
    for run in runs:
        by_key.setdefault((run.data.tags.get(STUDY_TAG, ""), int(run.data.tags.get(TRIAL_TAG, "-1"))), []).append(run)
    seen = set()
    for name in study_names(storage, study_name):
        study = optuna.load_study(study_name=name, storage=storage)
        if study.user_attrs.get(PARENT_RUN_ATTR) != parent.info.run_id:
            problems.append(f"{name}: parent run attribute {study.user_attrs.get(PARENT_RUN_ATTR)}")
        for trial in study.trials:
            key = (name, trial.number)
            matching = by_key.get(key, [])
            if trial.state.name == "WAITING":
                if matching:
                    problems.append(f"{key}: WAITING but has {len(matching)} runs")
                continue
            seen.add(key)
            if len(matching) != 1:
                problems.append(f"{key} {trial.state.name}: {len(matching)} runs")
                continue
            run = matching[0]
            if run.data.tags.get(STATE_TAG) != trial.state.name:
                problems.append(f"{key} {trial.state.name}: state tag {run.data.tags.get(STATE_TAG)}")
            if run.info.status != MLFLOW_STATUS[trial.state.name]:
                problems.append(f"{key} {trial.state.name}: MLflow status {run.info.status}")
            if RUN_ID_ATTR in trial.user_attrs and trial.user_attrs[RUN_ID_ATTR] != run.info.run_id:
                problems.append(f"{key}: run id attribute names another run")
            # only a run the repair created after its trial ended may be named by no trial (found by its tags)
            if RUN_ID_ATTR not in trial.user_attrs and run.data.tags.get(ADOPTED_TAG) != "true":
                problems.append(f"{key} {trial.state.name}: its run is linked from no Optuna trial")
    problems += [f"{key}: a run without its trial" for key in by_key if key not in seen]
    return problems
