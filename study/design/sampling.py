"""Optuna sampler and pruner from the configuration.

The sampler is seeded per trial, from the study's ``--seed`` and the trial's number: trial numbers are handed
out by the storage, one per trial, so workers that draw at the same instant never draw the same configuration,
a resumed study does not replay its start, and one worker alone is as reproducible as before. Trial k of every
tuned sub-study samples with the same seed: the paired design ``study.design.protocols`` describes.
"""

from __future__ import annotations

import warnings

import numpy as np
import optuna

from study.config import StudyConfig

__all__ = ["make_pruner", "make_sampler", "sampler_seed"]


def sampler_seed(seed: int, trial_number: int) -> int:
    """A 32-bit seed for trial ``trial_number`` of a study seeded with ``seed``; distinct trials, distinct seeds."""
    return int(np.random.SeedSequence([seed, trial_number]).generate_state(1)[0])


def make_sampler(config: StudyConfig, trial_number: int) -> optuna.samplers.BaseSampler:
    seed = sampler_seed(config.seed, trial_number)
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if config.sampler == "qmc":
        # one scrambled Sobol sequence per study: its seed must not change from trial to trial, and the point a
        # trial takes is the next one of the sequence (Optuna counts them in the study)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=config.seed)
    if config.sampler == "gp":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # group=True: one multivariate model per optimizer's subspace (its own lr_<name> with batch_size);
        # constant_liar: trials other workers are running count as bad guesses, so workers spread out.
        return optuna.samplers.TPESampler(
            seed=seed, multivariate=True, group=True, n_startup_trials=8, constant_liar=True
        )


def make_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    if config.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
    if config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=config.max_epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()
