"""The three ways a study spends its trials, each as a budget of queued trials that workers claim.

- ``search``: one adaptive Optuna search over every chosen optimizer (quick, but TPE spends its budget on
  early winners and the median pruner compares optimizers against each other).
- ``seed``: the article's table: each optimizer at the Keras defaults, batch 64, 10 epochs, validated on the
  test set, once per seed.
- ``tuned``: the fair comparison (DeepOBS, Choi et al. 2019): one sub-study ``NAME.<optimizer>`` per
  optimizer with the same trial budget each, so pruning compares trials of one optimizer only; then the best
  configuration of each is retrained with ``--seeds`` fresh seeds in ``NAME.final`` and tested once on the
  held-out test set.

A budget is global to the study, whatever the number of workers: joining a study (under its lock, see
``study.workers.session``) tops each (sub-)study up to its budget with WAITING trials, and a worker runs a trial only
after claiming one atomically in the storage. ``--n-trials`` is therefore the study's total: rerunning with the
same budget runs nothing new, a larger one adds the difference. A searched trial is queued empty (the sampler
fills it when it is claimed), a fixed one with its values. The tuned protocol's retrainings are queued with
their optimizer only; a worker fills in the best configuration when it claims one, once that optimizer's
sub-study has no trial left to run.

Every sub-study's trial k samples with the same seed (``study.design.sampling``), so its random startup trials sit at
the same relative positions of each optimizer's own lr range with the same batch sizes: a paired design in
which no optimizer gets luckier draws than another.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from study.config import StudyConfig
from study.design.search_space import SearchSpace, default_params
from study.records.optuna_internals import enqueued
from study.schema import (
    BATCH_SIZE,
    FINAL_ROLE,
    FINAL_SUFFIX,
    OPTIMIZER,
    RETRY_OF,
    ROLE,
    SEARCH,
    SEED,
    SEED_PROTOCOL,
    SEED_ROLE,
    TUNED,
    best_trial,
    lr_param,
    param_optimizer,
    sub_study,
)

__all__ = ["FINAL_SEED_OFFSET", "Part", "parts_of", "plan", "retraining", "waiting_for"]

# Final retraining seeds start here, so they never repeat a seed the search already trained with.
FINAL_SEED_OFFSET = 10_000
_LIVE = (TrialState.WAITING, TrialState.RUNNING)


@dataclass(frozen=True)
class Part:
    """One Optuna study of the protocol and the configuration its trials are built with."""

    name: str
    config: StudyConfig  # a tuned sub-study searches its own optimizer only; final and seed runs never prune
    fixed: bool = False  # every trial is queued with its values: no sampler, no pruner

    @property
    def space(self) -> SearchSpace:
        return SearchSpace.of(self.config)


def parts_of(config: StudyConfig) -> list[Part]:
    """The (sub-)studies of ``config.protocol``, in the order workers claim their trials."""
    if config.protocol == SEARCH:
        return [Part(config.study_name, config)]
    fixed = dataclasses.replace(config, pruner="none")
    if config.protocol == SEED_PROTOCOL:
        return [Part(config.study_name, fixed, fixed=True)]
    subs = [
        Part(sub_study(config.study_name, n), dataclasses.replace(config, optimizers=(n,))) for n in config.optimizers
    ]
    return [*subs, Part(sub_study(config.study_name, FINAL_SUFFIX), fixed, fixed=True)]


def _budgeted(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials that count against a budget: a retry replaces the trial it repeats."""
    return [t for t in trials if RETRY_OF not in t.user_attrs]


def _top_up(study: optuna.Study, budget: int) -> int:
    missing = budget - len(_budgeted(study.get_trials(deepcopy=False)))
    for _ in range(missing):
        study.enqueue_trial({})
    return max(missing, 0)


def _cell_taken(trials: list[FrozenTrial], optimizer: str, seed: int) -> bool:
    """A fixed configuration's seed is taken by any trial of it that did not fail (a retry included)."""
    return any(
        enqueued(t).get(OPTIMIZER, t.params.get(OPTIMIZER)) == optimizer
        and t.user_attrs.get(SEED) == seed
        and t.state != TrialState.FAIL
        for t in trials
    )


def _fill_cells(study: optuna.Study, cells: dict[tuple[str, int], dict[str, Any]], role: str) -> int:
    trials = study.get_trials(deepcopy=False)
    queued = 0
    for (optimizer, seed), params in cells.items():
        if not _cell_taken(trials, optimizer, seed):
            study.enqueue_trial(params, user_attrs={ROLE: role, SEED: seed})
            queued += 1
    return queued


def plan(config: StudyConfig, studies: Mapping[str, optuna.Study]) -> int:
    """Tops every (sub-)study up to its budget; returns how many trials it queued. Call it under the study lock."""
    c = config
    if c.protocol == SEARCH:
        return _top_up(studies[c.study_name], c.n_trials)
    if c.protocol == SEED_PROTOCOL:
        cells = {}
        for name in c.optimizers:
            defaults = default_params(name, c.defaults)  # the lr (and Muon's AdamW-side lr) at the defaults
            pinned = {k: v for k, v in c.fixed.items() if param_optimizer(k) == name}  # e.g. a best.toml's lr_adam
            for seed in range(c.seed, c.seed + c.seeds):
                params = {OPTIMIZER: name, **defaults, BATCH_SIZE: c.batch_sizes[0], **pinned}
                cells[(name, seed)] = params
        return _fill_cells(studies[c.study_name], cells, SEED_ROLE)
    queued = sum(_top_up(studies[sub_study(c.study_name, n)], c.n_trials) for n in c.optimizers)
    finals = {
        (name, c.seed + FINAL_SEED_OFFSET + k): {OPTIMIZER: name} for name in c.optimizers for k in range(c.seeds)
    }
    return queued + _fill_cells(studies[sub_study(c.study_name, FINAL_SUFFIX)], finals, FINAL_ROLE)


def waiting_for(part: Part, trial: FrozenTrial, studies: Mapping[str, optuna.Study]) -> str | None:
    """The sub-study a queued retraining must wait for (it has trials left to run), or None if it may run."""
    fixed = enqueued(trial)
    optimizer = str(fixed.get(OPTIMIZER))
    if not part.fixed or lr_param(optimizer) in fixed or part.config.protocol != TUNED:
        return None
    source = sub_study(part.config.study_name, optimizer)
    busy = studies[source].get_trials(deepcopy=False, states=_LIVE)
    return source if busy else None


def retraining(part: Part, trial: FrozenTrial, studies: Mapping[str, optuna.Study]) -> dict[str, Any] | None:
    """The values a claimed retraining runs with: its optimizer's best configuration, or None if it has none.

    For any other trial, the values it was queued with.
    """
    fixed = dict(enqueued(trial))
    optimizer = str(fixed.get(OPTIMIZER))
    if not part.fixed or lr_param(optimizer) in fixed or part.config.protocol != TUNED:
        return fixed
    best = best_trial(
        studies[sub_study(part.config.study_name, optimizer)].get_trials(deepcopy=False), part.config.objective
    )
    return dict(best.params) if best else None
