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
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from optimizers.registry import get_spec
from study.objective import Objective
from study.recovery import recover_interrupted
from study.sampling import make_pruner, make_sampler
from study.search_space import FIXED_HYPERPARAMETERS_ATTR, FIXED_LR_ATTR

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from models.data import ImageDataModule
    from study.config import StudyConfig
    from study.progress import Progress
    from study.tracking import StudyTracker

__all__ = ["FINAL_SEED_OFFSET", "StudyContext", "run_protocol"]

# Final retraining seeds start here, so they never repeat a seed the search already trained with.
FINAL_SEED_OFFSET = 10_000
_DONE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass
class StudyContext:
    config: StudyConfig
    storage: BaseStorage
    tracker: StudyTracker
    data: ImageDataModule
    device: str
    progress: Progress
    log: Callable[[str], None] = print


def open_study(
    ctx: StudyContext,
    name: str,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
) -> optuna.Study:
    """Creates or continues a (sub-)study, links it to the MLflow parent run, and repairs killed trials."""
    existing = name in optuna.study.get_all_study_names(ctx.storage)
    n_before = len(optuna.load_study(study_name=name, storage=ctx.storage).trials) if existing else 0
    study = optuna.create_study(
        storage=ctx.storage,
        study_name=name,
        direction="maximize",
        sampler=sampler or make_sampler(ctx.config, n_before),
        pruner=pruner or make_pruner(ctx.config),
        load_if_exists=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["val_acc"])
    study.set_user_attr("protocol", ctx.config.protocol)
    study.set_user_attr("mlflow_parent_run_id", ctx.tracker.parent_run_id)
    study.set_user_attr("mlflow_tracking_uri", ctx.config.tracking_uri)
    recovered = recover_interrupted(study, ctx.storage, ctx.tracker)
    if recovered:
        ctx.log(f"{name}: marked trials {recovered} FAIL: their process died mid-trial")
    if n_before:
        ctx.log(f"continuing study {name!r}: {n_before} earlier trials")
    return study


def optimize(ctx: StudyContext, study: optuna.Study, config: StudyConfig, n_trials: int) -> None:
    if n_trials <= 0:
        return
    objective = Objective(
        config,
        ctx.data,
        ctx.tracker,
        ctx.device,
        on_trial_start=ctx.progress.trial_started,
        on_epoch=ctx.progress.epoch_done,
    )
    study.optimize(objective, n_trials=n_trials, timeout=config.timeout, callbacks=[ctx.progress], catch=(Exception,))


def run_search(ctx: StudyContext) -> list[optuna.Study]:
    study = open_study(ctx, ctx.config.study_name)
    ctx.progress.n_trials = ctx.config.n_trials
    optimize(ctx, study, ctx.config, ctx.config.n_trials)
    return [study]


def _enqueue_fixed(
    study: optuna.Study, optimizer: str, lr: float, batch_size: int, seed: int, role: str, extra: dict
) -> None:
    study.enqueue_trial(
        {"optimizer": optimizer, "batch_size": batch_size},
        user_attrs={"role": role, "seed": seed, FIXED_LR_ATTR: lr, FIXED_HYPERPARAMETERS_ATTR: extra},
    )


def _completed_seeds(study: optuna.Study, optimizer: str) -> set[int]:
    return {
        int(t.user_attrs["seed"])
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.params.get("optimizer") == optimizer and "seed" in t.user_attrs
    }


def run_seed(ctx: StudyContext) -> list[optuna.Study]:
    """Each optimizer at the chosen defaults (Keras by default), once per seed; completed seeds are kept."""
    c = ctx.config
    study = open_study(ctx, c.study_name, pruner=optuna.pruners.NopPruner())
    queued = 0
    for name in c.optimizers:
        lr = float(get_spec(name).defaults(c.defaults)["lr"])
        for seed in range(c.seed, c.seed + c.seeds):
            if seed not in _completed_seeds(study, name):
                _enqueue_fixed(study, name, lr, c.batch_sizes[0], seed, "seed", {})
                queued += 1
    ctx.progress.n_trials = queued
    optimize(ctx, study, dataclasses.replace(c, timeout=None), queued)
    return [study]


def run_tuned(ctx: StudyContext) -> list[optuna.Study]:
    """An equal budget of n_trials per optimizer, then each optimizer's best config retrained with K seeds."""
    c = ctx.config
    subs = {name: open_study(ctx, f"{c.study_name}.{name}") for name in c.optimizers}
    missing = {name: max(c.n_trials - sum(t.state in _DONE for t in s.trials), 0) for name, s in subs.items()}
    final = open_study(ctx, f"{c.study_name}.final", pruner=optuna.pruners.NopPruner())
    ctx.progress.n_trials = sum(missing.values()) + len(c.optimizers) * c.seeds
    for name, study in subs.items():
        # Each sub-study searches only its optimizer: pruning compares a trial with its own optimizer's trials.
        optimize(ctx, study, dataclasses.replace(c, optimizers=(name,)), missing[name])

    queued = 0
    for name, study in subs.items():
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if not complete:
            ctx.log(f"{name}: no completed trial to retrain")
            continue
        best = max(complete, key=lambda t: t.value or 0.0)
        extra = {k: v for k, v in best.user_attrs.get("hyperparameters", {}).items() if k != "lr"}
        done = _completed_seeds(final, name)
        for k in range(c.seeds):
            seed = c.seed + FINAL_SEED_OFFSET + k
            if seed not in done:
                _enqueue_fixed(
                    final, name, float(best.user_attrs["lr"]), best.params["batch_size"], seed, "final", extra
                )
                queued += 1
    ctx.progress.n_trials = ctx.progress.done + queued
    optimize(ctx, final, dataclasses.replace(c, pruner="none", timeout=None), queued)
    return [*subs.values(), final]


PROTOCOLS: dict[str, Callable[[StudyContext], list[optuna.Study]]] = {
    "search": run_search,
    "seed": run_seed,
    "tuned": run_tuned,
}


def run_protocol(ctx: StudyContext) -> list[optuna.Study]:
    return PROTOCOLS[ctx.config.protocol](ctx)
