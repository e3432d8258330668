"""Saving and loading optimizer state: a resumed run is the uninterrupted run, bit for bit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import torch

from optimizers import OPTIMIZER_NAMES, get_spec
from optimizers.train_eval import to_eval, to_train

if TYPE_CHECKING:
    from optimizers.conftest import Problem

Build = Callable[..., torch.optim.Optimizer]  # the ready_optimizer fixture

VARIANTS: list[tuple[str, dict[str, Any]]] = [(name, {}) for name in OPTIMIZER_NAMES] + [
    ("sgd", {"momentum": 0.5, "dampening": 0.5, "weight_decay": 0.01}),
    ("rmsprop", {"momentum": 0.9, "centered": True}),
    ("adam", {"amsgrad": True}),
    ("nadam", {"decoupled_weight_decay": True, "weight_decay": 0.1}),
]
FIRST, SECOND = 4, 4


def _variant_id(variant: tuple[str, dict[str, Any]]) -> str:
    name, overrides = variant
    return name + "".join(f"-{k}={v}" for k, v in overrides.items())


@pytest.mark.parametrize(("name", "overrides"), VARIANTS, ids=[_variant_id(v) for v in VARIANTS])
def test_resume_equals_uninterrupted(
    name: str,
    overrides: dict[str, Any],
    tmp_path: Path,
    problem_factory: Callable[..., Problem],
    ready_optimizer: Build,
    other_lr: Callable[[str, float], float],
) -> None:
    """schedulefree_adamw is saved in train mode, which its state dict carries (test_schedulefree_prodigy.py resumes
    from checkpoints taken in eval mode); prodigy's second group is frozen at lr 0 (conftest.second_group_lr)."""
    second = {"lr": other_lr(name, 0.002)}
    problem = problem_factory(torch.float32)
    resumed_problem = problem.clone()
    uninterrupted = ready_optimizer(name, problem.groups_for(name, second), **overrides)
    problem.run(uninterrupted, FIRST + SECOND)

    before = ready_optimizer(name, resumed_problem.groups_for(name, second), **overrides)
    resumed_problem.run(before, FIRST)
    path = tmp_path / "optimizer.pt"
    torch.save(before.state_dict(), path)
    fresh_problem = resumed_problem.clone()
    after = ready_optimizer(name, fresh_problem.groups_for(name, second), **overrides)
    after.load_state_dict(torch.load(path, weights_only=True))
    fresh_problem.run(after, SECOND, start=FIRST)
    to_eval([after, uninterrupted])

    assert after.param_groups[1]["lr"] == second["lr"]
    for mine, theirs in zip(fresh_problem.params, problem.params, strict=True):
        assert torch.equal(mine, theirs)
        state, expected = after.state.get(mine, {}), uninterrupted.state.get(theirs, {})
        assert sorted(state) == sorted(expected)
        for key, value in state.items():
            assert value.dtype == expected[key].dtype, key
            assert torch.equal(value, expected[key]), key


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_step_is_a_float32_scalar_tensor(
    name: str, problem_factory: Callable[..., Problem], ready_optimizer: Build
) -> None:
    problem = problem_factory(torch.float64)
    optimizer = ready_optimizer(name, problem.groups_for(name))
    problem.run(optimizer, 3)
    for key in ("step", "mu_product"):
        for state in optimizer.state.values():
            if key in state:
                assert state[key].dtype == torch.float32
                assert state[key].shape == ()
                assert state[key].device.type == "cpu"
    if "step" in optimizer.state[problem.params[0]]:
        assert optimizer.state[problem.params[0]]["step"].item() == 3


# No library has the hybrid, so no other library's file holds muon's two sides (conftest.MuonWithAdamWReference is two
# torch optimizers, each with its own state dict); the Muon class's files load into torch.optim.Muon and back
# (test_lion_muon.py), and the hybrid's AdamW groups keep AdamW's state keys.
NO_REFERENCE_FILE = {"muon"}
INTERCHANGES = [
    pytest.param(
        name,
        direction,
        id=f"{name}-{direction}",
    )
    for name in OPTIMIZER_NAMES
    if name not in NO_REFERENCE_FILE
    for direction in ("ours-to-torch", "torch-to-ours")
]


@pytest.mark.parametrize(("name", "direction"), INTERCHANGES)
def test_state_dict_interchangeable_with_torch(
    name: str,
    direction: str,
    tmp_path: Path,
    problem_factory: Callable[..., Problem],
    reference_class: Callable[[type[torch.optim.Optimizer]], type[torch.optim.Optimizer]],
) -> None:
    """The files use torch's layout and key names (lion_pytorch's, schedulefree's and prodigyopt's for those), so
    either library can resume the other's run. schedulefree_adamw runs in train mode on both sides."""
    spec = get_spec(name)
    kwargs = spec.defaults()

    def ours(params: list[dict[str, Any]]) -> torch.optim.Optimizer:
        return spec.cls(params, **kwargs)

    def reference(params: list[dict[str, Any]]) -> torch.optim.Optimizer:
        return reference_class(spec.cls)(params, **{**kwargs, "foreach": False})

    first, second = (ours, reference) if direction == "ours-to-torch" else (reference, ours)
    problem = problem_factory(torch.float32)
    check_problem = problem.clone()
    uninterrupted = second(check_problem.groups())
    to_train([uninterrupted])
    check_problem.run(uninterrupted, FIRST + SECOND)

    before = first(problem.groups())
    to_train([before])
    problem.run(before, FIRST)
    torch.save(before.state_dict(), tmp_path / "optimizer.pt")
    resumed_problem = problem.clone()
    after = second(resumed_problem.groups())
    after.load_state_dict(torch.load(tmp_path / "optimizer.pt", weights_only=True))
    resumed_problem.run(after, SECOND, start=FIRST)
    to_eval([after, uninterrupted])

    for mine, theirs in zip(resumed_problem.params, check_problem.params, strict=True):
        assert torch.equal(mine, theirs)
