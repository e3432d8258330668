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
    # long enough to be killed after its first epoch, short enough for the rerun to train it again
    args = tiny.args(
        **{"--n-trials": "1", "--max-epochs": "4", "--train-size": "4096", "--pruner": "none", **HEARTBEAT}
    )
    proc = _start(args)
    _wait_for_running_trial(tiny, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert tiny.load().trials[0].state == TrialState.RUNNING  # what a kill leaves behind

    # the next run (the same study) finds the trial silent, fails it in both stores and runs its configuration again
    assert main(args) == 0
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


# Every step of joining, and between the end of one trial and the training of the next, as (class or module,
# function, call, when): Ctrl-C lands right before or after the given call. Trial 0 completes; the signals between
# trials aim at trial 1.
BOUNDARIES = {
    "joining: the journal opened, MLflow not yet": ("study.workers.session", "_check_definition", 1, "after"),
    "joining: the parent run opened": ("study.records.tracking.StudyTracker", "reopen", 1, "before"),
    "after trial 0 is committed": ("study.workers.worker.Worker", "_commit", 1, "after"),
    "after the sweep of silent trials": ("study.workers.worker.Worker", "sweep", 2, "after"),
    "after trial 1 is claimed": ("study.workers.worker.Worker", "_claim", 2, "after"),
    "before trial 1 starts": ("study.workers.worker.Worker", "_start", 2, "before"),
    "after trial 1's configuration is chosen": ("study.workers.trial_runner.TrialRunner", "spec", 2, "after"),
    "after trial 1's run is created": ("study.records.tracking.StudyTracker", "start_trial", 2, "after"),
    "after trial 1 started": ("study.workers.trial_runner.TrialRunner", "start", 2, "after"),
    "after trial 1 trained": ("study.workers.trial_runner.TrialRunner", "train", 2, "after"),
    "before trial 1 is committed": ("study.workers.worker.Worker", "_commit", 2, "before"),
}


@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_ctrl_c_at_each_boundary_between_two_trials_leaves_agreeing_stores(
    boundary: str, tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the step, the interrupted trial is recorded in both stores (FAIL, queued again, its run linked from
    the Optuna trial), and a rerun completes the budget with the stores still in agreement."""
    import importlib

    path, name, call, when = BOUNDARIES[boundary]
    try:
        cls: object = importlib.import_module(path)  # a module's function
    except ModuleNotFoundError:
        module, _, cls_name = path.rpartition(".")  # a class's method
        cls = getattr(importlib.import_module(module), cls_name)
    original = getattr(cls, name)
    calls = {"n": 0}

    def interrupting(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == call and when == "before":
            os.kill(os.getpid(), signal.SIGINT)
        result = original(*args, **kwargs)
        if calls["n"] == call and when == "after":
            os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(cls, name, interrupting)
    args = tiny.args(**{"--n-trials": "3", "--max-epochs": "1"})
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert main(args) == 130
    finally:  # an interrupted study leaves the signals ignored (it is on its way out): not pytest's own
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    assert calls["n"] >= call, "the boundary was never reached"
    assert stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", "tiny") == [], boundary
    monkeypatch.setattr(cls, name, original)
    assert main(args) == 0  # the next run completes the budget
    trials = tiny.load().trials
    assert len([t for t in trials if "retry_of" not in t.user_attrs]) == 3
    assert stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", "tiny") == [], boundary
