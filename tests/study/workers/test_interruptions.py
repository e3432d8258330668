"""A killed or interrupted study leaves records that tell the truth, and continues cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from study.run import main
from testsupport import PROJECT_ROOT, stores_disagree

if TYPE_CHECKING:
    from study.conftest import TinyStudy


def _start(args: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "study.run", *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_running_trial(tiny: TinyStudy, proc: subprocess.Popen[str], timeout: float = 180) -> None:
    """Until the first trial has finished an epoch (its MLflow run holds a val/acc): then it is mid-training."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        if (tiny.tmp / "journal.log").exists():
            try:
                trials = tiny.load().trials
            except KeyError:
                trials = []
            run_id = trials[0].user_attrs.get("mlflow_run_id") if trials else None
            if run_id and "val/acc" in MlflowClient(tiny.tracking_uri).get_run(run_id).data.metrics:
                return
        time.sleep(0.2)
    raise AssertionError("the study never finished an epoch")


HEARTBEAT = {"--heartbeat-seconds": "1"}  # a silent trial is failed after 5 s instead of 50


def _long_args(tiny: TinyStudy) -> list[str]:
    return tiny.args(
        **{"--n-trials": "1", "--max-epochs": "50", "--train-size": "4096", "--pruner": "none", **HEARTBEAT}
    )


def test_sigkill_mid_trial_is_recovered_on_the_next_run(tiny: TinyStudy, capsys: pytest.CaptureFixture[str]) -> None:
    proc = _start(_long_args(tiny))
    _wait_for_running_trial(tiny, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert tiny.load().trials[0].state == TrialState.RUNNING  # what a kill leaves behind

    # the next run finds the trial silent, fails it in both stores and runs its configuration again
    assert main(tiny.args(**{"--n-trials": "1", **HEARTBEAT})) == 0
    assert "trial 0 failed: its worker stopped answering" in capsys.readouterr().out
    study = tiny.load()
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.COMPLETE]
    assert "stopped answering" in study.trials[0].user_attrs["state_reason"]
    assert study.trials[1].user_attrs["retry_of"] == 0
    assert study.trials[1].params == study.trials[0].params
    parent, children = tiny.runs()
    assert [r.info.status for r in children] == ["FAILED", "FINISHED"]
    assert children[0].data.tags["optuna.trial_state"] == "FAIL"
    assert parent.info.status == "FINISHED"


def test_sigterm_marks_the_running_trial_failed_and_the_parent_killed(tiny: TinyStudy) -> None:
    proc = _start(_long_args(tiny))
    _wait_for_running_trial(tiny, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143  # 128 + SIGTERM, the shell's convention
    study = tiny.load()
    assert study.trials[0].state == TrialState.FAIL
    parent, (child,) = tiny.runs()
    assert child.info.status == "FAILED"
    assert child.data.tags["optuna.trial_state"] == "FAIL"
    assert parent.info.status == "KILLED"


def test_ctrl_c_right_after_a_claim_records_the_claimed_trial(tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signal lands while the next trial is being claimed (held until the claim is made): that trial is
    recorded FAIL in both stores and queued again, never left RUNNING without a run."""
    from study.workers.worker import Worker

    claim = Worker._claim
    calls = {"n": 0}

    def claim_then_interrupt(self: Worker):  # type: ignore[no-untyped-def]
        claimed = claim(self)
        calls["n"] += 1
        if calls["n"] == 2:  # the second trial: claimed in the storage, then Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)
        return claimed

    monkeypatch.setattr(Worker, "_claim", claim_then_interrupt)
    args = tiny.args(**{"--n-trials": "3", "--max-epochs": "1"})
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert main(args) == 130
    finally:  # an interrupted study leaves the signals ignored (it is on its way out): not pytest's own
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    study = tiny.load()
    assert [t.state for t in study.trials[:2]] == [TrialState.COMPLETE, TrialState.FAIL]
    assert study.trials[1].user_attrs["state_reason"] == "interrupted (Ctrl-C or SIGTERM)"
    assert stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", "tiny") == []
    monkeypatch.setattr(Worker, "_claim", claim)
    assert main(args) == 0  # the next run completes the budget
    assert stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", "tiny") == []
