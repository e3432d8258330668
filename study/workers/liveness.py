"""Which running trials are alive: a heartbeat while a trial trains, and a sweep that fails the silent ones.

A worker that dies (SIGKILL, a lost machine, a container stopped) leaves its trial RUNNING in both stores. No
PID check can tell that from another host, or inside a container where every PID is 1. Instead, the worker
refreshes a timestamp on its trial (the ``heartbeat`` user attribute) every ``interval`` seconds from a
background thread; any worker that finds a RUNNING trial silent for longer than the grace period fails it in
both stores, with its reason, and enqueues its configuration once more (a retry is never retried again).

One mechanism for every storage: Optuna's own RDB heartbeat fails a trial first and calls back after, when a
finished trial's attributes can no longer be written, so the reason could not be recorded in Optuna.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from study.records.optuna_internals import fail_if_running, set_trial_attr
from study.schema import GRACE_BEATS, HEARTBEAT, RETRY_OF, ROLE, SEED, STATE_REASON

__all__ = ["beating", "retry", "sweep"]


@contextmanager
def beating(study: optuna.Study, trial: FrozenTrial, interval: float) -> Iterator[None]:
    """Refreshes the trial's heartbeat every ``interval`` seconds while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                set_trial_attr(study, trial, HEARTBEAT, time.time())
            except UpdateFinishedTrialError:
                return  # another worker judged it dead: nothing left to keep alive
            except Exception:  # noqa: BLE001 - a store hiccup must not kill training; the next beat retries
                pass
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{study.study_name}-{trial.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def last_sign_of_life(trial: FrozenTrial) -> float:
    beat = trial.user_attrs.get(HEARTBEAT)
    if isinstance(beat, int | float):
        return float(beat)
    started = trial.datetime_start
    return started.timestamp() if started else 0.0


def retry(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Enqueues the trial's configuration (its params, role and seed) once more; never a retry's retry."""
    if RETRY_OF in trial.user_attrs:
        return False
    attrs: dict[str, Any] = {RETRY_OF: trial.number}
    for key in (ROLE, SEED):
        if key in trial.user_attrs:
            attrs[key] = trial.user_attrs[key]
    study.enqueue_trial(dict(trial.params), user_attrs=attrs)
    return True


def sweep(
    study: optuna.Study, interval: float, on_failed: Callable[[FrozenTrial, str], None], now: float | None = None
) -> list[int]:
    """Fails every RUNNING trial of ``study`` silent for ``GRACE_BEATS`` intervals; returns their numbers.

    ``on_failed(trial, reason)`` runs for each trial this process failed (closing its MLflow run); the trial's
    configuration is then retried once.
    """
    now = time.time() if now is None else now
    grace = GRACE_BEATS * interval
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        silent = now - last_sign_of_life(trial)
        if silent <= grace:
            continue
        reason = f"its worker stopped answering ({silent:.0f} s without a heartbeat, limit {grace:.0f} s)"
        if not fail_if_running(study, trial, STATE_REASON, reason):
            continue  # another worker got there first
        on_failed(trial, reason)
        retry(study, trial)
        failed.append(trial.number)
    return failed
