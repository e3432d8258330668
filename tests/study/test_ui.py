"""``python -m study.ui``: bad input is one line and exit code 2 with nothing started or created; a real launch
serves both UIs at the printed addresses, and every server process is gone once the launcher has exited."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import optuna
import pytest
from mlflow import MlflowClient
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from study.run import main as run_study
from study.schema import PARENT_ROLE, ROLE_TAG, STUDY_TAG
from study.ui import dashboard_server, main, mlflow_server
from testsupport import PROJECT_ROOT, free_port

if TYPE_CHECKING:
    from study.conftest import TinyStudy

STARTUP_S = 180  # the launcher's own limit is 120 s per server; this one includes its imports


@dataclass(frozen=True)
class Stores:
    """A journal holding studies "tiny" and "lonely", and an MLflow store with a parent run for "tiny" only."""

    journal: Path
    tracking_uri: str

    def args(self, study: str = "tiny", **overrides: str) -> list[str]:
        options = {
            "--study-name": study,
            "--storage": str(self.journal),
            "--tracking-uri": self.tracking_uri,
            "--experiment": "tests",
            "--mlflow-port": str(free_port()),
            "--dashboard-port": str(free_port()),
            **overrides,
        }
        return [item for pair in options.items() for item in pair]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    """Made by hand (no training): what the launcher reads of a study is its name and its parent run."""
    folder = tmp_path_factory.mktemp("stores")
    journal = folder / "journal.log"
    storage = JournalStorage(JournalFileBackend(str(journal)))
    for name in ("tiny", "lonely"):
        optuna.create_study(study_name=name, storage=storage)
    tracking_uri = f"sqlite:///{folder}/mlflow.db"
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("tests", artifact_location=(folder / "artifacts").as_uri())
    client.create_run(experiment, run_name="study-tiny", tags={ROLE_TAG: PARENT_ROLE, STUDY_TAG: "tiny"})
    return Stores(journal, tracking_uri)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, captured.err
    assert lines[0].startswith("python -m study.ui: error: "), lines[0]
    return lines[0]


# ---------------------------------------------------------------- bad input


def test_taken_port(stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert main(stores.args(**{"--mlflow-port": port})) == 2
    line = one_line_error(capsys)
    assert f"--mlflow-port: got {port}, which is taken" in line and "accepted:" in line


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_port_out_of_range(stores: Stores, capsys: pytest.CaptureFixture[str], port: str) -> None:
    assert main(stores.args(**{"--dashboard-port": port})) == 2
    assert f"--dashboard-port: got '{port}'; accepted: a port number 1..65535" in one_line_error(capsys)


def test_same_port_twice(stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    port = str(free_port())
    assert main(stores.args(**{"--mlflow-port": port, "--dashboard-port": port})) == 2
    assert f"--dashboard-port: got {port}, as --mlflow-port" in one_line_error(capsys)


def test_unknown_study_lists_the_stored_ones(stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(stores.args("nope")) == 2
    line = one_line_error(capsys)
    assert "--study-name: got 'nope'; accepted:" in line and "'lonely', 'tiny'" in line


def test_missing_journal_is_not_created(stores: Stores, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "absent.log"
    assert main(stores.args(**{"--storage": str(journal)})) == 2
    assert "--study-name: got 'tiny'; accepted:" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_missing_tracking_database_is_not_created(
    stores: Stores, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(stores.args(**{"--tracking-uri": f"sqlite:///{tmp_path}/absent.db"})) == 2
    assert "--tracking-uri: got 'sqlite:///" in one_line_error(capsys)
    assert list(tmp_path.iterdir()) == []


def test_study_without_parent_run(stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(stores.args("lonely")) == 2
    line = one_line_error(capsys)
    assert "--study-name: got 'lonely'; accepted: a study with a parent run" in line and "'tiny'" in line


def test_missing_experiment_lists_the_stored_ones(stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(stores.args(**{"--experiment": "nope"})) == 2
    line = one_line_error(capsys)
    assert "--experiment: got 'nope'; accepted:" in line and "'tests'" in line


def test_password_stays_off_the_command_lines(tmp_path: Path) -> None:
    url = "postgresql://me:s3cret-pw@db.example/optuna"
    mlflow = mlflow_server(Path("/bin"), url, "127.0.0.1", 5000, "#/experiments/1/runs/r")
    dashboard = dashboard_server(Path("/bin"), url, "127.0.0.1", 8080, 3, tmp_path)
    assert not any("s3cret" in a for a in [*mlflow.argv, *dashboard.argv])
    assert mlflow.env == {"MLFLOW_BACKEND_STORE_URI": url}
    config = Path(dashboard.argv[dashboard.argv.index("--from-config") + 1])
    assert "s3cret-pw" in config.read_text() and stat.S_IMODE(config.stat().st_mode) == 0o600
    assert dashboard.page_url == "http://127.0.0.1:8080/dashboard/studies/3"


# ---------------------------------------------------------------- real launches


class Launch:
    """``python -m study.ui`` in a subprocess: its printed lines, and the server processes it started."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "study.ui", *args],
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))

    def printed(self) -> dict[str, str]:
        """The printed addresses by label, once the launcher says both servers answer."""
        deadline = time.monotonic() + STARTUP_S
        urls: dict[str, str] = {}
        while True:
            try:
                line = self._lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no addresses within {STARTUP_S} s; exit code {self.proc.poll()}") from None
            if line == "Ctrl-C stops both.":
                return urls
            label, _, url = line.partition(":")
            urls[label] = url.strip()

    def server_sessions(self) -> set[int]:
        """The sessions the launcher's children lead (each server's whole process tree is in one)."""
        return {pid for pid, (ppid, session) in processes().items() if ppid == self.proc.pid and session == pid}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)


