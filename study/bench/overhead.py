"""BM-2: what a study trial costs beyond its training, and how long a study process takes to start.

In an arm process: both arms train ArticleCNN with our Adam for the same epochs over the same device-resident
batches and validate on the same held-out images after each epoch. ``study_trial`` does it as the study does,
through a worker of a fresh study (claim, MLflow run, Lightning, per-epoch records, commit to both stores, the
collection after a trial); ``raw_loop`` (``study.bench.raw``) with a bare PyTorch loop. Each returns milliseconds
per training step, wall clock from the claim (or the first step) to the commit (or the last validation).

``study_worker`` is the study's own worker on a fresh study, for every benchmark that runs trials as a study does
(BM-1's ``ours``, BM-3's ``study_set``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence

from study.bench.raw import raw_loop, steps_of
from study.bench.runner import fresh_study_args
from study.config.cli import parse_config
from study.design.tasks import load_task
from study.workers.interrupts import Interrupts
from study.workers.session import Session, join
from study.workers.worker import Worker

__all__ = ["raw_loop", "study_trial", "study_worker"]


class _Quiet:
    """Events that go nowhere: the benchmark times the study, not its display."""

    def trial_started(self, *args: object) -> None: ...

    def epoch_done(self, *args: object) -> None: ...

    def trial_finished(self, *args: object) -> None: ...

    def note(self, text: str) -> None: ...


def study_worker(args: Sequence[str]) -> tuple[Session, Worker]:
    """A study joined from ``args`` (its command line) and a worker of it on the CPU, as ``study.run`` makes one."""
    config = parse_config(args)
    task = load_task(config, "cpu")
    session = join(config, log=lambda line: None, code=task.code)
    worker = Worker(session.parts, session.studies, session.tracker, task, "cpu", _Quiet(), Interrupts(), 10.0)
    return session, worker


def study_trial(data_dir: str | None, batch_size: int, train_size: int, epochs: int) -> float:
    """ms per training step of one whole trial run by a study worker (stores in a temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="bench-trial-", ignore_cleanup_errors=True) as folder:
        args = ["--study-name", "bench", "--n-trials", "1", "--optimizers", "adam", "--batch-sizes", str(batch_size)]
        _, worker = study_worker(args + fresh_study_args(folder, train_size, epochs, data_dir))
        started = time.perf_counter()
        assert worker.run().trials == 1
        seconds = time.perf_counter() - started
    return seconds * 1000 / steps_of(train_size, batch_size, epochs)
