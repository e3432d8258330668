"""Saving and loading optimizer state: a resumed run is the uninterrupted run, bit for bit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import torch

from optimizers import OPTIMIZER_NAMES, build_optimizer, get_spec

if TYPE_CHECKING:
    from optimizers.conftest import Problem

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
    name: str, overrides: dict[str, Any], tmp_path: Path, problem_factory: Callable[..., Problem]
) -> None:
    problem = problem_factory(torch.float32)
    resumed_problem = problem.clone()
    uninterrupted = build_optimizer(name, problem.groups({"lr": 0.002}), **overrides)
    problem.run(uninterrupted, FIRST + SECOND)

    before = build_optimizer(name, resumed_problem.groups({"lr": 0.002}), **overrides)
    resumed_problem.run(before, FIRST)
    path = tmp_path / "optimizer.pt"
    torch.save(before.state_dict(), path)
    fresh_problem = resumed_problem.clone()
    after = build_optimizer(name, fresh_problem.groups({"lr": 0.002}), **overrides)
    after.load_state_dict(torch.load(path, weights_only=True))
    fresh_problem.run(after, SECOND, start=FIRST)

    assert after.param_groups[1]["lr"] == 0.002
    for mine, theirs in zip(fresh_problem.params, problem.params, strict=True):
        assert torch.equal(mine, theirs)
        state, expected = after.state.get(mine, {}), uninterrupted.state.get(theirs, {})
        assert sorted(state) == sorted(expected)
        for key, value in state.items():
            assert value.dtype == expected[key].dtype, key
            assert torch.equal(value, expected[key]), key


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_step_is_a_float32_scalar_tensor(name: str, problem_factory: Callable[..., Problem]) -> None:
    problem = problem_factory(torch.float64)
    optimizer = build_optimizer(name, problem.groups())
    problem.run(optimizer, 3)
    for key in ("step", "mu_product"):
        for state in optimizer.state.values():
            if key in state:
                assert state[key].dtype == torch.float32
                assert state[key].shape == ()
                assert state[key].device.type == "cpu"
    if "step" in optimizer.state[problem.params[0]]:
        assert optimizer.state[problem.params[0]]["step"].item() == 3


@pytest.mark.parametrize("direction", ["ours-to-torch", "torch-to-ours"])
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_state_dict_interchangeable_with_torch(
    name: str,
    direction: str,
    tmp_path: Path,
    problem_factory: Callable[..., Problem],
    reference_class: Callable[[type[torch.optim.Optimizer]], type[torch.optim.Optimizer]],
) -> None:
    """The files use torch's layout and key names, so either library can resume the other's run."""
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
    check_problem.run(uninterrupted, FIRST + SECOND)

    before = first(problem.groups())
    problem.run(before, FIRST)
    torch.save(before.state_dict(), tmp_path / "optimizer.pt")
    resumed_problem = problem.clone()
    after = second(resumed_problem.groups())
    after.load_state_dict(torch.load(tmp_path / "optimizer.pt", weights_only=True))
    resumed_problem.run(after, SECOND, start=FIRST)

    for mine, theirs in zip(resumed_problem.params, check_problem.params, strict=True):
        assert torch.equal(mine, theirs)
