"""The registry: names, classes, defaults read from the signatures, and ``build_optimizer``."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import lion_pytorch
import prodigyopt
import pytest
import schedulefree
import torch

import optimizers
from optimizers import (
    OPTIMIZER_NAMES,
    REGISTRY,
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    AdamWScheduleFree,
    Lion,
    MuonWithAdamW,
    NAdam,
    OptimizerSpec,
    Prodigy,
    RAdam,
    RMSprop,
    build_optimizer,
    get_spec,
)

EXPECTED_NAMES = (
    "sgd",
    "momentum",
    "nesterov",
    "adagrad",
    "rmsprop",
    "adadelta",
    "adam",
    "adamw",
    "nadam",
    "radam",
    "adamax",
    "adafactor",
    "lion",
    "muon",
    "schedulefree_adamw",
    "prodigy",
)


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
        "radam": RAdam,
        "adamax": Adamax,
        "adafactor": Adafactor,
        "lion": Lion,
        "muon": MuonWithAdamW,
        "schedulefree_adamw": AdamWScheduleFree,
        "prodigy": Prodigy,
    }


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_defaults_name_every_constructor_kwarg(name: str) -> None:
    spec = get_spec(name)
    parameters = inspect.signature(spec.cls).parameters
    assert set(spec.defaults()) == set(parameters) - {"params"}
    assert spec.description and "\n" not in spec.description


def _signature_defaults(function: Callable[..., Any]) -> dict[str, Any]:
    parameters = inspect.signature(function).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


# The implementation each class's defaults must be: torch.optim's class of the same name, or the package named here.
REFERENCES: dict[str, Callable[..., Any]] = {
    "lion": lion_pytorch.Lion,
    "schedulefree_adamw": schedulefree.AdamWScheduleFree,
    "prodigy": prodigyopt.Prodigy,
}
# torch's flags with the defaults every torch.optim class gives them: ours where a reference lacks the flag
# (lion_pytorch and prodigyopt have neither, torch.optim.Muon neither).
TORCH_FLAGS = {"maximize": False, "foreach": None}
# schedulefree's foreach=True always takes its multi-tensor path; ours keeps torch's None, which takes the same path
# for CPU and CUDA tensors (optimizers._base.use_foreach) and the single-tensor one where _foreach ops may not run.
DIFFERENT_DEFAULTS = {("schedulefree_adamw", "foreach")}
ADAMW_SIDE = ("lr", "betas", "eps", "weight_decay")  # MuonWithAdamW's adamw_* keywords, without the prefix


def _reference_defaults(name: str) -> dict[str, Any]:
    cls = get_spec(name).cls
    if cls is MuonWithAdamW:
        # no library has the hybrid: its Muon keywords are torch.optim.Muon's, its adamw_* ones torch.optim.AdamW's
        adamw = _signature_defaults(torch.optim.AdamW)
        return {**_signature_defaults(torch.optim.Muon), **{f"adamw_{key}": adamw[key] for key in ADAMW_SIDE}}
    return _signature_defaults(REFERENCES.get(name) or getattr(torch.optim, cls.__name__))


@pytest.mark.parametrize("name", [name for name in OPTIMIZER_NAMES if name not in ("momentum", "nesterov")])
def test_defaults_are_the_constructor_defaults(name: str) -> None:
    """Ours and the reference implementation's constructors share their defaults, and a plain name builds exactly
    those.

    ``momentum`` and ``nesterov`` are excluded: both libraries default to no momentum."""
    spec = get_spec(name)
    parameters = inspect.signature(spec.cls).parameters
    reference = _reference_defaults(name)
    for key, value in spec.defaults().items():
        assert value == parameters[key].default, key
        if (name, key) not in DIFFERENT_DEFAULTS:
            assert value == (reference[key] if key in reference else TORCH_FLAGS[key]), key


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
    message = "unknown optimizer 'lamb'; accepted: " + ", ".join(EXPECTED_NAMES)
    with pytest.raises(ValueError) as raised:
        get_spec("lamb")
    assert str(raised.value) == message
    with pytest.raises(ValueError, match="unknown optimizer"):
        build_optimizer("Adam", [torch.zeros(1, requires_grad=True)])


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_build_uses_the_defaults(name: str, ready_optimizer: Callable[..., torch.optim.Optimizer]) -> None:
    """Every group holds every default; muon's hybrid gets a matrix for its Muon group and a vector for its AdamW
    group (conftest.registry_params), and each of its groups holds its own rule's values only."""
    spec = get_spec(name)
    optimizer = ready_optimizer(name, [torch.zeros(2, 2, requires_grad=True), torch.zeros(2, requires_grad=True)])
    assert type(optimizer) is spec.cls
    defaults = spec.defaults()
    side = {f"adamw_{key}" for key in ADAMW_SIDE}
    if spec.cls is MuonWithAdamW:
        assert [group["use_muon"] for group in optimizer.param_groups] == [True, False]
    for group in optimizer.param_groups:
        expected = defaults
        if spec.cls is MuonWithAdamW:
            if group["use_muon"]:
                expected = {key: value for key, value in defaults.items() if key not in side}
            else:  # AdamW's values under AdamW's names: lr is adamw_lr
                kept = {*side, *TORCH_FLAGS}
                expected = {key.removeprefix("adamw_"): value for key, value in defaults.items() if key in kept}
            assert set(group) == {"params", "use_muon", *expected}
        for key, value in expected.items():
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
    "optimizers.radam",
    "optimizers.adamax",
    "optimizers.adafactor",
    "optimizers.lion",
    "optimizers.muon",
    "optimizers.schedulefree_adamw",
    "optimizers.prodigy",
    "optimizers.train_eval",
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
        "RAdam",
        "Adamax",
        "Adafactor",
        "Lion",
        "Muon",
        "MuonWithAdamW",
        "AdamWScheduleFree",
        "Prodigy",
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
