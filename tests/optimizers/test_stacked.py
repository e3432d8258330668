"""The stacked optimizers follow, slot by slot, exactly the trajectory of the unfused optimizer (float64), and keep
their hyperparameters in param groups and their step counts in state, as ``torch.optim`` does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
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


Edit = Callable[[int, StackedOptimizer, list[torch.optim.Optimizer]], None]


def _run(
    name: str,
    slots: list[dict[str, Any]],
    shared: dict[str, Any],
    freeze_at: dict[int, int] | None = None,
    edit: Edit | None = None,
) -> Iterator[tuple[list[torch.Tensor], list[list[torch.Tensor]], set[int]]]:
    """The stacked optimizer and the K unfused ones, stepped side by side; yields both after every step.
    ``edit(step, stacked, unfused)`` runs before each step (to change their param groups alike)."""
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
        if edit is not None:
            edit(step, fused, unfused)
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
def test_each_slot_follows_the_unfused_optimizer_exactly(
    name: str, slots: list[dict[str, Any]], shared: dict[str, Any]
) -> None:
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


def _case(name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The first case of ``name``: per-slot and shared values."""
    return next((slots, shared) for n, slots, shared in CASES if n == name)


def test_hyperparameters_live_in_param_groups_and_the_step_count_in_state() -> None:
    params = [torch.zeros(3, 4, requires_grad=True), torch.zeros(3, requires_grad=True)]
    fused = StackedOptimizer(params, "adam", [{"lr": 1e-3}, {"lr": 1e-2, "betas": (0.8, 0.99)}, {"eps": 1e-6}])
    assert not {"slots", "shared", "active", "lr", "betas", "eps"} & set(vars(fused))
    group = fused.param_groups[0]
    assert group["lr"].dtype == torch.float64 and group["lr"].tolist() == [1e-3, 1e-2, 1e-3]
    assert group["betas"].tolist() == [[0.9, 0.999], [0.8, 0.99], [0.9, 0.999]]
    assert group["eps"].tolist() == [1e-8, 1e-8, 1e-6]
    assert group["active"].tolist() == [True, True, True]
    assert (group["amsgrad"], group["maximize"], group["decoupled_weight_decay"]) == (False, False, False)
    assert group["lr"] is not fused.defaults["lr"], "a group owns its tensors"
    for _ in range(3):
        for p in params:
            p.grad = torch.ones_like(p)
        fused.step()
    for p in params:
        step = fused.state[p]["step"]
        assert step.dtype == torch.float32 and step.shape == () and step.item() == 3
    fused.freeze(1)
    assert group["active"].tolist() == [True, False, True]


