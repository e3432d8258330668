"""The registry: names, classes, defaults read from the signatures, and ``build_optimizer``."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from typing import Any

import pytest
import torch

import optimizers
from optimizers import (
    OPTIMIZER_NAMES,
    REGISTRY,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    NAdam,
    OptimizerSpec,
    RMSprop,
    build_optimizer,
    get_spec,
)

EXPECTED_NAMES = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "nadam")


def test_names_and_order() -> None:
    assert OPTIMIZER_NAMES == EXPECTED_NAMES
    assert tuple(REGISTRY) == EXPECTED_NAMES
    assert all(REGISTRY[name].name == name for name in OPTIMIZER_NAMES)


def test_classes() -> None:
    classes = {name: spec.cls for name, spec in REGISTRY.items()}
    assert classes == {
        "sgd": SGD,
        "momentum": SGD,
        "nesterov": SGD,
        "adagrad": Adagrad,
        "rmsprop": RMSprop,
        "adadelta": Adadelta,
        "adam": Adam,
        "adamw": AdamW,
        "nadam": NAdam,
    }


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_defaults_name_every_constructor_kwarg(name: str) -> None:
    spec = get_spec(name)
    parameters = inspect.signature(spec.cls).parameters
    assert set(spec.defaults()) == set(parameters) - {"params"}
    assert spec.description and "\n" not in spec.description


@pytest.mark.parametrize("name", [name for name in OPTIMIZER_NAMES if name not in ("momentum", "nesterov")])
def test_defaults_are_the_constructor_defaults(name: str) -> None:
    """Ours and torch.optim's constructors share their defaults, and a plain name builds exactly those.

    ``momentum`` and ``nesterov`` are excluded: both libraries default to no momentum."""
    spec = get_spec(name)
    parameters = inspect.signature(spec.cls).parameters
    reference = inspect.signature(getattr(torch.optim, spec.cls.__name__)).parameters
    for key, value in spec.defaults().items():
        assert value == parameters[key].default == reference[key].default, key


def test_sgd_family_defaults() -> None:
    assert get_spec("sgd").defaults()["lr"] == 1e-3
    for name in ("momentum", "nesterov"):
        defaults = get_spec(name).defaults()
        assert (defaults["lr"], defaults["momentum"], defaults["dampening"]) == (0.01, 0.9, 0.0)
        assert defaults["nesterov"] is (name == "nesterov")
        assert "0.9" in get_spec(name).description
    assert get_spec("sgd").defaults()["momentum"] == 0.0


def test_defaults_returns_a_fresh_dict() -> None:
    spec = get_spec("adam")
    defaults = spec.defaults()
    defaults["lr"] = 123.0
    assert spec.defaults()["lr"] == 1e-3
    with pytest.raises(TypeError):
        get_spec("momentum").preset["lr"] = 1.0  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.name = "other"  # type: ignore[misc]


def test_unknown_name() -> None:
    message = "unknown optimizer 'adamax'; accepted: " + ", ".join(EXPECTED_NAMES)
    with pytest.raises(ValueError) as raised:
        get_spec("adamax")
    assert str(raised.value) == message
    with pytest.raises(ValueError, match="unknown optimizer"):
        build_optimizer("Adam", [torch.zeros(1, requires_grad=True)])


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_build_uses_the_defaults(name: str) -> None:
    spec = get_spec(name)
    optimizer = build_optimizer(name, [torch.zeros(2, requires_grad=True)])
    assert type(optimizer) is spec.cls
    group = optimizer.param_groups[0]
    for key, value in spec.defaults().items():
        assert group[key] == value, key


def test_build_applies_overrides() -> None:
    weight = torch.zeros(2, requires_grad=True)
    optimizer = build_optimizer("momentum", [weight], lr=0.05, weight_decay=1e-4)
    group = optimizer.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.05, 0.9, 1e-4)


def test_build_accepts_param_groups() -> None:
    first, second = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    groups: list[dict[str, Any]] = [{"params": [first]}, {"params": [second], "lr": 0.1}]
    optimizer = build_optimizer("adam", groups)
    assert [group["lr"] for group in optimizer.param_groups] == [1e-3, 0.1]


def test_build_rejects_unknown_override() -> None:
    with pytest.raises(ValueError) as raised:
        build_optimizer("sgd", [torch.zeros(2, requires_grad=True)], betas=(0.9, 0.99))
    message = str(raised.value)
    assert "'betas'" in message
    assert "accepted: lr, momentum, dampening, weight_decay, nesterov, maximize" in message


def test_build_validates_overrides() -> None:
    with pytest.raises(ValueError, match="lr"):
        build_optimizer("adam", [torch.zeros(2, requires_grad=True)], lr=-1.0)


def test_spec_rejects_an_unknown_preset() -> None:
    with pytest.raises(ValueError, match="preset names unknown keywords"):
        OptimizerSpec("x", SGD, "x", {"betas": (0.9, 0.99)})


MODULES = [
    "optimizers",
    "optimizers._base",
    "optimizers._primitives",
    "optimizers.registry",
    "optimizers.sgd",
    "optimizers.adagrad",
    "optimizers.rmsprop",
    "optimizers.adadelta",
    "optimizers.adam",
    "optimizers.adamw",
    "optimizers.nadam",
    "study.bench.optimizer_step",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_dunder_all(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__all__, module_name
    for name in module.__all__:
        assert hasattr(module, name), f"{module_name}.{name}"


def test_package_exports() -> None:
    assert {
        "SGD",
        "Adagrad",
        "RMSprop",
        "Adadelta",
        "Adam",
        "AdamW",
        "NAdam",
        "OptimizerSpec",
        "REGISTRY",
        "OPTIMIZER_NAMES",
        "get_spec",
        "build_optimizer",
    } <= set(optimizers.__all__)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


@pytest.mark.parametrize("module_name", MODULES)
def test_no_torch_optim_code_is_borrowed(module_name: str) -> None:
    """The update math is written here: from torch.optim only the base class (and a typing alias)."""
    tree = ast.parse(inspect.getsource(importlib.import_module(module_name)))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch.optim"):
            assert node.module == "torch.optim.optimizer", node.module
            assert [alias.name for alias in node.names] == ["ParamsT"]
        if isinstance(node, ast.Import):
            assert not any(alias.name.startswith("torch.optim") for alias in node.names)
        if isinstance(node, ast.Attribute) and _dotted(node).startswith("torch.optim."):
            assert _dotted(node) == "torch.optim.Optimizer", _dotted(node)
