"""Every invalid hyperparameter raises ValueError naming it; valid edge values are accepted."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from optimizers import SGD, Adadelta, Adagrad, Adam, AdamW, NAdam, RMSprop
from optimizers.adafactor import Adafactor
from optimizers.adamax import Adamax
from optimizers.lion import Lion
from optimizers.radam import RAdam

ALL = [SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, NAdam, Lion, RAdam, Adamax, Adafactor]
WITH_EPS = [Adagrad, RMSprop, Adadelta, Adam, AdamW, NAdam, RAdam, Adamax]  # Adafactor's eps is a pair
WITH_BETAS = [Adam, AdamW, NAdam, Lion, RAdam, Adamax]

# (class, kwargs, text the message must contain)
INVALID: list[tuple[type[torch.optim.Optimizer], dict[str, Any], str]] = [
    *[(cls, {"lr": -1e-3}, "lr") for cls in ALL],
    *[(cls, {"lr": math.nan}, "lr") for cls in ALL],
    *[(cls, {"lr": math.inf}, "lr") for cls in ALL],
    *[(cls, {"lr": "0.1"}, "lr") for cls in ALL],
    *[(cls, {"weight_decay": -0.1}, "weight_decay") for cls in ALL],
    *[(cls, {"maximize": 1}, "maximize") for cls in ALL],
    *[(cls, {"foreach": "auto"}, "foreach") for cls in ALL],
    *[(cls, {"foreach": 0}, "foreach") for cls in ALL],
    *[(cls, {"eps": -1e-8}, "eps") for cls in WITH_EPS],
    (SGD, {"momentum": -0.9}, "momentum"),
    (SGD, {"dampening": -0.1}, "dampening"),
    (SGD, {"dampening": 1.5}, "dampening"),
    (SGD, {"nesterov": True}, "nesterov"),
    (SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "nesterov"),
    (SGD, {"nesterov": "yes", "momentum": 0.9}, "nesterov"),
    (Adagrad, {"lr_decay": -0.1}, "lr_decay"),
    (Adagrad, {"initial_accumulator_value": -0.1}, "initial_accumulator_value"),
    (RMSprop, {"alpha": -0.1}, "alpha"),
    (RMSprop, {"alpha": 1.1}, "alpha"),
    (RMSprop, {"momentum": -0.1}, "momentum"),
    (RMSprop, {"centered": None}, "centered"),
    (Adadelta, {"rho": -0.1}, "rho"),
    (Adadelta, {"rho": 1.5}, "rho"),
    *[(cls, {"betas": (1.0, 0.999)}, "betas[0]") for cls in WITH_BETAS],
    *[(cls, {"betas": (-0.1, 0.999)}, "betas[0]") for cls in WITH_BETAS],
    *[(cls, {"betas": (0.9, 1.0)}, "betas[1]") for cls in WITH_BETAS],
    *[(cls, {"betas": (0.9, -1e-3)}, "betas[1]") for cls in WITH_BETAS],
    *[(cls, {"betas": (0.9, 0.99, 0.999)}, "betas") for cls in WITH_BETAS],
    *[(cls, {"betas": 0.9}, "betas") for cls in WITH_BETAS],
    (Adam, {"amsgrad": "true"}, "amsgrad"),
    (AdamW, {"amsgrad": 0}, "amsgrad"),
    (Adam, {"decoupled_weight_decay": None}, "decoupled_weight_decay"),
    (NAdam, {"momentum_decay": -4e-3}, "momentum_decay"),
    (NAdam, {"decoupled_weight_decay": 1}, "decoupled_weight_decay"),
    (RAdam, {"decoupled_weight_decay": "yes"}, "decoupled_weight_decay"),
    (Adafactor, {"beta2_decay": 0.1}, "beta2_decay"),
    (Adafactor, {"beta2_decay": -math.inf}, "beta2_decay"),
    (Adafactor, {"eps": 1e-3}, "eps"),
    (Adafactor, {"eps": (None, 1e-3, 1e-3)}, "eps"),
    (Adafactor, {"eps": (-1e-30, 1e-3)}, "eps[0]"),
    (Adafactor, {"eps": ("1e-30", 1e-3)}, "eps[0]"),
    (Adafactor, {"eps": (None, -1e-3)}, "eps[1]"),
    (Adafactor, {"eps": (None, None)}, "eps[1]"),
    (Adafactor, {"d": 0.5}, "Invalid d value"),
    (Adafactor, {"d": math.inf}, "Invalid d value"),
]

VALID_EDGES: list[tuple[type[torch.optim.Optimizer], dict[str, Any]]] = [
    *[(cls, {"lr": 0.0, "weight_decay": 0}) for cls in ALL],
    *[(cls, {"eps": 0.0}) for cls in WITH_EPS],
    *[(cls, {"foreach": flag}) for cls in ALL for flag in (None, True, False)],
    *[(cls, {"betas": (0.0, 0.0)}) for cls in WITH_BETAS],
    *[(cls, {"betas": [0.5, 0.5]}) for cls in WITH_BETAS],
    (SGD, {"momentum": 0.9, "dampening": 1.0}),
    (SGD, {"momentum": 0.9, "nesterov": True}),
    (RMSprop, {"alpha": 0.0}),
    (RMSprop, {"alpha": 1.0}),
    (Adadelta, {"rho": 0.0}),
    (Adadelta, {"rho": 1.0}),
    (NAdam, {"momentum_decay": 0.0}),
    (RAdam, {"betas": (0.9, 0.6)}),
    (Adafactor, {"eps": (0.0, 0.0)}),
    (Adafactor, {"eps": [1e-30, 1e-3]}),
    (Adafactor, {"beta2_decay": 0.0}),
    (Adafactor, {"d": 1.0, "weight_decay": 0.5}),
    (Lion, {"lr": 0.0, "decoupled_weight_decay": True}),
]


def _id(cls: type, kwargs: dict[str, Any]) -> str:
    return f"{cls.__name__}-" + ",".join(f"{k}={v!r}" for k, v in kwargs.items())


@pytest.mark.parametrize(("cls", "kwargs", "named"), INVALID, ids=[_id(c, k) for c, k, _ in INVALID])
def test_invalid_hyperparameter_raises(cls: type[torch.optim.Optimizer], kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError) as raised:
        cls([torch.zeros(2, requires_grad=True)], **kwargs)
    assert named in str(raised.value)


@pytest.mark.parametrize(("cls", "kwargs"), VALID_EDGES, ids=[_id(c, k) for c, k in VALID_EDGES])
def test_valid_edge_values_are_accepted(cls: type[torch.optim.Optimizer], kwargs: dict[str, Any]) -> None:
    weight = torch.ones(2, requires_grad=True)
    optimizer = cls([weight], **kwargs)
    weight.sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    assert torch.isfinite(weight).all()


@pytest.mark.parametrize("cls", ALL)
def test_hyperparameters_live_in_param_groups_only(cls: Callable[..., torch.optim.Optimizer]) -> None:
    optimizer = cls([torch.zeros(2, requires_grad=True)], lr=0.125)
    assert optimizer.param_groups[0]["lr"] == 0.125
    assert optimizer.defaults["lr"] == 0.125
    assert not {"lr", "betas", "eps", "momentum", "weight_decay"} & set(vars(optimizer))
