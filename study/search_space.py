"""The define-by-run search space: optimizer first, then that optimizer's own learning rate and batch size.

Each optimizer gets its own conditional parameter ``lr_<name>`` searched log-uniformly over its own range
(Adadelta's natural lr is near 1.0, Adam's near 1e-3, so one shared range would waste most trials). With
``TPESampler(multivariate=True, group=True)`` TPE splits the space into one group per optimizer and models lr
and batch size jointly inside each, which matters because the best lr moves with the batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optimizers.registry import get_spec

if TYPE_CHECKING:
    import optuna

    from study.config import StudyConfig

__all__ = ["FIXED_HYPERPARAMETERS_ATTR", "FIXED_LR_ATTR", "TrialParams", "choose", "fixed", "suggest"]

# User attributes of an enqueued trial whose configuration is given, not searched (seed and tuned protocols).
FIXED_LR_ATTR = "fixed_lr"
FIXED_HYPERPARAMETERS_ATTR = "fixed_hyperparameters"


@dataclass(frozen=True)
class TrialParams:
    optimizer: str
    lr: float
    batch_size: int
    # Every constructor keyword of the optimizer (defaults of the chosen convention, then searched values).
    hyperparameters: dict[str, Any]


def suggest(trial: optuna.Trial, config: StudyConfig) -> TrialParams:
    name = trial.suggest_categorical("optimizer", list(config.optimizers))
    low, high = config.lr_range(name)
    lr = trial.suggest_float(f"lr_{name}", low, high, log=True)
    batch_size = trial.suggest_categorical("batch_size", list(config.batch_sizes))
    hyperparameters = get_spec(name).defaults(config.defaults)
    hyperparameters["lr"] = lr
    if config.search_extras:
        hyperparameters.update(_suggest_extras(trial, name, hyperparameters))
    return _recorded(trial, TrialParams(name, lr, batch_size, hyperparameters))


def fixed(trial: optuna.Trial, config: StudyConfig) -> TrialParams:
    """An enqueued trial: optimizer and batch size come from its fixed params, lr and the rest from its attrs.

    The lr is recorded as a one-point distribution so the trial's params read like a searched trial's.
    """
    name = trial.suggest_categorical("optimizer", list(config.optimizers))
    lr = float(trial.user_attrs[FIXED_LR_ATTR])
    trial.suggest_float(f"lr_{name}", lr, lr, log=True)
    batch_size = trial.suggest_categorical("batch_size", list(config.batch_sizes))
    hyperparameters = get_spec(name).defaults(config.defaults)
    hyperparameters.update(trial.user_attrs.get(FIXED_HYPERPARAMETERS_ATTR, {}))
    hyperparameters["lr"] = lr
    return _recorded(trial, TrialParams(name, lr, batch_size, hyperparameters))


def choose(trial: optuna.Trial, config: StudyConfig) -> TrialParams:
    """Fixed when the trial was enqueued with its configuration, otherwise searched."""
    return fixed(trial, config) if FIXED_LR_ATTR in trial.user_attrs else suggest(trial, config)


def _recorded(trial: optuna.Trial, params: TrialParams) -> TrialParams:
    # A flat copy across optimizers lets the dashboard and MLflow plot every trial's lr on one axis; the full
    # hyperparameters let a later retraining rebuild exactly this optimizer.
    trial.set_user_attr("lr", params.lr)
    trial.set_user_attr("hyperparameters", {k: _plain(v) for k, v in params.hyperparameters.items()})
    return params


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _suggest_extras(trial: optuna.Trial, name: str, current: dict[str, Any]) -> dict[str, Any]:
    """Momentum for SGD with momentum and Nesterov, beta1/beta2 for the Adam family; nothing for the rest."""
    extras: dict[str, Any] = {}
    if name in ("momentum", "nesterov"):
        extras["momentum"] = trial.suggest_float(f"momentum_{name}", 0.5, 0.99)
    if "betas" in current:
        beta1 = trial.suggest_float(f"beta1_{name}", 0.8, 0.95)
        beta2 = 1.0 - trial.suggest_float(f"one_minus_beta2_{name}", 1e-4, 1e-1, log=True)
        extras["betas"] = (beta1, beta2)
    return extras
