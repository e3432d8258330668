"""The three ways a study spends its trials.

- ``search``: one adaptive Optuna search over every chosen optimizer (quick, but TPE spends its budget on
  early winners and the median pruner compares optimizers against each other).
- ``seed``: the article's table: each optimizer at the Keras defaults, batch 64, 10 epochs, validated on the
  test set, once per seed.
- ``tuned``: the fair comparison (DeepOBS, Choi et al. 2019): one sub-study ``NAME.<optimizer>`` per
  optimizer with the same trial budget each, so pruning compares trials of one optimizer only; then the best
  configuration of each is retrained with ``--seeds`` fresh seeds in ``NAME.final`` and tested once on the
  held-out test set. Every sub-study's sampler starts from the same seed, so its random startup trials sit at
  the same relative positions of each optimizer's own lr range with the same batch sizes: a paired design in
  which no optimizer gets luckier draws than another (with n_trials <= 8, TPE's startup, it is a paired random
  search).

Every protocol is resumable: rerunning tops each (sub-)study up to its budget instead of starting over.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from study.objective import Objective
from study.schema import (
    BATCH_SIZE,
    FINAL_ROLE,
    FINAL_SUFFIX,
    LR,
    OPTIMIZER,
    ROLE,
    SEARCH,
    SEED,
    SEED_PROTOCOL,
    SEED_ROLE,
    TUNED,
    best_trial,
    lr_param,
    sub_study,
)
from study.search_space import default_hyperparameters
from study.session import Session, open_study

if TYPE_CHECKING:
    from study.config import StudyConfig

__all__ = ["FINAL_SEED_OFFSET", "run_protocol"]

# Final retraining seeds start here, so they never repeat a seed the search already trained with.
FINAL_SEED_OFFSET = 10_000
_DONE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def optimize(session: Session, study: optuna.Study, config: StudyConfig, n_trials: int) -> None:
    if n_trials <= 0:
        return
    objective = Objective(
        config,
        session.data,
        session.tracker,
        session.device,
        on_trial_start=session.progress.trial_started,
        on_epoch=session.progress.epoch_done,
    )
    study.optimize(
        objective, n_trials=n_trials, timeout=config.timeout, callbacks=[session.progress], catch=(Exception,)
    )


def run_search(session: Session) -> list[optuna.Study]:
    study = open_study(session, session.config.study_name)
    session.progress.n_trials = session.config.n_trials
    optimize(session, study, session.config, session.config.n_trials)
    return [study]


def _enqueue(study: optuna.Study, params: dict[str, Any], role: str, seed: int) -> None:
    """A fixed configuration, trained once with ``seed``: the search space reads its values back."""
    study.enqueue_trial(params, user_attrs={ROLE: role, SEED: seed})


def _completed_seeds(study: optuna.Study, optimizer: str) -> set[int]:
    return {
        int(t.user_attrs[SEED])
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.params.get(OPTIMIZER) == optimizer and SEED in t.user_attrs
    }


def run_seed(session: Session) -> list[optuna.Study]:
    """Each optimizer at the chosen defaults (Keras by default), once per seed; completed seeds are kept."""
    c = session.config
    study = open_study(session, c.study_name, pruner=optuna.pruners.NopPruner())
    queued = 0
    for name in c.optimizers:
        lr = float(default_hyperparameters(name, c.defaults)[LR])
        params = {OPTIMIZER: name, lr_param(name): lr, BATCH_SIZE: c.batch_sizes[0]}
        for seed in range(c.seed, c.seed + c.seeds):
            if seed not in _completed_seeds(study, name):
                _enqueue(study, params, SEED_ROLE, seed)
                queued += 1
    session.progress.n_trials = queued
    optimize(session, study, dataclasses.replace(c, timeout=None), queued)
    return [study]


def run_tuned(session: Session) -> list[optuna.Study]:
    """An equal budget of n_trials per optimizer, then each optimizer's best config retrained with K seeds."""
    c = session.config
    subs = {name: open_study(session, sub_study(c.study_name, name)) for name in c.optimizers}
    missing = {name: max(c.n_trials - sum(t.state in _DONE for t in s.trials), 0) for name, s in subs.items()}
    final = open_study(session, sub_study(c.study_name, FINAL_SUFFIX), pruner=optuna.pruners.NopPruner())
    session.progress.n_trials = sum(missing.values()) + len(c.optimizers) * c.seeds
    for name, study in subs.items():
        # Each sub-study searches only its optimizer: pruning compares a trial with its own optimizer's trials.
        optimize(session, study, dataclasses.replace(c, optimizers=(name,)), missing[name])

    queued = 0
    for name, study in subs.items():
        best = best_trial(study.get_trials(deepcopy=False))
        if best is None:
            session.log(f"{name}: no completed trial to retrain")
            continue
        done = _completed_seeds(final, name)
        for k in range(c.seeds):
            seed = c.seed + FINAL_SEED_OFFSET + k
            if seed not in done:
                _enqueue(final, dict(best.params), FINAL_ROLE, seed)
                queued += 1
    session.progress.n_trials = session.progress.done + queued
    optimize(session, final, dataclasses.replace(c, pruner="none", timeout=None), queued)
    return [*subs.values(), final]


RUNNERS: dict[str, Callable[[Session], list[optuna.Study]]] = {
    SEARCH: run_search,
    SEED_PROTOCOL: run_seed,
    TUNED: run_tuned,
}


def run_protocol(session: Session) -> list[optuna.Study]:
    return RUNNERS[session.config.protocol](session)
