"""The search space's settings: learning-rate ranges, the Keras convention, and what a trial is built from."""

from __future__ import annotations

import pytest

from optimizers import OPTIMIZER_NAMES, get_spec
from optimizers.stacked import STACKED_NAMES
from study.design.search_space import KERAS_DEFAULTS, LR_RANGES, default_hyperparameters
from study.schema import CONVENTIONS, SEARCHABLE, STACKABLE


def test_every_registry_optimizer_is_searchable() -> None:
    assert SEARCHABLE == OPTIMIZER_NAMES
    assert STACKABLE == STACKED_NAMES  # --fuse refuses the others before torch is imported
    assert tuple(KERAS_DEFAULTS) == OPTIMIZER_NAMES
    assert CONVENTIONS == ("torch", "keras")


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_lr_range_holds_the_torch_default(name: str) -> None:
    low, high = LR_RANGES[name]
    assert 0 < low < high
    assert low <= get_spec(name).defaults()["lr"] <= high


def test_lr_ranges_follow_natural_scales() -> None:
    adadelta_low, adadelta_high = LR_RANGES["adadelta"]
    adam_low, adam_high = LR_RANGES["adam"]
    assert adadelta_low < 1.0 < adadelta_high
    assert adam_low < 1e-3 < adam_high
    assert adadelta_low >= adam_high


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_defaults_name_every_constructor_keyword(name: str, convention: str) -> None:
    assert set(default_hyperparameters(name, convention)) == set(get_spec(name).defaults()) - {"foreach"}


def test_torch_convention_is_the_registry() -> None:
    for name in OPTIMIZER_NAMES:
        assert default_hyperparameters(name, "torch") == {
            k: v for k, v in get_spec(name).defaults().items() if k != "foreach"
        }


def test_sgd_family_under_keras() -> None:
    assert default_hyperparameters("sgd", "keras")["lr"] == 0.01
    for name in ("momentum", "nesterov"):
        defaults = default_hyperparameters(name, "keras")
        assert (defaults["lr"], defaults["momentum"], defaults["dampening"]) == (0.01, 0.9, 0.0)
        assert defaults["nesterov"] is (name == "nesterov")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("adagrad", {"lr": 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-7}),
        ("rmsprop", {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7}),
        ("adadelta", {"lr": 1e-3, "rho": 0.95, "eps": 1e-7}),
        ("adam", {"lr": 1e-3, "eps": 1e-7, "betas": (0.9, 0.999), "weight_decay": 0.0}),
        ("adamw", {"lr": 1e-3, "eps": 1e-7, "weight_decay": 0.004}),
        ("nadam", {"lr": 1e-3, "eps": 1e-7, "weight_decay": 0.0}),
    ],
)
def test_keras_defaults(name: str, expected: dict[str, object]) -> None:
    defaults = default_hyperparameters(name, "keras")
    assert {key: defaults[key] for key in expected} == expected


def test_defaults_are_a_fresh_dict() -> None:
    first = default_hyperparameters("adam", "keras")
    first["lr"] = 123.0
    assert default_hyperparameters("adam", "keras")["lr"] == 1e-3


def test_unknown_convention() -> None:
    with pytest.raises(ValueError, match=r"unknown convention 'tf'; accepted: torch, keras"):
        default_hyperparameters("adam", "tf")
