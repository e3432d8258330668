"""One arm measured alone: the other arm processes paused, and the CPU time of each process read from ``/proc``.

While an arm is measured, every other live arm process is stopped (SIGSTOP, each of its threads confirmed stopped)
and continued afterwards (SIGCONT): an idle TensorFlow or torch process can keep threads spinning that would take
cycles from the arm being timed. The check, recorded with every measurement: the paused processes' CPU time
(utime + stime of ``/proc/<pid>/stat``, summed over their threads) did not move while the arm ran; the measured
process's own CPU time; and what the rest of the machine took meanwhile (the busy time of ``/proc/stat`` less the
arm's), which shows another user's load where the load average would only hint at it.

Linux only, like the benchmark (``/proc``); stdlib only, so that the runner stays light.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "QUIET_LIMIT",
    "Check",
    "children_cpu_seconds",
    "machine_busy_seconds",
    "measured_alone",
    "process_cpu_seconds",
    "summarize",
]

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")  # the unit of /proc's CPU times
# Cores the rest of the machine may keep busy during a measurement before the run calls it disturbed: this runner
# and the kernel's own threads take a few hundredths; another user's job takes a core (seen at 0.5-1.2 on the
# shared 2-core machine, with throughputs off by up to 4x)
QUIET_LIMIT = 0.2
STOP_TIMEOUT_SECONDS = 10.0
_STOPPED = ("T", "t", "Z", "X")  # stopped, traced, or already gone: not running


def _stat_fields(path: Path) -> list[str]:
    # the command name (field 2) is in parentheses and may hold spaces: split after its closing one
    return path.read_text().rpartition(")")[2].split()


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds the process has used so far, every thread of it (utime + stime of ``/proc/<pid>/stat``)."""
    fields = _stat_fields(Path(f"/proc/{pid}/stat"))  # fields[0] is field 3 (state): utime is 14, stime 15
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has been busy since boot (``/proc/stat``: all but idle and iowait)."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def children_cpu_seconds() -> float:
    """CPU seconds of this process's children that have ended (and been waited for), their own children included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _threads_stopped(pid: int) -> bool:
    try:
        return all(_stat_fields(task / "stat")[0] in _STOPPED for task in Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return True  # gone


def _pause(pids: Sequence[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for pid in pids:
        while not _threads_stopped(pid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"arm process {pid} did not stop within {STOP_TIMEOUT_SECONDS:g} s of SIGSTOP")
            time.sleep(0.001)


@dataclass(frozen=True)
class Check:
    """What one measurement's isolation looked like."""

    wall_seconds: float
    arm_cpu_seconds: float  # CPU time of the measured process(es)
    paused: int  # arm processes paused meanwhile
    paused_cpu_seconds: float  # CPU time those paused processes used meanwhile: 0 when the pause held
    foreign_cpu_seconds: float  # CPU time of everything else on the machine meanwhile (other users, this runner)

    @property
    def foreign_cores(self) -> float:
        """Cores the rest of the machine kept busy, on average over the measurement."""
        return self.foreign_cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "foreign_cores": self.foreign_cores}


@dataclass
class _Box:
    """Holds the Check once the measured block has ended."""

    check: Check | None = None


@contextmanager
def measured_alone(arm_cpu: Callable[[], float], paused: Sequence[int]) -> Iterator[_Box]:
    """Runs the block with the processes ``paused`` stopped; the box then holds the Check. ``arm_cpu`` reads the
    measured side's CPU seconds (``process_cpu_seconds`` of a live arm, ``children_cpu_seconds`` for a process
    that ends inside the block)."""
    box = _Box()
    _pause(paused)
    try:
        before = {pid: process_cpu_seconds(pid) for pid in paused}
        arm_before, busy_before, started = arm_cpu(), machine_busy_seconds(), time.perf_counter()
        yield box
        wall = time.perf_counter() - started
        arm, busy = arm_cpu() - arm_before, machine_busy_seconds() - busy_before
        paused_cpu = sum(process_cpu_seconds(pid) - before[pid] for pid in paused)
        foreign = max(0.0, busy - arm - paused_cpu)
        box.check = Check(wall, arm, len(paused), paused_cpu, foreign)
    finally:
        for pid in paused:
            os.kill(pid, signal.SIGCONT)


def summarize(checks: Sequence[Check]) -> dict[str, Any]:
    """The isolation of a set of measurements, as the tables report it."""
    if not checks:
        return {"measurements": 0}
    foreign = sorted(c.foreign_cores for c in checks)
    cores = sorted(c.arm_cpu_seconds / c.wall_seconds for c in checks if c.wall_seconds > 0)
    return {
        "measurements": len(checks),
        "arm_cores_median": cores[len(cores) // 2] if cores else 0.0,  # cores the measured side kept busy
        "paused_processes_max": max(c.paused for c in checks),
        "paused_cpu_seconds": sum(c.paused_cpu_seconds for c in checks),
        "foreign_cores_median": foreign[len(foreign) // 2],
        "foreign_cores_max": foreign[-1],
        "disturbed": sum(f > QUIET_LIMIT for f in foreign),  # measurements the rest of the machine took cores from
    }
