"""Optuna sampler and pruner from the configuration."""

from __future__ import annotations

import warnings

import optuna

from study.config import StudyConfig

__all__ = ["make_pruner", "make_sampler"]


def make_sampler(config: StudyConfig, n_existing_trials: int = 0) -> optuna.samplers.BaseSampler:
    """Seeded by the base seed plus the trials already run, so a resumed study does not replay its start."""
    seed = config.seed + n_existing_trials
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # group=True: one multivariate model per optimizer's subspace (its own lr_<name> with batch_size).
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, n_startup_trials=8)


def make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
    if config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=config.max_epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()
