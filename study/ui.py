"""``python -m study.ui``: the MLflow UI and the Optuna dashboard of one study, opened together.

A finished study prints two commands to copy (``study.orchestrate.ui_commands``); this runs both servers instead,
waits until both answer and prints the two addresses that open the study itself: its parent run, its dashboard
page. Everything is checked first, and only read: a port that is taken, a study that a store does not hold, a
store file that does not exist (opening it would create it) are each one line on stderr and exit code 2.

Each server runs in a process group of its own (``mlflow ui`` starts uvicorn workers of its own): Ctrl-C and
SIGTERM reach the launcher alone, which stops every process of both groups before it exits, however it exits.
A store URL carrying a password goes to the servers through the environment or a private file, never their
command line, where ``ps`` would show it.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlparse

from study.config import ConfigError, StudyConfig
from study.config.cli import OneLineParser, add_store_options, parse_reader_args
from study.secrets import mask_url, redact, secrets_in

__all__ = ["build_parser", "main"]

PROG = "python -m study.ui"
STARTUP_TIMEOUT_S = 120.0  # a cold `mlflow ui` on a busy machine takes tens of seconds
STOP_GRACE_S = 10.0  # SIGTERM first; SIGKILL for whatever is left after this
_POLL_S = 0.2
_PROBE_TIMEOUT_S = 2.0
_CONNECT_TIMEOUT_S = 5
_MAX_LISTED = 20  # names listed in an "accepted" part before "... and N more"
_ACCEPTED_PORT = "a port number 1..65535 that no other program uses on this host"
_ACCEPTED_TRACKING = "sqlite:///FILE of an existing store, http(s)://HOST:PORT of an MLflow server, or postgresql://..."
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # listening on all: probe the loopback


class _Failure(Exception):
    """A server that could not be started or stopped on its own: one line, exit code 1."""


# ---------------------------------------------------------------- options


def build_parser(d: StudyConfig | None = None) -> OneLineParser:
    """The options; their defaults are the study's (``d``: the built-in ones and the environment's stores)."""
    d = d or StudyConfig()
    p = OneLineParser(
        prog=PROG,
        description="Start the MLflow UI and the Optuna dashboard of a study, print the addresses that open it, and "
        "stop both on Ctrl-C.",
    )
    add_store_options(p, d)
    p.add_argument("--host", default="127.0.0.1", help="address both servers listen on (default 127.0.0.1)")
    p.add_argument("--mlflow-port", metavar="PORT", default="5000", help="(default 5000)")
    p.add_argument("--dashboard-port", metavar="PORT", default="8080", help="(default 8080)")
    p.add_argument("-v", "--verbose", action="store_true", help="show the servers' own output")
    return p


def parse_port(option: str, raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError(option, f"got {raw!r}; accepted: {_ACCEPTED_PORT}")
    return port


def check_port_free(option: str, host: str, port: int) -> None:
    """Binds the port once (as the server will, SO_REUSEADDR included), so that a taken one is an error now
    rather than a server dying later with its reason lost in its own log."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as err:
        raise ConfigError("--host", f"got {host!r} ({err.strerror}); accepted: an address of this machine") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                raise ConfigError(
                    option, f"got {port}, which is taken on {host} ({err.strerror}); accepted: {_ACCEPTED_PORT}"
                ) from None
            raise ConfigError(
                "--host", f"got {host!r} ({err.strerror}); accepted: an address of this machine"
            ) from None


def _is_server(tracking_uri: str) -> bool:
    """An MLflow tracking server is its own UI: nothing to start for it."""
    return urlparse(tracking_uri).scheme in ("http", "https")


def checked_ports(args: argparse.Namespace) -> tuple[int | None, int]:
    """The MLflow UI's port (None when the tracking URI is a server, which has its own) and the dashboard's."""
    dashboard = parse_port("--dashboard-port", args.dashboard_port)
    mlflow = None if _is_server(args.tracking_uri) else parse_port("--mlflow-port", args.mlflow_port)
    if mlflow == dashboard:
        raise ConfigError("--dashboard-port", f"got {dashboard}, as --mlflow-port; accepted: another port")
    if mlflow is not None:
        check_port_free("--mlflow-port", args.host, mlflow)
    check_port_free("--dashboard-port", args.host, dashboard)
    return mlflow, dashboard


# ---------------------------------------------------------------- the study in both stores (read only)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
    return shown + (f" and {len(names) - _MAX_LISTED} more" if len(names) > _MAX_LISTED else "")


