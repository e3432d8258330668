"""Many workers, one study: real processes started at the same instant on fresh stores, kills and signals.

After every run the two stores must agree trial by trial (``testsupport.stores_disagree``), the budget must be
met exactly, and no two trials may share a sampled configuration.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from study.records.stores import open_storage, study_names
from testsupport import PROJECT_ROOT, mlflow_server, start_together, stores_disagree, temporary_postgres

if TYPE_CHECKING:
    from study.conftest import TinyStudy

DONE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _trials(storage: str, name: str) -> dict[str, list[optuna.trial.FrozenTrial]]:
    s = open_storage(storage)
    return {n: optuna.load_study(study_name=n, storage=s).trials for n in study_names(s, name)}


def _finish(procs: list[subprocess.Popen[str]], timeout: float = 600) -> list[str]:
    outputs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        outputs.append(out)
        assert proc.returncode == 0, out[-3000:]
    return outputs


def _searched_configurations_are_distinct(trials: list[optuna.trial.FrozenTrial]) -> None:
    searched = [tuple(sorted(t.params.items())) for t in trials if "retry_of" not in t.user_attrs]
    repeated = [params for params, n in Counter(searched).items() if n > 1]
    assert not repeated, repeated


def _check(
    tiny: TinyStudy, storage: str, tracking: str, protocol: str, budget: int, seeds: int, optimizers: int
) -> None:
    name = "tiny"
    assert stores_disagree(storage, tracking, "tests", name) == []
    studies = _trials(storage, name)
    for trials in studies.values():
        assert all(t.state in DONE for t in trials)
    if protocol == "search":
        (trials,) = studies.values()
        assert len(trials) == budget
        _searched_configurations_are_distinct(trials)
    elif protocol == "seed":
        (trials,) = studies.values()
        cells = Counter((t.params["optimizer"], t.user_attrs["seed"]) for t in trials)
        assert len(cells) == optimizers * seeds and set(cells.values()) == {1}
    else:
        final = studies.pop(f"{name}.final")
        for sub in studies.values():
            assert len(sub) == budget
            _searched_configurations_are_distinct(sub)
        cells = Counter((t.params["optimizer"], t.user_attrs["seed"]) for t in final)
        assert len(cells) == optimizers * seeds and set(cells.values()) == {1}
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name("tests")
    assert experiment is not None
    (parent,) = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`optimizer_study.role` = 'parent' and tags.`optuna.study_name` = '{name}'",
    )
    assert parent.info.status == "FINISHED"


PROTOCOL_ARGS = {
    "search": {"--n-trials": "6"},
    "seed": {"--optimizers": "adam,sgd", "--seeds": "2", "--max-epochs": "1"},
    "tuned": {"--optimizers": "adam,sgd", "--n-trials": "2", "--seeds": "2"},
}


def _three_workers_at_once(tiny: TinyStudy, protocol: str, **stores: str) -> None:
    args = tiny.args(**{"--protocol": protocol, "--threads-per-worker": "1", **PROTOCOL_ARGS[protocol], **stores})
    outputs = _finish(start_together([args, args, args]))
    assert not any("Traceback" in out for out in outputs), outputs
    storage = stores.get("--storage", str(tiny.tmp / "journal.log"))
    tracking = stores.get("--tracking-uri", tiny.tracking_uri)
    budget = int(PROTOCOL_ARGS[protocol].get("--n-trials", 0))
    _check(tiny, storage, tracking, protocol, budget, seeds=2, optimizers=2)


def test_three_workers_at_once_on_fresh_default_stores(tiny: TinyStudy) -> None:
    _three_workers_at_once(tiny, "search")
    parent, _ = tiny.runs()
    logged = MlflowClient(tiny.tracking_uri).list_artifacts(parent.info.run_id, "invocations")
    assert len(logged) == 3  # one configuration file per worker, none overwritten
    assert not any(p.name.startswith("_alembic_tmp") for p in tiny.tmp.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["seed", "tuned"])
def test_three_workers_at_once_every_protocol(tiny: TinyStudy, protocol: str) -> None:
    _three_workers_at_once(tiny, protocol)


@pytest.fixture
def postgres_and_mlflow_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL with two databases, and an MLflow tracking server backed by one of them."""
    with temporary_postgres("optuna", "mlflow") as urls, mlflow_server(urls["mlflow"], tmp_path / "artifacts") as url:
        yield urls["optuna"], url


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["search", "seed", "tuned"])
def test_three_workers_at_once_on_fresh_postgresql_and_an_mlflow_server(
    tiny: TinyStudy, protocol: str, postgres_and_mlflow_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage, tracking = postgres_and_mlflow_server
    monkeypatch.chdir(tiny.tmp)  # artifacts must go to the server, never into the working directory
    _three_workers_at_once(tiny, protocol, **{"--storage": storage, "--tracking-uri": tracking})
    assert not (tiny.tmp / "mlruns").exists()


def _running_trial_with_an_epoch(storage: str, tracking: str, name: str, timeout: float = 240) -> set[str]:
    """Waits until two trials have logged an epoch; returns the workers ("host:pid") running them."""
    deadline = time.monotonic() + timeout
    client = MlflowClient(tracking)
    while time.monotonic() < deadline:
        workers = set()
        for trials in _trials(storage, name).values():
            for t in trials:
                run_id = t.user_attrs.get("mlflow_run_id")
                if t.state == TrialState.RUNNING and run_id and "val/acc" in client.get_run(run_id).data.metrics:
                    workers.add(t.user_attrs["worker"])
        if len(workers) >= 2:
            return workers
        time.sleep(0.3)
    raise AssertionError("two workers never trained at the same time")


def _kill_one_worker_mid_trial(tiny: TinyStudy, first: list[str], victim_pid: int | None = None) -> None:
    args = tiny.args(
        **{
            "--n-trials": "4",
            "--max-epochs": "4",
            "--train-size": "2048",
            "--pruner": "none",
            "--threads-per-worker": "1",
            "--heartbeat-seconds": "1",
        }
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    victim = subprocess.Popen(
        [*first, sys.executable, "-m", "study.run", *args], cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL
    )
    survivor = subprocess.Popen(
        [sys.executable, "-m", "study.run", *args], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    storage = str(tiny.tmp / "journal.log")
    _running_trial_with_an_epoch(storage, tiny.tracking_uri, "tiny")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    (out,) = _finish([survivor])
    assert "failed: its worker stopped answering" in out

    trials = _trials(storage, "tiny")["tiny"]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) == 1 and "stopped answering" in failed[0].user_attrs["state_reason"]
    if victim_pid is not None:
        assert failed[0].user_attrs["worker"].endswith(f":{victim_pid}")
    (retry,) = [t for t in trials if t.user_attrs.get("retry_of") == failed[0].number]
    assert retry.state == TrialState.COMPLETE and retry.params == failed[0].params
    assert len([t for t in trials if "retry_of" not in t.user_attrs]) == 4  # the budget, exactly
    assert stores_disagree(storage, tiny.tracking_uri, "tests", "tiny") == []
    parent, _ = tiny.runs()
    assert parent.info.status == "FINISHED"


@pytest.mark.slow
def test_a_killed_worker_is_failed_by_heartbeat_and_its_trial_retried(tiny: TinyStudy) -> None:
    _kill_one_worker_mid_trial(tiny, [])


def _can_unshare() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = subprocess.run([unshare, "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _can_unshare(), reason="needs `unshare --pid` (root, util-linux)")
def test_a_killed_worker_in_its_own_pid_namespace_is_failed_too(tiny: TinyStudy) -> None:
    """Inside a container every worker is PID 1 on its own: liveness cannot rest on PIDs."""
    # --kill-child: SIGKILL to unshare reaches the worker (PID 1 of its namespace) as SIGKILL too
    _kill_one_worker_mid_trial(tiny, ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child"], victim_pid=1)


def test_ctrl_c_stops_every_worker_and_the_stores_agree(tiny: TinyStudy) -> None:
    args = tiny.args(**{"--n-trials": "6", "--max-epochs": "30", "--train-size": "2048", "--pruner": "none"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "study.run", *args, "--workers", "2"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    storage = str(tiny.tmp / "journal.log")
    _running_trial_with_an_epoch(storage, tiny.tracking_uri, "tiny")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    trials = _trials(storage, "tiny")["tiny"]
    assert not any(t.state == TrialState.RUNNING for t in trials)
    interrupted = [t for t in trials if t.state == TrialState.FAIL]
    assert len(interrupted) == 2 and all("interrupted" in t.user_attrs["state_reason"] for t in interrupted)
    assert stores_disagree(storage, tiny.tracking_uri, "tests", "tiny") == []
    parent, _ = tiny.runs()
    assert parent.info.status == "KILLED"
    # each interrupted configuration waits to run again
    retries = {t.user_attrs["retry_of"] for t in trials if t.state == TrialState.WAITING and "retry_of" in t.user_attrs}
    assert retries == {t.number for t in interrupted}


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_a_worker_does_not_grow_with_the_trials_it_runs(tiny: TinyStudy) -> None:
    """100 tiny trials in one worker: resident memory grows by less than 1 MiB a trial after the first 20."""
    from study.config.cli import parse_config
    from study.design.tasks import load_task
    from study.workers.interrupts import Interrupts
    from study.workers.session import check_config, join
    from study.workers.worker import Worker

    config = parse_config(tiny.args(**{"--n-trials": "100", "--train-size": "64", "--pruner": "none"}))
    device = check_config(config)
    task = load_task(config, device)
    session = join(config, log=lambda line: None)
    rss: list[float] = []

    class Sampled:
        def trial_started(self, *args: object) -> None: ...

        def epoch_done(self, *args: object) -> None: ...

        def note(self, text: str) -> None: ...

        def trial_finished(self, *args: object) -> None:
            rss.append(_rss_mib())

    interrupts = Interrupts().install()
    try:
        worker = Worker(session.parts, session.studies, session.tracker, task, device, Sampled(), interrupts, 10.0)
        assert worker.run().trials == 100
    finally:
        interrupts.restore()
    # the lowest of ten readings on each side: a transient allocation at one trial's end is not growth
    early, late = min(rss[15:25]), min(rss[-10:])
    growth = (late - early) / 80
    assert growth < 1.0, f"{growth:.2f} MiB a trial: {early:.0f} MiB after 20 trials, {late:.0f} after 100"