@pytest.mark.parametrize(("name", "slots", "shared"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_state_dict_round_trip_resumes_exactly(
    name: str, slots: list[dict[str, Any]], shared: dict[str, Any], tmp_path: Path
) -> None:
    """Saved after 4 steps (slot 1 frozen after 2) and loaded into a new stack, the run goes on as if never
    interrupted: parameters and state bit for bit, the frozen slot still frozen."""
    k, first, second = len(slots), 4, 4
    start = [torch.randn(k, *s, generator=torch.Generator().manual_seed(1), dtype=torch.float64) for s in SHAPES]
    grads = _grads(2, k)

    def steps(optimizer: StackedOptimizer, params: list[torch.Tensor], numbers: range) -> None:
        for step in numbers:
            if step == 2:
                optimizer.freeze(1)
            for p, g in zip(params, grads[step], strict=True):
                p.grad = g.clone()
            optimizer.step()

    def build(params: list[torch.Tensor]) -> StackedOptimizer:
        return StackedOptimizer(params, name, [{**s, **shared} for s in slots])

    whole = [p.clone().requires_grad_() for p in start]
    uninterrupted = build(whole)
    steps(uninterrupted, whole, range(first + second))

    before = [p.clone().requires_grad_() for p in start]
    saved = build(before)
    steps(saved, before, range(first))
    torch.save(saved.state_dict(), tmp_path / "stack.pt")
    after = [p.detach().clone().requires_grad_() for p in before]
    resumed = build(after)
    resumed.load_state_dict(torch.load(tmp_path / "stack.pt", weights_only=True))
    steps(resumed, after, range(first, first + second))

    assert resumed.param_groups[0]["active"].tolist() == [i != 1 for i in range(k)]
    for mine, theirs in zip(after, whole, strict=True):
        assert torch.equal(mine, theirs)
        state, expected = resumed.state[mine], uninterrupted.state[theirs]
        assert sorted(state) == sorted(expected)
        for key, value in state.items():
            assert value.dtype == expected[key].dtype and torch.equal(value, expected[key]), key


def _set_lr(step: int, fused: StackedOptimizer, unfused: list[torch.optim.Optimizer]) -> None:
    """From step 4 slot 1's rate is a tenth; from step 6 every rate is halved (as a scheduler would)."""
    if step == 4:
        fused.param_groups[0]["lr"][1] /= 10
        unfused[1].param_groups[0]["lr"] /= 10
    if step == 6:
        fused.param_groups[0]["lr"].mul_(0.5)
        for optimizer in unfused:
            optimizer.param_groups[0]["lr"] *= 0.5


def _set_betas(step: int, fused: StackedOptimizer, unfused: list[torch.optim.Optimizer]) -> None:
    """From step 3 slot 2's betas are (0.5, 0.9)."""
    if step == 3:
        fused.param_groups[0]["betas"][2] = torch.tensor([0.5, 0.9], dtype=torch.float64)
        unfused[2].param_groups[0]["betas"] = (0.5, 0.9)


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("momentum", _set_lr),
        ("adagrad", _set_lr),
        ("rmsprop", _set_lr),
        ("adadelta", _set_lr),
        ("adam", _set_lr),
        ("adamw", _set_lr),
        ("nadam", _set_lr),
        ("adam", _set_betas),
        ("nadam", _set_betas),
    ],
)
def test_a_value_written_into_a_param_group_holds_from_the_next_step(name: str, edit: Edit) -> None:
    """Per-slot values are read from the param groups on every step, as torch.optim reads ``group["lr"]``."""
    slots, shared = _case(name)
    for stacked, singles, _ in _run(name, slots, shared, edit=edit):
        for i, params in enumerate(singles):
            for p, q in zip(stacked, params, strict=True):
                torch.testing.assert_close(p[i], q, rtol=1e-15, atol=1e-15)


def test_a_param_group_sets_a_value_for_every_slot_or_one_per_slot() -> None:
    a, b, c = (torch.zeros(3, 2, dtype=torch.float64, requires_grad=True) for _ in range(3))
    groups: list[dict[str, Any]] = [
        {"params": [a]},
        {"params": [b], "lr": 0.5, "betas": (0.8, 0.9)},
        {"params": [c], "lr": [0.1, 0.2, 0.3]},
    ]
    fused = StackedOptimizer(groups, "adam", [{"lr": 1e-3}] * 3)
    assert [group["lr"].tolist() for group in fused.param_groups] == [[1e-3] * 3, [0.5] * 3, [0.1, 0.2, 0.3]]
    assert fused.param_groups[1]["betas"].tolist() == [[0.8, 0.9]] * 3
    fused.param_groups[0]["lr"][0] = 1.0
    assert fused.defaults["lr"][0] == 1e-3 and fused.param_groups[1]["lr"][0] == 0.5, "no group shares a tensor"
    for p in (a, b, c):
        p.grad = torch.ones_like(p)
    fused.step()
    torch.testing.assert_close(c[:, 0], -torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64))
    with pytest.raises(ValueError, match="lr must be a number or 3 of them"):
        fused.add_param_group({"params": [torch.zeros(3, requires_grad=True)], "lr": [0.1, 0.2]})
