"""A paused arm uses no CPU while another is measured, and the check would see it if it did."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from study.bench.isolation import measured_alone, process_cpu_seconds, summarize


@pytest.fixture
def spinner() -> Iterator[int]:
    """A process that keeps a core busy, as an idle arm's spinning threads would."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def test_a_paused_process_uses_no_cpu_and_resumes(spinner: int) -> None:
    with measured_alone(lambda: 0.0, [spinner]) as box:
        time.sleep(0.5)
    assert box.check is not None
    assert box.check.paused == 1 and box.check.paused_cpu_seconds == 0 and box.check.wall_seconds >= 0.5
    resumed = process_cpu_seconds(spinner)
    time.sleep(0.3)
    assert process_cpu_seconds(spinner) > resumed  # SIGCONT: it runs again


def test_the_check_sees_a_process_that_was_not_paused(spinner: int) -> None:
    with measured_alone(lambda: process_cpu_seconds(spinner), []) as box:
        time.sleep(0.5)
    assert box.check is not None and box.check.arm_cpu_seconds > 0.1  # the measured side: a busy core
    assert summarize([box.check])["paused_cpu_seconds"] == 0 and summarize([])["measurements"] == 0
