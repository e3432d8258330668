"""The search space: which optimizer, its own learning rate, the batch size, and what fills the rest.

Define-by-run: ``optimizer`` first, then that optimizer's conditional ``lr_<name>`` searched log-uniformly
over its own range (Adadelta's natural lr is near 1, Adam's near 1e-3, so one shared range would waste most
trials), then ``batch_size``. With ``TPESampler(multivariate=True, group=True)`` each optimizer's subspace
gets one joint model of lr and batch size, which interact.

The values not searched come from one of two conventions: ``torch`` (the constructors' defaults, from
``optimizers``) or ``keras`` (tf.keras 2.x, which the article ran with). Only hyperparameters change between
the two, never the update rule; where Keras' arithmetic differs, the optimizer's docstring says so.

An enqueued trial (the seed and tuned protocols) goes through the same code: Optuna hands back the values it
was enqueued with instead of sampling, so a fixed configuration is recorded like a searched one, its learning
rate as a one-point distribution (it was not searched, and may lie outside the searched range: the seed
protocol's Keras lr for Adadelta is 1e-3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from study.schema import (
    BATCH_SIZE,
    BETA1_PREFIX,
    CONVENTIONS,
    KERAS_CONVENTION,
    LR,
    MOMENTUM_PREFIX,
    ONE_MINUS_BETA2_PREFIX,
    OPTIMIZER,
    lr_param,
)

if TYPE_CHECKING:
    import optuna

    from study.config import StudyConfig

__all__ = ["KERAS_DEFAULTS", "LR_RANGES", "Choice", "SearchSpace", "default_hyperparameters"]

# (low, high) of each optimizer's log-uniform learning-rate search, around its natural scale.
LR_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "sgd": (1e-3, 1.0),
        "momentum": (1e-4, 0.3),
        "nesterov": (1e-4, 0.3),
        "adagrad": (1e-3, 1.0),
        "rmsprop": (1e-5, 1e-2),
        "adadelta": (1e-2, 10.0),
        "adam": (1e-5, 1e-2),
        "adamw": (1e-5, 1e-2),
        "nadam": (1e-5, 1e-2),
    }
)

# tf.keras 2.x defaults, where they differ from PyTorch's. SGD's keras lr is 0.01 (torch 1e-3); the momentum
# variants have no library default in either (both default to momentum 0) and keep the registry's preset;
# Keras' AdamW decays by 0.004 (torch 0.01).
KERAS_DEFAULTS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "sgd": {LR: 0.01},
        "momentum": {},
        "nesterov": {},
        "adagrad": {LR: 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-7},
        "rmsprop": {LR: 1e-3, "alpha": 0.9, "eps": 1e-7},
        "adadelta": {LR: 1e-3, "rho": 0.95, "eps": 1e-7},
        "adam": {"eps": 1e-7},
        "adamw": {"eps": 1e-7, "weight_decay": 4e-3},
        "nadam": {LR: 1e-3, "eps": 1e-7},
    }
)


def default_hyperparameters(optimizer: str, convention: str) -> dict[str, Any]:
    """Every constructor keyword of ``optimizer`` (``lr`` included) under ``convention``: a fresh dict."""
    from optimizers.registry import get_spec  # torch: only when a trial is built

    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; accepted: {', '.join(CONVENTIONS)}")
    values = get_spec(optimizer).defaults()
    values.pop("foreach", None)  # how the update runs, not what it computes: the optimizer picks its fastest path
    if convention == KERAS_CONVENTION:
        values.update(KERAS_DEFAULTS[optimizer])
    return values


@dataclass(frozen=True)
class Choice:
    """One trial's configuration: what the sampler chose (or the queue fixed) and the convention filled in."""

    optimizer: str
    batch_size: int
    hyperparameters: Mapping[str, Any]  # every constructor keyword of the optimizer, lr included

    @property
    def lr(self) -> float:
        return float(self.hyperparameters[LR])


@dataclass(frozen=True)
class SearchSpace:
    """What a trial may be: built from the study's options, handed to whoever samples a trial."""

    optimizers: tuple[str, ...]
    lr_ranges: Mapping[str, tuple[float, float]]  # every compared optimizer's range
    batch_sizes: tuple[int, ...]
    defaults: str  # the convention of the values not searched
    search_extras: bool  # also search momentum (SGD family) and beta1/beta2 (Adam family)

    @classmethod
    def of(cls, config: StudyConfig) -> SearchSpace:
        """The space a study's options describe: each optimizer's own lr range unless ``--lr-range`` replaces it."""
        ranges = {name: config.lr_ranges.get(name, LR_RANGES[name]) for name in config.optimizers}
        return cls(
            config.optimizers, MappingProxyType(ranges), config.batch_sizes, config.defaults, config.search_extras
        )

    def choose(self, trial: optuna.Trial | optuna.trial.FixedTrial, queued: Mapping[str, Any]) -> Choice:
        """Samples (or reads back the ``queued`` values of) optimizer, lr, batch size and, with ``search_extras``,
        the extras."""
        name = trial.suggest_categorical(OPTIMIZER, list(self.optimizers))
        fixed = queued.get(lr_param(name))
        low, high = (fixed, fixed) if fixed is not None else self.lr_ranges[name]
        lr = trial.suggest_float(lr_param(name), low, high, log=True)
        batch_size = trial.suggest_categorical(BATCH_SIZE, list(self.batch_sizes))
        hyperparameters = default_hyperparameters(name, self.defaults)
        hyperparameters[LR] = lr
        if self.search_extras:
            hyperparameters.update(_suggest_extras(trial, name, hyperparameters))
        return Choice(name, int(batch_size), MappingProxyType(hyperparameters))


def _suggest_extras(
    trial: optuna.Trial | optuna.trial.FixedTrial, name: str, current: Mapping[str, Any]
) -> dict[str, Any]:
    """Momentum for SGD with momentum and Nesterov, beta1/beta2 for the Adam family; nothing for the rest."""
    extras: dict[str, Any] = {}
    if name in ("momentum", "nesterov"):
        extras["momentum"] = trial.suggest_float(MOMENTUM_PREFIX + name, 0.5, 0.99)
    if "betas" in current:
        beta1 = trial.suggest_float(BETA1_PREFIX + name, 0.8, 0.95)
        beta2 = 1.0 - trial.suggest_float(ONE_MINUS_BETA2_PREFIX + name, 1e-4, 1e-1, log=True)
        extras["betas"] = (beta1, beta2)
    return extras
