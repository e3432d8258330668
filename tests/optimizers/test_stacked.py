"""The stacked optimizers follow, slot by slot, exactly the trajectory of the unfused optimizer (float64)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from optimizers import build_optimizer
from optimizers.stacked import STACKED_NAMES, StackedOptimizer

SHAPES = [(5, 3, 2), (5,), (7, 4)]  # a conv-like, a bias-like and a dense-like tensor
STEPS = 8

# (name, per-slot values, shared values): three slots that differ in every value a slot may hold
CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
    ("sgd", [{"lr": 0.1}, {"lr": 0.01, "weight_decay": 0.1}, {"lr": 0.5}], {}),
    ("momentum", [{"lr": 0.1}, {"lr": 0.03, "weight_decay": 0.01}, {"lr": 0.2}], {"dampening": 0.1}),
    ("nesterov", [{"lr": 0.1}, {"lr": 0.03}, {"lr": 0.2, "weight_decay": 1e-3}], {"maximize": True}),
    (
        "adagrad",
        [{"lr": 0.1}, {"lr": 0.3, "lr_decay": 0.1, "eps": 1e-6}, {"lr": 0.01}],
        {"initial_accumulator_value": 0.1},
    ),
    ("rmsprop", [{"lr": 0.01}, {"lr": 0.001, "alpha": 0.9}, {"lr": 0.003, "eps": 1e-4}], {}),
    (
        "rmsprop",
        [{"lr": 0.01}, {"lr": 0.001, "alpha": 0.9, "weight_decay": 0.1}, {"lr": 0.003}],
        {"centered": True, "momentum": 0.5},
    ),
    ("adadelta", [{"lr": 1.0}, {"lr": 0.5, "rho": 0.95, "eps": 1e-5}, {"lr": 2.0, "weight_decay": 0.01}], {}),
    ("adam", [{"lr": 1e-3}, {"lr": 1e-2, "betas": (0.8, 0.99)}, {"lr": 3e-3, "eps": 1e-6, "weight_decay": 0.1}], {}),
    ("adam", [{"lr": 1e-3}, {"lr": 1e-2, "betas": (0.8, 0.99)}, {"lr": 3e-3}], {"amsgrad": True}),
    ("adamw", [{"lr": 1e-3}, {"lr": 1e-2, "weight_decay": 0.1}, {"lr": 3e-3, "betas": (0.5, 0.9)}], {}),
    ("nadam", [{"lr": 2e-3}, {"lr": 1e-2, "momentum_decay": 0.002}, {"lr": 3e-3, "betas": (0.8, 0.99)}], {}),
    ("nadam", [{"lr": 2e-3}, {"lr": 1e-2, "weight_decay": 0.1}, {"lr": 3e-3}], {"decoupled_weight_decay": True}),
]


def _grads(seed: int, slots: int) -> list[list[torch.Tensor]]:
    """``STEPS`` lists of stacked gradients (slots first)."""
    generator = torch.Generator().manual_seed(seed)
    return [[torch.randn(slots, *s, generator=generator, dtype=torch.float64) for s in SHAPES] for _ in range(STEPS)]


def _run(name: str, slots: list[dict[str, Any]], shared: dict[str, Any], freeze_at: dict[int, int] | None = None):
    """The stacked optimizer and the K unfused ones, stepped side by side; yields both after every step."""
    freeze_at = freeze_at or {}
    k = len(slots)
    start = [torch.randn(k, *s, generator=torch.Generator().manual_seed(1), dtype=torch.float64) for s in SHAPES]
    stacked = [p.clone().requires_grad_() for p in start]
    fused = StackedOptimizer(stacked, name, [{**s, **shared} for s in slots])
    singles = [[p[i].clone().requires_grad_() for p in start] for i in range(k)]
    unfused = [build_optimizer(name, singles[i], **slots[i], **shared) for i in range(k)]
    frozen: set[int] = set()
    for step, grads in enumerate(_grads(2, k), start=1):
        for slot, at in freeze_at.items():
            if at == step:
                fused.freeze(slot)
                frozen.add(slot)
        for p, g in zip(stacked, grads, strict=True):
            p.grad = g.clone()
        fused.step()
        for i in range(k):
            if i in frozen:
                continue
            for p, g in zip(singles[i], grads, strict=True):
                p.grad = g[i].clone()
            unfused[i].step()
        yield stacked, singles, frozen


@pytest.mark.parametrize(("name", "slots", "shared"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_slot_follows_the_unfused_optimizer_exactly(name: str, slots, shared) -> None:
    for stacked, singles, _ in _run(name, slots, shared):
        for i, params in enumerate(singles):
            for p, q in zip(stacked, params, strict=True):
                torch.testing.assert_close(p[i], q, rtol=1e-15, atol=1e-15)


def test_every_registry_optimizer_has_a_stacked_form_under_test() -> None:
    assert set(STACKED_NAMES) == {case[0] for case in CASES}


@pytest.mark.parametrize("name", ["momentum", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "nadam"])
def test_a_frozen_slot_keeps_its_weights_and_the_others_train_on(name: str) -> None:
    slots = [case[1] for case in CASES if case[0] == name][0]
    shared = [case[2] for case in CASES if case[0] == name][0]
    held: list[torch.Tensor] = []
    for stacked, singles, frozen in _run(name, slots, shared, freeze_at={1: 4}):
        if 1 in frozen and not held:
            held = [p[1].detach().clone() for p in stacked]
            continue
        if held:
            assert all(torch.equal(p[1], h) for p, h in zip(stacked, held, strict=True))
        for i in (0, 2):
            for p, q in zip(stacked, singles[i], strict=True):
                torch.testing.assert_close(p[i], q, rtol=1e-15, atol=1e-15)


def test_a_diverging_slot_never_reaches_the_others() -> None:
    params = [torch.zeros(3, 4, dtype=torch.float64, requires_grad=True)]
    fused = StackedOptimizer(params, "adam", [{"lr": 1e-3}] * 3)
    grad = torch.ones(3, 4, dtype=torch.float64)
    grad[1] = float("nan")
    params[0].grad = grad
    fused.step()
    assert params[0][1].isnan().all()
    assert params[0][[0, 2]].isfinite().all()


def test_bad_slots_are_refused_with_the_unfused_message() -> None:
    params = [torch.zeros(2, 3, requires_grad=True)]
    with pytest.raises(ValueError, match="Invalid lr value: -1"):
        StackedOptimizer(params, "adam", [{"lr": 1e-3}, {"lr": -1}])
    with pytest.raises(ValueError, match="amsgrad differs between slots"):
        StackedOptimizer(params, "adam", [{"amsgrad": True}, {"amsgrad": False}])
    with pytest.raises(ValueError, match="dimension 0 must be the 3 slots"):
        StackedOptimizer(params, "adam", [{}, {}, {}])
