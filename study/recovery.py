"""Makes the two stores tell the truth after a process was killed mid-trial (SIGKILL, power loss).

Such a trial stays RUNNING in Optuna and its MLflow run stays RUNNING. When the study is opened again, a
RUNNING trial whose worker process (recorded as host:pid) is gone from this host is marked FAIL, and every
child run still RUNNING is closed with the status its Optuna trial ended in.
"""

from __future__ import annotations

import os
import socket

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from study.schema import STATE_REASON, STUDY_TAG, TRIAL_TAG, WORKER
from study.tracking import StudyTracker, child_runs

__all__ = ["recover_interrupted"]

DEAD_REASON = "its process died before the trial finished"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned(trial: optuna.trial.FrozenTrial, host: str) -> bool:
    worker_host, _, pid = str(trial.user_attrs.get(WORKER, "")).rpartition(":")
    return worker_host == host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))


def recover_interrupted(study: optuna.Study, storage: BaseStorage, tracker: StudyTracker) -> list[int]:
    """Returns the numbers of the trials it marked FAIL."""
    host = socket.gethostname()
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _orphaned(trial, host):
            storage.set_trial_user_attr(trial._trial_id, STATE_REASON, DEAD_REASON)
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            failed.append(trial.number)
    states = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    open_runs = child_runs(
        tracker.client,
        tracker.experiment_id,
        tracker.parent_run_id,
        f"attributes.status = 'RUNNING' and tags.`{STUDY_TAG}` = '{study.study_name}'",
    )
    for run in open_runs:
        number = run.data.tags.get(TRIAL_TAG)
        state = states.get(int(number)) if number and number.isdigit() else TrialState.FAIL
        if state not in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL):
            continue  # a live trial of another process
        tracker.end_trial(run.info.run_id, state.name, reason=DEAD_REASON if state == TrialState.FAIL else None)
    return failed
