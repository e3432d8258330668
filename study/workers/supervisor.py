"""``--workers N``: N worker processes on one study, shown as one, stopped as one.

Each worker is this same program (``python -m study.run``) with the user's options plus ``--workers 1``, its
share of the CPU threads and ``--no-report``: exactly what a person starting workers by hand on other machines
runs, so one code path serves both. The workers join the study the supervisor already set up, claim its
queued trials, and write their events as JSON lines, which the supervisor replays into one display.

Workers run in their own session, so a Ctrl-C at the terminal reaches the supervisor alone, which forwards
that one signal to each worker: each records its running trial FAIL (and queues it again) and exits. A
worker whose supervisor dies gets SIGTERM from the kernel (Linux ``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

from study.config.cli import ARGV_ENV, EVENTS_ENV
from study.workers.events import Events, replay
from study.workers.interrupts import Interrupts

__all__ = ["default_threads", "supervise"]

_PR_SET_PDEATHSIG = 1


def default_threads(workers: int) -> int:
    """The cores shared out evenly: two 1-thread workers on 2 cores, not two 2-thread ones that stall each other."""
    return max(1, (os.cpu_count() or 1) // workers)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    # not Linux: the worker outlives a killed supervisor, and its trial is failed by heartbeat
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _pump(index: int, stream: object, lines: queue.Queue[tuple[int, str | None]]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        lines.put((index, line))
    lines.put((index, None))


def supervise(argv: Sequence[str], workers: int, threads: int, events: Events, interrupts: Interrupts) -> list[int]:
    """Runs ``workers`` worker processes to the end; returns their exit codes."""
    worker = [*argv, "--workers", "1", "--threads-per-worker", str(threads), "--no-report"]
    env = {
        **os.environ,
        EVENTS_ENV: "jsonl",
        ARGV_ENV: json.dumps(worker),  # not on the command line, where `ps` would show a store's password
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    command = [sys.executable, "-m", "study.run"]
    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
    procs = []
    for index in range(workers):
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        procs.append(proc)
        threading.Thread(target=_pump, args=(index, proc.stdout, lines), daemon=True).start()
    open_streams = workers
    while open_streams:
        try:
            index, line = lines.get(timeout=0.2)
            if line is None:
                open_streams -= 1
            elif not replay(line, events):
                events.note(f"[worker {index}] {line.rstrip()}")
        except queue.Empty:
            continue
        except KeyboardInterrupt:  # the first signal only (study.workers.interrupts): forward it once
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(interrupts.received or signal.SIGINT)
    return [proc.wait() for proc in procs]
