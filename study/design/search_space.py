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
    ADAMW_LR_PREFIX,
    BATCH_SIZE,
    BETA1_PREFIX,
    CONSTANT_SCHEDULE,
    CONVENTIONS,
    KERAS_CONVENTION,
    LR,
    MOMENTUM_PREFIX,
    ONE_MINUS_BETA2_PREFIX,
    OPTIMIZER,
    SCHEDULE,
    SCHEDULES,
    WARMUP,
    lr_param,
)

if TYPE_CHECKING:
    import optuna

    from study.config import StudyConfig

__all__ = [
    "KERAS_DEFAULTS",
    "LR_RANGES",
    "MUON_ADAMW_LR_RANGE",
    "default_params",
    "MAX_SEARCHED_WARMUP",
    "Choice",
    "SearchSpace",
    "default_hyperparameters",
]

MAX_SEARCHED_WARMUP = 0.3  # --search-schedule draws the warm-up from [0, this] of the steps
MUON, MUON_ADAMW_LR = "muon", "adamw_lr"  # the hybrid's registry name, and its AdamW side's constructor keyword

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
        # Adam's (the RAdam paper tunes it as Adam, torch's default 1e-3)
        "radam": (1e-5, 1e-2),
        # around the paper's suggested 2e-3 (Kingma & Ba 2015, sec. 7.1; torch's default)
        "adamax": (1e-4, 3e-2),
        # its lr caps a *relative* step min(lr, 1/sqrt(t)) (torch's default 1e-2; the paper's schedule is 1/sqrt(t))
        "adafactor": (1e-4, 1e-1),
        # 3-10x below AdamW's (Chen et al. 2023, sec. 5; lion-pytorch's default 1e-4)
        "lion": (1e-6, 3e-3),
        # Muon's side; around the reference recipes' 0.02-0.05 (torch's docs, Keller Jordan's modded-nanogpt)
        "muon": (1e-3, 0.3),
        # above AdamW's: the averaging damps it (Defazio et al. 2024 use 1-10x AdamW's; the package's 2.5e-3)
        "schedulefree_adamw": (1e-4, 5e-2),
        # a multiplier of the estimated step size, 1.0 by design (Mishchenko & Defazio 2024)
        "prodigy": (0.1, 10.0),
    }
)
# Muon's AdamW side (biases and the output layer): AdamW's own range (the reference recipes use 3e-4 beside Muon's)
MUON_ADAMW_LR_RANGE = (1e-5, 1e-2)

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
        # Keras has Adamax, Adafactor and Lion (as 3.x spells them); RAdam, Muon, Schedule-Free AdamW (2.x) and
        # Prodigy it has not: those keep their references' defaults under either convention.
        "radam": {},
        "adamax": {LR: 1e-3, "eps": 1e-7},
        "adafactor": {LR: 1e-3},
        "lion": {LR: 1e-3, "betas": (0.9, 0.99)},
        "muon": {},
        "schedulefree_adamw": {},
        "prodigy": {},
    }
)


def default_params(optimizer: str, convention: str) -> dict[str, float]:
    """The Optuna params that fix ``optimizer`` at its defaults: its lr, and for Muon its AdamW side's lr too (the
    seed protocol queues them, so nothing of a fixed configuration is left to the sampler)."""
    values = default_hyperparameters(optimizer, convention)
    params = {lr_param(optimizer): float(values[LR])}
    if optimizer == MUON:
        params[ADAMW_LR_PREFIX + optimizer] = float(values[MUON_ADAMW_LR])
    return params


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
    schedule: str = CONSTANT_SCHEDULE  # the learning-rate schedule (study.training.schedules)
    warmup: float = 0.0  # its warm-up, a fraction of the steps

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
    schedule: str = CONSTANT_SCHEDULE  # every trial's, unless searched
    warmup: float = 0.0
    search_schedule: bool = False  # search the schedule and its warm-up too

    @classmethod
    def of(cls, config: StudyConfig) -> SearchSpace:
        """The space a study's options describe: each optimizer's own lr range unless ``--lr-range`` replaces it."""
        ranges = {name: config.lr_ranges.get(name, LR_RANGES[name]) for name in config.optimizers}
        c = config
        return cls(
            c.optimizers,
            MappingProxyType(ranges),
            c.batch_sizes,
            c.defaults,
            c.search_extras,
            c.schedule,
            c.warmup,
            c.search_schedule,
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
        if name == MUON:  # the AdamW side of the hybrid: its own learning rate, searched (or queued) as the lr is
            side = queued.get(ADAMW_LR_PREFIX + name)
            low, high = (side, side) if side is not None else MUON_ADAMW_LR_RANGE
            hyperparameters[MUON_ADAMW_LR] = trial.suggest_float(ADAMW_LR_PREFIX + name, low, high, log=True)
        schedule, warmup = self.schedule, self.warmup
        if self.search_schedule:
            schedule = str(trial.suggest_categorical(SCHEDULE, list(SCHEDULES)))
            warmup = trial.suggest_float(WARMUP, 0.0, MAX_SEARCHED_WARMUP)
        return Choice(name, int(batch_size), MappingProxyType(hyperparameters), schedule, warmup)


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