def _holds_table(option: str, url: str, table: str, accepted: str) -> bool:
    """Whether the database has the table. Reads only: opening the store itself would create its tables."""
    import sqlalchemy

    engine = None
    args = {"connect_timeout": _CONNECT_TIMEOUT_S} if url.startswith(("postgresql", "mysql")) else {}
    try:
        engine = sqlalchemy.create_engine(url, connect_args=args, poolclass=sqlalchemy.pool.NullPool)
        return bool(sqlalchemy.inspect(engine).has_table(table))
    except Exception as err:  # noqa: BLE001 - any driver error means "cannot read"
        raise ConfigError(
            option, f"cannot read {mask_url(url)} ({_first_line(err, url)}); accepted: {accepted}"
        ) from None
    finally:
        if engine is not None:
            engine.dispose()


def _first_line(err: BaseException, url: str) -> str:
    text = str(err).strip()
    return redact(text.splitlines()[0] if text else type(err).__name__, secrets_in(url))


def _no_such_study(name: str, storage_url: str, held: Sequence[str], why: str = "") -> ConfigError:
    studies = sorted({n.partition(".")[0] for n in held})  # NAME.adam, NAME.final are parts of study NAME
    where = f"a study in {mask_url(storage_url)}"
    if not studies:
        return ConfigError("--study-name", f"got {name!r}; accepted: {where}, which holds none{why}")
    return ConfigError("--study-name", f"got {name!r}; accepted: {where}: {_listed(studies)}")


def dashboard_study_id(storage_url: str, name: str) -> int:
    """The id of the study's page in the dashboard: NAME itself, else the tuned protocol's NAME.final."""
    import optuna

    from study.records.locks import local_file
    from study.records.stores import open_storage, study_names
    from study.report.dashboard import main_study

    accepted = "the Optuna storage the study ran with"
    path = local_file(storage_url)
    if path is not None and not path.is_file():  # a journal file or SQLite database would be created
        raise _no_such_study(name, storage_url, [], " (the file does not exist)")
    if "://" in storage_url and not _holds_table("--storage", storage_url, "studies", accepted):
        raise _no_such_study(name, storage_url, [])
    try:
        storage = open_storage(storage_url)
        mine = tuple(study_names(storage, name))
        held = [] if mine else optuna.study.get_all_study_names(storage)
    except Exception as err:  # noqa: BLE001 - a corrupt file or a foreign database
        raise ConfigError(
            "--storage", f"cannot read {mask_url(storage_url)} ({_first_line(err, storage_url)}); accepted: {accepted}"
        ) from None
    if not mine:
        raise _no_such_study(name, storage_url, held)
    return int(storage.get_study_id_from_name(main_study(mine, name)))


def parent_run_path(tracking_uri: str, experiment: str, name: str) -> str:
    """``#/experiments/<id>/runs/<parent run id>?workflowType=...``: the MLflow UI's page of the study."""
    scheme = urlparse(tracking_uri).scheme
    shown = mask_url(tracking_uri)
    if scheme == "sqlite":
        path = Path(tracking_uri.split(":///", 1)[-1])
        if not path.is_file():  # MLflow would create an empty store there
            raise ConfigError(
                "--tracking-uri", f"got {shown!r}, whose file does not exist; accepted: {_ACCEPTED_TRACKING}"
            )
    if scheme in ("", "file"):
        raise ConfigError(
            "--tracking-uri", f"got {shown!r}, a file store MLflow 3 refuses; accepted: {_ACCEPTED_TRACKING}"
        )
    if _is_server(tracking_uri):
        from study.records.store_checks import check_tracking_uri

        check_tracking_uri(tracking_uri)  # answers within seconds, instead of MLflow's minutes of retries
    elif not _holds_table("--tracking-uri", tracking_uri, "experiments", _ACCEPTED_TRACKING):
        raise ConfigError("--experiment", f"got {experiment!r}; accepted: an experiment of {shown}, which holds none")
    try:
        return _find_parent_run_path(tracking_uri, experiment, name)
    except ConfigError:
        raise
    except Exception as err:  # noqa: BLE001 - an MLflow store of another version, a server that went away
        raise ConfigError(
            "--tracking-uri", f"cannot read {shown} ({_first_line(err, tracking_uri)}); accepted: {_ACCEPTED_TRACKING}"
        ) from None


