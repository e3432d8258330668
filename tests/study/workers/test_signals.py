"""Ctrl-C and SIGTERM at any instant of a study, once or twice: after the process exits the two stores agree on
every trial, and a rerun completes the budget with them still in agreement.

The signals are aimed with the study's own events (the JSON lines a worker writes): so many milliseconds after
a trial starts, after an epoch, after a trial ends (around a trial's boundaries, where a record is written),
or at a fixed time after start-up (while the stack loads or the study is joined).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from optuna.trial import TrialState

from study.config.cli import EVENTS_ENV
from study.run import main
from testsupport import PROJECT_ROOT, stores_disagree

if TYPE_CHECKING:
    from study.conftest import TinyStudy


@dataclass(frozen=True)
class Timing:
    event: str  # "trial_started", "epoch_done", "trial_finished", or "start" (process start)
    occurrence: int  # the n-th such event (1-based)
    delay: float  # seconds after it
    signals: tuple[int, ...] = (signal.SIGINT,)  # sent 50 ms apart

    def __str__(self) -> str:
        names = "+".join(signal.Signals(s).name for s in self.signals)
        return f"{names}@{self.event}#{self.occurrence}+{self.delay * 1000:.0f}ms"


TWICE = (signal.SIGINT, signal.SIGINT)
SWEEP = [
    *(Timing("trial_started", k, d) for k in (1, 2) for d in (0.0, 0.005, 0.02, 0.05)),
    *(Timing("trial_finished", k, d) for k in (1, 2) for d in (0.0, 0.005, 0.02, 0.05, 0.1)),
    Timing("epoch_done", 1, 0.0),
    Timing("epoch_done", 1, 0.02),
    Timing("start", 1, 3.0),
    Timing("start", 1, 6.0),
    Timing("trial_finished", 1, 0.01, TWICE),
    Timing("trial_started", 2, 0.0, TWICE),
    Timing("epoch_done", 1, 0.0, TWICE),
    Timing("trial_started", 1, 0.01, (signal.SIGTERM,)),
    Timing("trial_finished", 2, 0.02, (signal.SIGTERM,)),
]
QUICK = [SWEEP[0], SWEEP[9], SWEEP[22]]  # in the default suite: a start, a boundary, a double Ctrl-C


def _interrupt(args: list[str], timing: Timing) -> int:
    proc = subprocess.Popen(
        [sys.executable, "-m", "study.run", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, EVENTS_ENV: "jsonl", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    if timing.event == "start":
        time.sleep(timing.delay)
    else:
        seen = 0
        for line in proc.stdout:
            if line.startswith("{") and json.loads(line).get("event") == timing.event:
                seen += 1
                if seen == timing.occurrence:
                    time.sleep(timing.delay)
                    break
    for i, signum in enumerate(timing.signals):
        if i:
            time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signum)
    proc.communicate(timeout=120)
    return proc.returncode


def _sweep(tiny: TinyStudy, timing: Timing) -> None:
    args = tiny.args(**{"--n-trials": "3", "--max-epochs": "2", "--heartbeat-seconds": "1"})
    code = _interrupt(args, timing)
    assert code in (0, 130, 143), code
    journal = tiny.tmp / "journal.log"
    if journal.exists():
        assert stores_disagree(str(journal), tiny.tracking_uri, "tests", "tiny") == [], timing
    # the next run completes the budget, and the stores still agree
    assert main(args) == 0
    trials = tiny.load().trials
    assert not any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)
    assert len([t for t in trials if "retry_of" not in t.user_attrs]) == 3
    assert stores_disagree(str(journal), tiny.tracking_uri, "tests", "tiny") == [], timing
    parent, _ = tiny.runs()
    assert parent.info.status == "FINISHED"


@pytest.mark.parametrize("timing", QUICK, ids=str)
def test_a_signal_at_a_boundary_leaves_agreeing_stores(tiny: TinyStudy, timing: Timing) -> None:
    _sweep(tiny, timing)


@pytest.mark.slow
@pytest.mark.parametrize("timing", [t for t in SWEEP if t not in QUICK], ids=str)
def test_signal_sweep(tiny: TinyStudy, timing: Timing) -> None:
    _sweep(tiny, timing)