def processes() -> dict[int, tuple[int, int]]:
    """Every process's (parent pid, session id), from /proc."""
    found = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        found[int(stat_file.parent.name)] = (int(fields[1]), int(fields[3]))
    return found


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except (urllib.error.URLError, OSError):
        return False


def base(url: str) -> str:
    """``http://host:port`` of a page's address."""
    return "/".join(url.split("/", 3)[:3])


def open_journal(path: Path) -> JournalStorage:
    return JournalStorage(JournalFileBackend(str(path)))


@contextmanager
def launched(args: list[str], cwd: Path) -> Iterator[Launch]:
    launch = Launch(args, cwd)
    try:
        yield launch
    finally:
        launch.stop()


def assert_all_gone(sessions: set[int], urls: list[str]) -> None:
    deadline = time.monotonic() + 5  # the launcher waited for them; /proc may lag a reaped zombie briefly
    while any(s in sessions for _, s in processes().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = {pid for pid, (_, s) in processes().items() if s in sessions}
    assert not left, f"server processes outlived the launcher: {left}"
    assert not any(answers(url) for url in urls)


def test_launcher_serves_both_uis_and_stops_them_on_ctrl_c(tiny: TinyStudy, tmp_path: Path) -> None:
    assert run_study(tiny.args(**{"--n-trials": "2"})) == 0
    parent, _ = tiny.runs()
    study_id = open_journal(tiny.tmp / "journal.log").get_study_id_from_name("tiny")
    mlflow_port, dashboard_port = free_port(), free_port()
    args = [
        *("--study-name", "tiny", "--storage", str(tiny.tmp / "journal.log"), "--tracking-uri", tiny.tracking_uri),
        *("--experiment", "tests", "--mlflow-port", str(mlflow_port), "--dashboard-port", str(dashboard_port)),
    ]
    with launched(args, tmp_path) as launch:
        urls = launch.printed()
        sessions = launch.server_sessions()
        mlflow_url, dashboard_url = urls["MLflow UI"], urls["Optuna dashboard"]
        assert mlflow_url == (
            f"http://127.0.0.1:{mlflow_port}/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}"
            "?workflowType=machine_learning"  # the model-training view
        )
        assert dashboard_url == f"http://127.0.0.1:{dashboard_port}/dashboard/studies/{study_id}"
        assert len(sessions) == 2
        with urllib.request.urlopen(f"{base(mlflow_url)}/health", timeout=10) as reply:
            assert reply.status == 200
        with urllib.request.urlopen(f"{base(dashboard_url)}/api/studies", timeout=10) as reply:
            studies = json.load(reply)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["tiny"] and studies[0]["study_id"] == study_id
        assert answers(mlflow_url) and answers(dashboard_url)

        launch.proc.send_signal(signal.SIGINT)
        assert launch.proc.wait(timeout=60) == 130
    assert_all_gone(sessions, [f"{base(mlflow_url)}/health", f"{base(dashboard_url)}/api/studies"])


def test_a_server_that_dies_stops_the_other(stores: Stores, tmp_path: Path) -> None:
    with launched(stores.args(), tmp_path) as launch:
        urls = launch.printed()
        sessions = launch.server_sessions()
        # the one that is not the MLflow UI (gunicorn renames its process when setproctitle is installed)
        dashboard = next(pid for pid in sessions if b"mlflow" not in Path(f"/proc/{pid}/cmdline").read_bytes())
        os.kill(dashboard, signal.SIGKILL)
        assert launch.proc.wait(timeout=60) == 1
        assert launch.proc.stderr is not None
        error = launch.proc.stderr.read().strip()
    assert error.startswith("python -m study.ui: error: optuna-dashboard exited with code -9 on its own"), error
    assert_all_gone(sessions, [f"{base(urls['MLflow UI'])}/health"])


def test_help_answers_without_torch() -> None:
    """``python -m study.ui --help`` answers without importing torch (the launcher must start fast)."""
    code = "import runpy, sys; sys.argv = ['x', '--help']\ntry: runpy.run_module('study.ui', run_name='__main__')\n"
    code += "except SystemExit: pass\nassert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "--mlflow-port" in result.stdout
