"""Short names for the optimizers, with two sets of default hyperparameters and a learning-rate range.

``torch`` defaults are PyTorch's constructor defaults; ``keras`` defaults are those of tf.keras 2.x,
which the article this study follows ran with. Only hyperparameters change between the two sets, never
the update rule: where Keras' arithmetic differs (ε inside RMSprop's square root, Adam's epsilon-hat),
the optimizer's docstring says so under *Conventions*.

The momentum variants of SGD have no library default (both libraries default to ``momentum=0``); they
use ``momentum=0.9, lr=0.01`` under both conventions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import torch

from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .nadam import NAdam
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["CONVENTIONS", "OPTIMIZER_NAMES", "REGISTRY", "OptimizerSpec", "build_optimizer", "get_spec"]

CONVENTIONS: tuple[str, ...] = ("torch", "keras")


@dataclass(frozen=True)
class OptimizerSpec:
    """One registry entry: an optimizer class with its defaults and learning-rate search range."""

    name: str  # registry name, e.g. "momentum"
    cls: type[torch.optim.Optimizer]  # the class built by ``build_optimizer``
    torch_defaults: Mapping[str, Any]  # every constructor kwarg except params, lr included (PyTorch's)
    keras_defaults: Mapping[str, Any]  # the same kwargs with tf.keras 2.x defaults
    lr_range: tuple[float, float]  # (low, high) for a log-uniform learning-rate search
    description: str  # one line, e.g. "SGD with heavy-ball momentum 0.9"

    def __post_init__(self) -> None:
        if set(self.torch_defaults) != set(self.keras_defaults):
            raise ValueError(f"{self.name}: torch and keras defaults must name the same hyperparameters")
        low, high = self.lr_range
        if not 0 < low < high:
            raise ValueError(f"{self.name}: lr_range must satisfy 0 < low < high, got {self.lr_range}")
        # read-only views, so a frozen spec cannot be changed through its mappings
        object.__setattr__(self, "torch_defaults", MappingProxyType(dict(self.torch_defaults)))
        object.__setattr__(self, "keras_defaults", MappingProxyType(dict(self.keras_defaults)))

    def defaults(self, convention: str = "torch") -> dict[str, Any]:
        """A fresh dict of the constructor kwargs (``lr`` included) under ``convention``."""
        if convention == "torch":
            return dict(self.torch_defaults)
        if convention == "keras":
            return dict(self.keras_defaults)
        raise ValueError(f"unknown convention {convention!r}; accepted: {', '.join(CONVENTIONS)}")


def _sgd(lr: float, momentum: float = 0.0, nesterov: bool = False) -> dict[str, Any]:
    return {
        "lr": lr,
        "momentum": momentum,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": nesterov,
        "maximize": False,
    }


def _adagrad(lr: float, initial_accumulator_value: float, eps: float) -> dict[str, Any]:
    return {
        "lr": lr,
        "lr_decay": 0.0,
        "weight_decay": 0.0,
        "initial_accumulator_value": initial_accumulator_value,
        "eps": eps,
        "maximize": False,
    }


def _rmsprop(lr: float, alpha: float, eps: float) -> dict[str, Any]:
    return {
        "lr": lr,
        "alpha": alpha,
        "eps": eps,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "centered": False,
        "maximize": False,
    }


def _adadelta(lr: float, rho: float, eps: float) -> dict[str, Any]:
    return {"lr": lr, "rho": rho, "eps": eps, "weight_decay": 0.0, "maximize": False}


def _adam(lr: float, eps: float, weight_decay: float = 0.0) -> dict[str, Any]:
    return {
        "lr": lr,
        "betas": (0.9, 0.999),
        "eps": eps,
        "weight_decay": weight_decay,
        "amsgrad": False,
        "maximize": False,
    }


def _nadam(lr: float, eps: float) -> dict[str, Any]:
    return {
        "lr": lr,
        "betas": (0.9, 0.999),
        "eps": eps,
        "weight_decay": 0.0,
        "momentum_decay": 4e-3,
        "decoupled_weight_decay": False,
        "maximize": False,
    }


_SPECS = (
    OptimizerSpec(
        "sgd", SGD, _sgd(1e-3), _sgd(0.01), (1e-3, 1.0), "plain SGD, no momentum (torch lr 1e-3, keras 0.01)"
    ),
    OptimizerSpec(
        "momentum",
        SGD,
        _sgd(0.01, momentum=0.9),
        _sgd(0.01, momentum=0.9),
        (1e-4, 0.3),
        "SGD with heavy-ball momentum 0.9",
    ),
    OptimizerSpec(
        "nesterov",
        SGD,
        _sgd(0.01, momentum=0.9, nesterov=True),
        _sgd(0.01, momentum=0.9, nesterov=True),
        (1e-4, 0.3),
        "SGD with Nesterov momentum 0.9",
    ),
    OptimizerSpec(
        "adagrad",
        Adagrad,
        _adagrad(1e-2, initial_accumulator_value=0.0, eps=1e-10),
        _adagrad(1e-3, initial_accumulator_value=0.1, eps=1e-7),
        (1e-3, 1.0),
        "Adagrad: steps scaled by accumulated squared gradients",
    ),
    OptimizerSpec(
        "rmsprop",
        RMSprop,
        _rmsprop(1e-2, alpha=0.99, eps=1e-8),
        _rmsprop(1e-3, alpha=0.9, eps=1e-7),
        (1e-5, 1e-2),
        "RMSprop: steps scaled by a moving average of squared gradients",
    ),
    OptimizerSpec(
        "adadelta",
        Adadelta,
        _adadelta(1.0, rho=0.9, eps=1e-6),
        _adadelta(1e-3, rho=0.95, eps=1e-7),
        (1e-2, 10.0),
        "Adadelta: unit-corrected steps, natural lr near 1 (keras default 1e-3)",
    ),
    OptimizerSpec(
        "adam",
        Adam,
        {**_adam(1e-3, eps=1e-8), "decoupled_weight_decay": False},
        {**_adam(1e-3, eps=1e-7), "decoupled_weight_decay": False},
        (1e-5, 1e-2),
        "Adam: bias-corrected moving averages of the gradient and its square",
    ),
    OptimizerSpec(
        "adamw",
        AdamW,
        _adam(1e-3, eps=1e-8, weight_decay=1e-2),
        _adam(1e-3, eps=1e-7, weight_decay=4e-3),
        (1e-5, 1e-2),
        "AdamW: Adam with decoupled weight decay (torch 0.01, keras 0.004)",
    ),
    OptimizerSpec(
        "nadam",
        NAdam,
        _nadam(2e-3, eps=1e-8),
        _nadam(1e-3, eps=1e-7),
        (1e-5, 1e-2),
        "NAdam: Adam with Nesterov momentum",
    ),
)

REGISTRY: Mapping[str, OptimizerSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
OPTIMIZER_NAMES: tuple[str, ...] = tuple(REGISTRY)


def get_spec(name: str) -> OptimizerSpec:
    """The registry entry for ``name``; ``ValueError`` listing the accepted names if there is none."""
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown optimizer {name!r}; accepted: {', '.join(OPTIMIZER_NAMES)}") from None


def build_optimizer(
    name: str,
    params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
    *,
    convention: str = "torch",
    **overrides: Any,
) -> torch.optim.Optimizer:
    """Construct the optimizer registered as ``name`` over ``params``.

    Args:
        name: a registry name, one of :data:`OPTIMIZER_NAMES`.
        params: parameters or param groups, as for any ``torch.optim.Optimizer``.
        convention: which default set to start from, ``"torch"`` or ``"keras"``.
        **overrides: hyperparameters replacing the defaults, e.g. ``lr=3e-4``. A key the optimizer
            does not take raises ``ValueError`` naming it and the accepted keys.
    """
    spec = get_spec(name)
    kwargs = spec.defaults(convention)
    unknown = [key for key in overrides if key not in kwargs]
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for optimizer {name!r}; "
            f"accepted: {', '.join(kwargs)}"
        )
    kwargs.update(overrides)
    return spec.cls(params, **kwargs)
