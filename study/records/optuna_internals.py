"""Every use of Optuna's private API, in one place: what a worker needs and Optuna's public API does not offer.

Optuna's public ``Study`` runs trials one process at a time (``optimize``, or ``ask``/``tell``). A study shared by
many workers needs more: claiming one queued trial atomically (WAITING -> RUNNING, which exactly one worker wins),
writing a claimed trial's attributes from another thread (its heartbeat) or before it is told, failing a silent
trial only if it is still RUNNING, reading back the values a trial was queued with, and handing a claimed trial to
the search space as a live ``optuna.Trial``. All of it goes through the study's storage handle (``Study._storage``)
and a trial's storage id (``FrozenTrial._trial_id``); if a future Optuna renames them, this is the one file to
change (``tests/test_architecture.py`` keeps it so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from study.schema import FIXED_PARAMS_ATTR

__all__ = [
    "claim",
    "enqueued",
    "fail_if_running",
    "live_trial",
    "queued_values",
    "refreshed",
    "set_enqueued",
    "set_trial_attr",
]


def _storage(study: optuna.Study) -> BaseStorage:
    return study._storage


def claim(study: optuna.Study, trial: FrozenTrial) -> FrozenTrial | None:
    """Moves a WAITING trial to RUNNING; the trial as claimed, or None if another worker got it first."""
    try:
        if _storage(study).set_trial_state_values(trial._trial_id, TrialState.RUNNING):
            return _storage(study).get_trial(trial._trial_id)
    except UpdateFinishedTrialError:
        pass  # another worker claimed and finished it meanwhile
    return None


def refreshed(study: optuna.Study, trial: FrozenTrial) -> FrozenTrial:
    """The trial as the storage holds it now."""
    return _storage(study).get_trial(trial._trial_id)


def live_trial(study: optuna.Study, trial: FrozenTrial) -> optuna.Trial:
    """A claimed trial as the ``optuna.Trial`` that suggests, reports and prunes (what ``Study.ask`` returns)."""
    return optuna.Trial(study, trial._trial_id)


def set_trial_attr(study: optuna.Study, trial: FrozenTrial, key: str, value: Any) -> None:
    """Sets a user attribute of a RUNNING trial; ``UpdateFinishedTrialError`` if it has finished since."""
    _storage(study).set_trial_user_attr(trial._trial_id, key, value)


def fail_if_running(study: optuna.Study, trial: FrozenTrial, reason_key: str, reason: str) -> bool:
    """Records ``reason`` and fails the trial if it is still RUNNING; False if another worker finished it first."""
    try:
        set_trial_attr(study, trial, reason_key, reason)
        return bool(_storage(study).set_trial_state_values(trial._trial_id, TrialState.FAIL))
    except UpdateFinishedTrialError:
        return False


def enqueued(trial: FrozenTrial) -> Mapping[str, Any]:
    """The values a trial was queued with: ``Study.enqueue_trial`` keeps them in the trial's system attributes,
    where ``Trial._suggest`` reads them back; the public ``Trial`` does not expose them."""
    fixed = trial.system_attrs.get(FIXED_PARAMS_ATTR)
    return fixed if isinstance(fixed, Mapping) else {}


def queued_values(trial: optuna.Trial | optuna.trial.FixedTrial) -> Mapping[str, Any]:
    """What a live trial was queued with; a ``FixedTrial`` (a finished trial replayed) holds only its own values."""
    if isinstance(trial, optuna.Trial):
        return enqueued(trial.study._storage.get_trial(trial._trial_id))
    return {}


def set_enqueued(study: optuna.Study, trial: FrozenTrial, values: Mapping[str, Any]) -> None:
    """Replaces the values a claimed trial runs with (a retraining takes its optimizer's best configuration)."""
    _storage(study).set_trial_system_attr(trial._trial_id, FIXED_PARAMS_ATTR, dict(values))