def _find_parent_run_path(tracking_uri: str, experiment: str, name: str) -> str:
    from study.records.tracking import StudyTracker, client_for, find_parent_run
    from study.schema import PARENT_ROLE, ROLE_TAG, STUDY_TAG

    client = client_for(tracking_uri)
    shown = mask_url(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        held = sorted(e.name for e in client.search_experiments())
        raise ConfigError("--experiment", f"got {experiment!r}; accepted: an experiment of {shown}: {_listed(held)}")
    experiment_id = str(found.experiment_id)
    parent = find_parent_run(client, experiment_id, name)
    if parent is None:
        parents = client.search_runs([experiment_id], filter_string=f"tags.`{ROLE_TAG}` = '{PARENT_ROLE}'")
        studies = sorted({run.data.tags.get(STUDY_TAG, "") for run in parents} - {""})
        where = f"a study with a parent run in experiment {experiment!r} of {shown}"
        held_text = f": {_listed(studies)}" if studies else ", which holds none"
        raise ConfigError("--study-name", f"got {name!r}; accepted: {where}{held_text}")
    return StudyTracker(client, experiment_id, parent.info.run_id, name).parent_url_path()


# ---------------------------------------------------------------- the servers


@dataclass
class Server:
    """One UI to run: its command, the address that tells it is up, the page that shows the study."""

    label: str  # as printed, padded so that both addresses line up
    name: str  # as named in an error
    argv: list[str]
    probe_url: str
    page_url: str
    env: dict[str, str] = field(default_factory=dict)  # a store URL with a password travels here
    proc: subprocess.Popen[bytes] | None = None


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _base_urls(host: str, port: int) -> tuple[str, str]:
    """(the address to probe from here, the address to print): a server on all addresses is probed on the
    loopback and printed under this machine's name."""
    probe = _WILDCARDS.get(host, host)
    shown = socket.gethostname() if host in _WILDCARDS else host
    return f"http://{_url_host(probe)}:{port}", f"http://{_url_host(shown)}:{port}"


def mlflow_server(bin_dir: Path, tracking_uri: str, host: str, port: int, run_path: str) -> Server:
    """``mlflow ui`` with one worker (uvicorn's default of four is for many users, not one person's browser)."""
    argv = [str(bin_dir / "mlflow"), "ui", "--host", host, "--port", str(port), "--workers", "1"]
    env = {}
    if secrets_in(tracking_uri):
        env["MLFLOW_BACKEND_STORE_URI"] = tracking_uri  # click reads --backend-store-uri from it
    else:
        argv += ["--backend-store-uri", tracking_uri]
    probe, shown = _base_urls(host, port)
    return Server("MLflow UI:        ", "mlflow ui", argv, f"{probe}/health", f"{shown}/{run_path}", env)


def dashboard_server(bin_dir: Path, storage_url: str, host: str, port: int, study_id: int, private_dir: Path) -> Server:
    """``optuna-dashboard``; a storage URL with a password goes in a TOML file only this user can read."""
    from study.report.dashboard import artifact_dir_for

    argv = [str(bin_dir / "optuna-dashboard")]
    if secrets_in(storage_url):
        config = private_dir / "optuna-dashboard.toml"
        config.touch(mode=0o600)
        config.write_text(f"[optuna_dashboard]\nstorage = {json.dumps(storage_url)}\n")  # a JSON string is TOML's
        argv += ["--from-config", str(config)]
    else:
        argv.append(storage_url)
    argv += ["--host", host, "--port", str(port)]
    artifacts = artifact_dir_for(storage_url)
    if artifacts is not None:
        argv += ["--artifact-dir", str(artifacts)]
    probe, shown = _base_urls(host, port)
    page = f"{shown}/dashboard/studies/{study_id}"
    return Server("Optuna dashboard: ", "optuna-dashboard", argv, f"{probe}/api/studies", page)


def start(server: Server, verbose: bool) -> None:
    """A new session: the terminal's Ctrl-C reaches the launcher only, which stops the whole group."""
    output = None if verbose else subprocess.DEVNULL
    server.proc = subprocess.Popen(
        server.argv,
        env={**os.environ, **server.env},
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=output,
        start_new_session=True,
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT_S) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _exited(server: Server, verbose: bool, when: str) -> _Failure:
    assert server.proc is not None
    hint = "" if verbose else " (-v shows its output)"
    return _Failure(f"{server.name} exited with code {server.proc.returncode} {when}{hint}")


def wait_until_answering(servers: Sequence[Server], signals: _Signals, verbose: bool) -> None:
    """Returns once every server answers HTTP, or at a signal; raises _Failure if one exits or is too slow."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    pending = list(servers)
    while pending and signals.received is None:
        for server in list(pending):
            assert server.proc is not None
            if server.proc.poll() is not None:
                raise _exited(server, verbose, f"before answering {server.probe_url}")
            if _answers(server.probe_url):
                pending.remove(server)
        if pending and time.monotonic() > deadline:
            names = " and ".join(s.name for s in pending)
            raise _Failure(f"{names} did not answer within {STARTUP_TIMEOUT_S:.0f} s")
        time.sleep(_POLL_S)


def watch(servers: Sequence[Server], signals: _Signals, verbose: bool) -> None:
    """Returns at a signal; raises _Failure if a server exits on its own."""
    while signals.received is None:
        for server in servers:
            assert server.proc is not None
            if server.proc.poll() is not None:
                raise _exited(server, verbose, "on its own")
        time.sleep(_POLL_S)


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)  # start_new_session: the group's id is the leader's pid


def _group_alive(proc: subprocess.Popen[bytes]) -> bool:
    proc.poll()  # reaps the leader, so that it no longer counts
    try:
        os.killpg(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(servers: Sequence[Server]) -> None:
    """SIGTERM to every process of each server's group; SIGKILL to what is left after STOP_GRACE_S."""
    procs = [s.proc for s in servers if s.proc is not None]
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while any(_group_alive(p) for p in procs) and time.monotonic() < deadline:
        time.sleep(0.1)
    for proc in procs:
        if _group_alive(proc):
            _signal_group(proc, signal.SIGKILL)
        proc.wait()


class _Signals:
    """SIGINT, SIGTERM and SIGHUP as a flag the loops read, so that the servers are always stopped by the code
    that started them, whatever line the signal arrives at. The first signal decides the exit code."""

    _HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> _Signals:
        for signum in self._HANDLED:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum


# ---------------------------------------------------------------- the command


def _servers(args: argparse.Namespace, private_dir: Path) -> tuple[list[Server], list[str]]:
    """The servers to start and the lines that name the study's pages; raises ConfigError before anything runs."""
    mlflow_port, dashboard_port = checked_ports(args)
    study_id = dashboard_study_id(args.storage, args.study_name)
    run_path = parent_run_path(args.tracking_uri, args.experiment, args.study_name)
    bin_dir = Path(sys.executable).parent
    dashboard = dashboard_server(bin_dir, args.storage, args.host, dashboard_port, study_id, private_dir)
    if mlflow_port is None:  # an MLflow server: its own page, nothing to start
        from study.records.store_checks import without_credentials  # the browser asks for them itself

        mlflow_page = f"MLflow UI:        {without_credentials(args.tracking_uri).rstrip('/')}/{run_path}"
        return [dashboard], [mlflow_page]
    mlflow = mlflow_server(bin_dir, args.tracking_uri, args.host, mlflow_port, run_path)
    return [mlflow, dashboard], []


def serve(servers: list[Server], pages: list[str], verbose: bool, private_dir: tempfile.TemporaryDirectory[str]) -> int:
    signals = _Signals().install()
    try:
        for server in servers:
            start(server, verbose)
        wait_until_answering(servers, signals, verbose)
        private_dir.cleanup()  # the servers have read their configuration: no password stays on disk
        if signals.received is None:
            lines = [*pages, *(s.label + s.page_url for s in servers)]
            lines.append("Ctrl-C stops both." if len(servers) == 2 else "Ctrl-C stops it.")
            print("\n".join(lines), flush=True)
            watch(servers, signals, verbose)
        assert signals.received is not None
        return 128 + signals.received
    except _Failure as failure:
        others = "; stopping the other one" if len(servers) == 2 else ""
        print(redact(f"{PROG}: error: {failure}{others}"), file=sys.stderr, flush=True)
        return 1
    finally:
        stop(servers)  # a second Ctrl-C only sets the flag again: it cannot cut this short
        signals.restore()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_reader_args(build_parser, argv)
    if args is None:
        return 2
    private_dir = tempfile.TemporaryDirectory(prefix="study-ui-")  # mode 0700
    try:
        try:
            servers, pages = _servers(args, Path(private_dir.name))
        except ConfigError as err:
            print(redact(f"{PROG}: error: {err}"), file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C while checking: nothing was started
            return 130
        return serve(servers, pages, args.verbose, private_dir)
    finally:
        private_dir.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
