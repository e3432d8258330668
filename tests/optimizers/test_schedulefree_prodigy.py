"""Schedule-Free AdamW and Prodigy against ``schedulefree.AdamWScheduleFree`` (1.4) and ``prodigyopt.Prodigy`` (1.1).

Parity runs every option of each package in float64 (100 steps, 1e-10 relative) and float32 (50 steps, 1e-5),
through both of our paths, comparing the parameters, every state tensor and the values both packages keep in
their param groups (step counts, the schedule's running sums, Prodigy's d). Schedule-Free runs cross its
train/eval switch (train, half the steps, eval, compare, train, the rest, eval, compare). Neither fits
``test_parity.py``'s table: Schedule-Free must be switched into train mode and compared across the switch,
Prodigy refuses the table's halved lr for the second group (one d for all groups), and both keep state in their
param groups that the table's check does not compare. ``b1`` skips every third gradient throughout, so a
group's tensors see different numbers of steps.

Neither package has ``maximize``: ours maximizes the negated problem, the package minimizes the problem (the
gradients are exact negatives, so the runs agree bit for bit).
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import prodigyopt
import pytest
import schedulefree
import torch
from torch import Tensor

from optimizers._base import _foreach_doc, _maximize_doc, _params_doc
from optimizers.prodigy import OPTIMIZER_WIDE, Prodigy
from optimizers.schedulefree_adamw import (
    AdamWScheduleFree,
    adamw_schedulefree,
    adamw_schedulefree_foreach,
    advance_schedule,
)
from optimizers.train_eval import evaluating, in_train_mode, to_eval, to_train, with_switch

if TYPE_CHECKING:
    from optimizers.conftest import Problem

ProblemFactory = Callable[..., "Problem"]

PRECISIONS = [
    pytest.param(torch.float64, 100, 1e-10, id="float64-100steps"),
    pytest.param(torch.float32, 50, 1e-5, id="float32-50steps"),
]
OUR_PATHS = [pytest.param(None, id="ours-default"), pytest.param(False, id="ours-foreach=False")]
SKIPS = 3  # b1 gets no gradient on every third step

SCHEDULEFREE_GROUP_KEYS = ("k", "lr_max", "weight_sum", "scheduled_lr", "train_mode")
PRODIGY_GROUP_KEYS = ("k", "d", "d_max", "d_numerator", "d_denom", "d_hat")

# (constructor kwargs, overrides for the second param group beyond its halved lr): every combination of the four
# options that shape the schedule and the decay, then the others
SCHEDULEFREE_CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"lr": 0.02, "weight_decay": decay, "warmup_steps": warmup, "r": r, "weight_lr_power": power}, {})
    for decay in (0.0, 0.05)
    for warmup in (0, 10)
    for r in (0.0, 1.0)
    for power in (2.0, 0.0)
] + [
    ({"lr": 0.02, "betas": (0.5, 0.99), "eps": 1e-6}, {}),
    ({"lr": 0.02, "betas": (1.0, 0.999)}, {}),  # primal averaging: the gradient taken at x itself
    ({"lr": 0.02, "warmup_steps": 10, "weight_decay": 0.05, "maximize": True}, {}),
    ({"lr": 0.02, "warmup_steps": 10}, {"betas": (0.7, 0.99), "warmup_steps": 5, "weight_decay": 0.1, "r": 0.5}),
    ({"lr": 0.02}, {"lr": 0.0}),  # every weight 0 in that group: c = 0 (the package's ZeroDivisionError branch)
]
# (constructor kwargs, second group's overrides): every combination of the three flags (with weight decay, so
# decouple matters), then the other options
PRODIGY_CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({}, {}),
    *[
        ({"weight_decay": 0.1, "decouple": decouple, "use_bias_correction": correction, "safeguard_warmup": safe}, {})
        for decouple in (True, False)
        for correction in (False, True)
        for safe in (False, True)
    ],
    ({"betas": (0.0, 0.999), "weight_decay": 0.1, "decouple": False}, {}),  # no exp_avg: steps divide g itself
    ({"betas": (0.0, 0.99), "slice_p": 3, "use_bias_correction": True, "safeguard_warmup": True}, {}),
    ({"betas": (0.8, 0.99), "beta3": 0.9, "eps": 1e-6}, {}),
    ({"slice_p": 3, "weight_decay": 0.05}, {}),
    ({"growth_rate": 1.05, "d_coef": 2.0}, {}),
    ({"lr": 0.5, "d0": 1e-4, "d_coef": 0.5}, {}),
    ({"weight_decay": 0.05, "decouple": False, "maximize": True}, {}),
    ({"weight_decay": 0.1}, {"eps": 1e-6, "weight_decay": 0.0, "safeguard_warmup": True, "slice_p": 2}),
    ({"weight_decay": 0.1, "decouple": False}, {"lr": 0.0}),  # a frozen group, where the package agrees
]


def _case_id(case: tuple[dict[str, Any], dict[str, Any]]) -> str:
    kwargs, second = case
    words = [f"{k}={v}" for k, v in kwargs.items()] + [f"group2.{k}={v}" for k, v in second.items()]
    return ",".join(words) or "defaults"


def _without_maximize(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in kwargs.items() if key != "maximize"}


def _problems(problem_factory: ProblemFactory, dtype: torch.dtype, kwargs: dict[str, Any]) -> tuple[Problem, Problem]:
    """Ours (negated when maximizing) and the package's, from the same start."""
    sign = -1.0 if kwargs.get("maximize") else 1.0
    return problem_factory(dtype, sign=sign, bias_skips_every=SKIPS), problem_factory(dtype, bias_skips_every=SKIPS)


def _prefixed(prefix: str) -> Callable[[str], str]:
    return lambda message: f"{prefix}: {message}"


def assert_same(
    ours: torch.optim.Optimizer,
    ours_params: Sequence[Tensor],
    reference: torch.optim.Optimizer,
    reference_params: Sequence[Tensor],
    *,
    rtol: float,
    group_keys: Sequence[str],
) -> None:
    """Parameters, every state tensor under the same key (``step`` by value: prodigyopt counts in ints) and the
    values each keeps in its param groups agree."""
    for index, (mine, theirs) in enumerate(zip(ours_params, reference_params, strict=True)):
        torch.testing.assert_close(mine, theirs, rtol=rtol, atol=0.0, msg=_prefixed(f"param {index}"))
        state, expected = ours.state.get(mine, {}), reference.state.get(theirs, {})
        assert sorted(state) == sorted(expected), f"param {index}: state keys differ"
        for key, value in state.items():
            if key == "step":
                assert value.item() == float(expected[key]), f"param {index}: step"
            else:
                torch.testing.assert_close(
                    value, expected[key], rtol=rtol, atol=0.0, msg=_prefixed(f"param {index}, state {key!r}")
                )
    for index, (group, expected_group) in enumerate(zip(ours.param_groups, reference.param_groups, strict=True)):
        for key in group_keys:
            mine, theirs = group[key], expected_group[key]
            if isinstance(theirs, float):
                assert mine == pytest.approx(theirs, rel=rtol, abs=0.0), f"group {index}: {key}"
            else:
                assert mine == theirs, f"group {index}: {key}"


# ---------------------------------------------------------------------------------------------- Schedule-Free AdamW


def _schedulefree_pair(
    problem_factory: ProblemFactory,
    dtype: torch.dtype,
    kwargs: dict[str, Any],
    second: dict[str, Any],
    foreach: bool | None,
) -> tuple[Problem, AdamWScheduleFree, Problem, Any]:
    problem, reference_problem = _problems(problem_factory, dtype, kwargs)
    group2 = {"lr": kwargs["lr"] / 2, **second}
    ours = AdamWScheduleFree(problem.groups(group2), foreach=foreach, **kwargs)
    reference = schedulefree.AdamWScheduleFree(
        reference_problem.groups(group2), foreach=False, **_without_maximize(kwargs)
    )
    return problem, ours, reference_problem, reference


@pytest.mark.parametrize("foreach", OUR_PATHS)
@pytest.mark.parametrize(("dtype", "steps", "rtol"), PRECISIONS)
@pytest.mark.parametrize(("kwargs", "second"), SCHEDULEFREE_CASES, ids=[_case_id(c) for c in SCHEDULEFREE_CASES])
def test_schedulefree_matches_the_package_across_the_switch(
    kwargs: dict[str, Any],
    second: dict[str, Any],
    dtype: torch.dtype,
    steps: int,
    rtol: float,
    foreach: bool | None,
    problem_factory: ProblemFactory,
) -> None:
    problem, ours, reference_problem, reference = _schedulefree_pair(problem_factory, dtype, kwargs, second, foreach)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    half = steps // 2

    def check() -> None:
        assert_same(
            ours, problem.params, reference, reference_problem.params, rtol=rtol, group_keys=SCHEDULEFREE_GROUP_KEYS
        )

    ours.train()
    reference.train()
    losses = problem.run(ours, half)
    reference_losses = reference_problem.run(reference, half)
    check()  # at y
    ours.eval()
    reference.eval()
    assert not ours.train_mode
    check()  # at x
    ours.train()
    reference.train()
    losses += problem.run(ours, steps - half, start=half)
    reference_losses += reference_problem.run(reference, steps - half, start=half)
    check()
    ours.eval()
    reference.eval()
    check()
    torch.testing.assert_close(sign * torch.stack(losses), torch.stack(reference_losses), rtol=rtol, atol=0.0)
    assert ours.param_groups[0]["k"] == steps
    assert not torch.equal(problem.params[0], problem_factory(dtype).params[0]), "nothing was trained"


def test_schedulefree_with_an_lr_scheduler_matches_the_package(problem_factory: ProblemFactory) -> None:
    """Mechanically compatible, as the package is: ``group["lr"]`` is read every step and ``lr_max`` keeps the
    average's weights from following a decay (the Conventions note says why not to use one)."""
    problem, ours, reference_problem, reference = _schedulefree_pair(
        problem_factory, torch.float64, {"lr": 0.02, "warmup_steps": 5}, {}, None
    )
    ours.train()
    reference.train()
    pairs = [(problem, ours), (reference_problem, reference)]
    schedulers = [torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5) for _, optimizer in pairs]
    for step in range(30):
        for (prob, optimizer), scheduler in zip(pairs, schedulers, strict=True):
            prob.run(optimizer, 1, start=step)
            scheduler.step()
    assert ours.param_groups[0]["lr_max"] == 0.02
    assert_same(
        ours, problem.params, reference, reference_problem.params, rtol=1e-10, group_keys=SCHEDULEFREE_GROUP_KEYS
    )


@pytest.mark.parametrize(("kwargs", "second"), SCHEDULEFREE_CASES, ids=[_case_id(c) for c in SCHEDULEFREE_CASES])
def test_schedulefree_multi_tensor_path_equals_single_tensor_path(
    kwargs: dict[str, Any], second: dict[str, Any], problem_factory: ProblemFactory
) -> None:
    runs = []
    for foreach in (True, False):
        problem = problem_factory(torch.float64, sign=-1.0 if kwargs.get("maximize") else 1.0, bias_skips_every=SKIPS)
        optimizer = AdamWScheduleFree(problem.groups({"lr": kwargs["lr"] / 2, **second}), foreach=foreach, **kwargs)
        optimizer.train()
        problem.run(optimizer, 60)
        optimizer.eval()
        runs.append((problem, optimizer))
    (multi_problem, multi), (single_problem, single) = runs
    assert_same(
        multi, multi_problem.params, single, single_problem.params, rtol=0.0, group_keys=SCHEDULEFREE_GROUP_KEYS
    )
    assert all(torch.equal(a, b) for a, b in zip(multi_problem.params, single_problem.params, strict=True))


def test_schedulefree_starts_in_eval_mode_and_refuses_to_step_there(problem_factory: ProblemFactory) -> None:
    """As the package: a new optimizer is in eval mode, and step() raises there, before the closure runs."""
    problem = problem_factory(torch.float64)
    start = [p.detach().clone() for p in problem.params]
    ours = AdamWScheduleFree(problem.groups())
    assert not ours.train_mode
    with pytest.raises(RuntimeError, match=r"eval mode.*optimizer\.train\(\)"):
        ours.step(lambda: pytest.fail("the closure ran"))
    ours.train()
    problem.run(ours, 3)
    ours.eval()
    with pytest.raises(RuntimeError, match="eval mode"):
        problem.run(ours, 1, start=3)
    ours.train()
    problem.run(ours, 1, start=3)
    assert ours.param_groups[0]["k"] == 4 and not torch.equal(problem.params[0], start[0])

    reference = schedulefree.AdamWScheduleFree(problem_factory(torch.float64).groups())
    with pytest.raises(Exception, match="not in train mode"):
        reference.step()


def test_schedulefree_switch_is_idempotent_and_reversible(problem_factory: ProblemFactory) -> None:
    problem = problem_factory(torch.float64)
    ours = AdamWScheduleFree(problem.groups(), lr=0.02)
    before = [p.detach().clone() for p in problem.params]
    ours.train()  # no state yet: y = x = z, nothing moves
    assert ours.train_mode and all(torch.equal(p, b) for p, b in zip(problem.params, before, strict=True))
    problem.run(ours, 20)
    y = [p.detach().clone() for p in problem.params]
    ours.train()
    assert all(torch.equal(p, q) for p, q in zip(problem.params, y, strict=True)), "a second train() moved"
    ours.eval()
    x = [p.detach().clone() for p in problem.params]
    assert not torch.equal(x[0], y[0])
    ours.eval()
    assert all(torch.equal(p, q) for p, q in zip(problem.params, x, strict=True)), "a second eval() moved"
    ours.train()
    for p, q in zip(problem.params, y, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"r": 1.0, "weight_lr_power": 2.0, "warmup_steps": 5}, {"r": 0.5, "weight_lr_power": 0.0}],
    ids=["uniform", "r=1,power=2,warmup=5", "r=0.5,power=0"],
)
def test_schedulefree_eval_point_is_the_weighted_average_of_z(kwargs: dict[str, Any]) -> None:
    r""":math:`x_{T+1} = \sum_t w_t z_{t+1} / \sum_t w_t`, :math:`w_t = t^r \gamma_{\max,t}^p`: the averaged point."""
    kwargs = {"weight_lr_power": 0.0, **kwargs}
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(6, generator=generator, dtype=torch.float64, requires_grad=True)
    target = torch.randn(6, generator=generator, dtype=torch.float64)
    optimizer = AdamWScheduleFree([weight], lr=0.05, betas=(0.8, 0.999), **kwargs)
    optimizer.train()
    zs: list[Tensor] = []
    weights: list[float] = []
    for step in range(1, 31):
        optimizer.zero_grad()
        ((weight - target) ** 2 * torch.arange(1, 7)).sum().backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        lr_max = 0.05 * min(1.0, step / kwargs.get("warmup_steps", 1))
        weights.append(step ** kwargs.get("r", 0.0) * lr_max ** kwargs["weight_lr_power"])
        zs.append(optimizer.state[weight]["z"].clone())
    optimizer.eval()
    average = sum(w * z for w, z in zip(weights, zs, strict=True)) / sum(weights)
    assert isinstance(average, Tensor)
    torch.testing.assert_close(weight.detach(), average, rtol=1e-12, atol=1e-14)


def test_schedulefree_conventions_numbers() -> None:
    """The Conventions note's numbers: warm-up's first step at 1% of lr, step 10 of a 100-step warm-up weighing
    1% of a step after it; without warm-up c_{t+1} = 1/t."""
    group: dict[str, Any] = {"lr": 0.1, "warmup_steps": 100, "r": 0.0, "weight_lr_power": 2.0}
    group.update(k=0, lr_max=-1.0, weight_sum=0.0, scheduled_lr=0.0)
    weights = []
    for _ in range(150):
        before = group["weight_sum"]
        step, lr, _ckp1 = advance_schedule(group)
        weights.append(group["weight_sum"] - before)
        if step == 1:
            assert lr == pytest.approx(0.001)
    assert weights[9] / weights[120] == pytest.approx(0.01)
    assert group["scheduled_lr"] == 0.1 and group["k"] == 150
    flat: dict[str, Any] = {"lr": 0.1, "warmup_steps": 0, "r": 0.0, "weight_lr_power": 2.0}
    flat.update(k=0, lr_max=-1.0, weight_sum=0.0, scheduled_lr=0.0)
    assert [advance_schedule(flat)[2] for _ in range(4)] == pytest.approx([1.0, 1 / 2, 1 / 3, 1 / 4])


def test_schedulefree_group_added_later_joins_the_current_mode(problem_factory: ProblemFactory) -> None:
    problem = problem_factory(torch.float64)
    w1, b1, w2, _ = problem.params
    optimizer = AdamWScheduleFree([w1, b1], lr=0.02)
    optimizer.train()
    problem.run(optimizer, 5)
    optimizer.add_param_group({"params": [w2]})
    assert optimizer.param_groups[1]["train_mode"] and optimizer.train_mode
    problem.run(optimizer, 5, start=5)
    y = w2.detach().clone()
    optimizer.eval()
    assert not torch.equal(w2, y), "the new group's parameters were left at y"
    optimizer.train()
    torch.testing.assert_close(w2.detach(), y, rtol=1e-13, atol=1e-15)


def test_schedulefree_leaves_grad_alone(problem_factory: ProblemFactory) -> None:
    problem = problem_factory(torch.float64)
    optimizer = AdamWScheduleFree(problem.groups(), weight_decay=0.1)
    optimizer.train()
    problem.run(optimizer, 1)
    grad = problem.params[0].grad
    assert grad is not None
    kept = grad.clone()
    optimizer.step()
    assert torch.equal(grad, kept)


def test_schedulefree_reads_each_group_once_per_step_into_every_keyword(monkeypatch: pytest.MonkeyPatch) -> None:
    """As ``test_base`` asks of every optimizer: one read per group and step, the very mapping handed to either
    path, holding each keyword of the update function and of its twin (neither takes a step count: the group's
    count gives ``lr``, ``ckp1`` and ``bias_correction2``)."""
    single, multi = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    optimizer = AdamWScheduleFree([{"params": [single], "foreach": False}, {"params": [multi], "foreach": True}])
    optimizer.train()
    read = AdamWScheduleFree._hyperparameters
    reads: list[Any] = []
    handed: list[Any] = []

    def counted(self: AdamWScheduleFree, group: dict[str, Any]) -> Any:
        reads.append(read(self, group))
        return reads[-1]

    monkeypatch.setattr(AdamWScheduleFree, "_hyperparameters", counted)
    monkeypatch.setattr(AdamWScheduleFree, "_update", lambda self, p, g, s, values: handed.append(values))
    monkeypatch.setattr(AdamWScheduleFree, "_update_group", lambda self, p, g, s, values: handed.append(values))
    (single + multi).sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    assert len(reads) == 2 and [id(h) for h in handed] == [id(r) for r in reads]
    keywords = {
        function: {p.name for p in inspect.signature(function).parameters.values() if p.kind is p.KEYWORD_ONLY}
        for function in (adamw_schedulefree, adamw_schedulefree_foreach)
    }
    assert set(reads[1]) == keywords[adamw_schedulefree] == keywords[adamw_schedulefree_foreach]
    assert reads[1]["ckp1"] == 1.0 and reads[1]["bias_correction2"] == pytest.approx(1 - 0.999)


# ---------------------------------------------------------------------------------------------------------- Prodigy


def _prodigy_pair(
    problem_factory: ProblemFactory,
    dtype: torch.dtype,
    kwargs: dict[str, Any],
    second: dict[str, Any],
    foreach: bool | None,
) -> tuple[Problem, Prodigy, Problem, Any]:
    problem, reference_problem = _problems(problem_factory, dtype, kwargs)
    ours = Prodigy(problem.groups(second), foreach=foreach, **kwargs)
    reference = prodigyopt.Prodigy(reference_problem.groups(second), **_without_maximize(kwargs))
    return problem, ours, reference_problem, reference


@pytest.mark.parametrize("foreach", OUR_PATHS)
@pytest.mark.parametrize(("dtype", "steps", "rtol"), PRECISIONS)
@pytest.mark.parametrize(("kwargs", "second"), PRODIGY_CASES, ids=[_case_id(c) for c in PRODIGY_CASES])
def test_prodigy_matches_the_package(
    kwargs: dict[str, Any],
    second: dict[str, Any],
    dtype: torch.dtype,
    steps: int,
    rtol: float,
    foreach: bool | None,
    problem_factory: ProblemFactory,
) -> None:
    problem, ours, reference_problem, reference = _prodigy_pair(problem_factory, dtype, kwargs, second, foreach)
    losses = problem.run(ours, steps)
    reference_losses = reference_problem.run(reference, steps)
    assert_same(ours, problem.params, reference, reference_problem.params, rtol=rtol, group_keys=PRODIGY_GROUP_KEYS)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    torch.testing.assert_close(sign * torch.stack(losses), torch.stack(reference_losses), rtol=rtol, atol=0.0)
    assert ours.param_groups[0]["d"] > 10 * ours.param_groups[0]["d0"], "d was not estimated"
    assert not torch.equal(problem.params[0], problem_factory(dtype).params[0]), "nothing was trained"


@pytest.mark.parametrize("foreach", [True, False])
def test_prodigy_float32_estimate_is_exact(foreach: bool, problem_factory: ProblemFactory) -> None:
    """The estimate's reductions run per tensor and add up in parameter order on both paths, as the package's do,
    so float32 runs agree to the last bit, not only to a tolerance (the docstring's reduction-order note)."""
    problem, ours, reference_problem, reference = _prodigy_pair(problem_factory, torch.float32, {}, {}, foreach)
    problem.run(ours, 100)
    reference_problem.run(reference, 100)
    assert ours.param_groups[0]["d"] == reference.param_groups[0]["d"]
    assert all(torch.equal(a, b) for a, b in zip(problem.params, reference_problem.params, strict=True))


def test_prodigy_with_an_lr_scheduler_matches_the_package(problem_factory: ProblemFactory) -> None:
    """Cosine annealing, the schedule the authors recommend, scales lr in every group alike."""
    problem, ours, reference_problem, reference = _prodigy_pair(problem_factory, torch.float64, {}, {}, None)
    pairs = [(problem, ours), (reference_problem, reference)]
    schedulers = [torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=30) for _, optimizer in pairs]
    for step in range(30):
        for (prob, optimizer), scheduler in zip(pairs, schedulers, strict=True):
            prob.run(optimizer, 1, start=step)
            scheduler.step()
    assert ours.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-15)
    assert_same(ours, problem.params, reference, reference_problem.params, rtol=1e-10, group_keys=PRODIGY_GROUP_KEYS)


@pytest.mark.parametrize(("kwargs", "second"), PRODIGY_CASES, ids=[_case_id(c) for c in PRODIGY_CASES])
def test_prodigy_multi_tensor_path_equals_single_tensor_path(
    kwargs: dict[str, Any], second: dict[str, Any], problem_factory: ProblemFactory
) -> None:
    runs = []
    for foreach in (True, False):
        problem = problem_factory(torch.float64, sign=-1.0 if kwargs.get("maximize") else 1.0, bias_skips_every=SKIPS)
        optimizer = Prodigy(problem.groups(second), foreach=foreach, **kwargs)
        problem.run(optimizer, 60)
        runs.append((problem, optimizer))
    (multi_problem, multi), (single_problem, single) = runs
    assert_same(multi, multi_problem.params, single, single_problem.params, rtol=0.0, group_keys=PRODIGY_GROUP_KEYS)
    assert all(torch.equal(a, b) for a, b in zip(multi_problem.params, single_problem.params, strict=True))
    w1, b1 = multi_problem.params[:2]
    assert (multi.state[w1]["step"].item(), multi.state[b1]["step"].item()) == (60, 40)


@pytest.mark.parametrize("cls", [Prodigy, AdamWScheduleFree])
def test_group_of_mixed_dtypes_takes_parameter_order_on_both_paths(cls: Callable[..., Any]) -> None:
    """One group of float32 and float64 tensors: the multi-tensor path splits it by dtype, yet Prodigy's sums
    still add up in parameter order, so both paths and prodigyopt agree to the last bit."""
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(3, 2, generator=generator, dtype=dtype) for dtype in (torch.float32, torch.float64)] * 2
    make: dict[str, Callable[[list[Tensor]], Any]] = {
        "multi": lambda params: cls(params, foreach=True),
        "single": lambda params: cls(params, foreach=False),
    }
    if cls is Prodigy:
        make["package"] = prodigyopt.Prodigy
    runs = {}
    for name, build in make.items():
        params = [p.clone().requires_grad_() for p in start]
        optimizer = build(params)
        if cls is AdamWScheduleFree:
            optimizer.train()
        for _ in range(20):
            optimizer.zero_grad()
            loss = sum(((p.double() - 1) ** 2).sum() * (i + 1) for i, p in enumerate(params))
            assert isinstance(loss, Tensor)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        runs[name] = params
    for name, params in runs.items():
        assert all(torch.equal(a, b) for a, b in zip(params, runs["single"], strict=True)), name


def test_prodigy_refuses_groups_that_cannot_share_d(problem_factory: ProblemFactory) -> None:
    """Before the closure runs and before anything moves: lr must be the largest or 0, the optimizer-wide values
    equal, and no parameter sharded."""
    problem = problem_factory(torch.float64)
    start = [p.detach().clone() for p in problem.params]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"lr": 0.5}, r"group 1 has lr=0\.5.*largest \(1\.0\) or 0"),
        ({"betas": (0.8, 0.999)}, r"group 1 has betas=\(0\.8, 0\.999\), group 0 betas=\(0\.9, 0\.999\)"),
        ({"d_coef": 2.0}, "group 1 has d_coef=2.0"),
        ({"fsdp_in_use": True}, "fsdp_in_use"),
    ]
    for second, message in cases:
        optimizer = Prodigy(problem.groups(second))
        with pytest.raises(RuntimeError, match=message):
            optimizer.step(lambda: pytest.fail("the closure ran"))
        assert len(optimizer.state) == 0
    Prodigy(problem.groups({"betas": [0.9, 0.999]})).step()  # the same betas, spelt as a list
    sharded = problem.params[0]
    sharded._fsdp_flattened = True  # type: ignore[attr-defined]  # the flag FSDP sets on flattened parameters
    with pytest.raises(RuntimeError, match="sharded by FSDP"):
        Prodigy(problem.groups()).step()
    del sharded._fsdp_flattened  # type: ignore[attr-defined]
    assert all(torch.equal(p, s) for p, s in zip(problem.params, start, strict=True))
    assert set(OPTIMIZER_WIDE) <= set(Prodigy(problem.groups()).defaults)


@pytest.mark.parametrize("kwargs", [{"weight_decay": 0.1}, {"betas": (0.0, 0.999)}], ids=["decoupled-decay", "beta1=0"])
def test_prodigy_frozen_group_does_not_move(kwargs: dict[str, Any], problem_factory: ProblemFactory) -> None:
    """Deviation: a group with lr 0 stays put. The package still decays it at the other groups' rate, and with
    beta1 = 0 moves it by steps of about d*lr*g/eps."""
    problem, ours, reference_problem, reference = _prodigy_pair(
        problem_factory, torch.float64, kwargs, {"lr": 0.0}, None
    )
    frozen = problem.params[2].detach().clone()
    problem.run(ours, 20)
    reference_problem.run(reference, 20)
    assert torch.equal(problem.params[2], frozen)
    assert not torch.equal(reference_problem.params[2], frozen)
    assert ours.state[problem.params[2]]["step"].item() == 20


def test_prodigy_conventions_numbers(objectives: Mapping[str, Callable[[Tensor], Tensor]]) -> None:
    """The Conventions note's numbers: the first step is (1 - beta1) / sqrt(1 - beta2) = 3.16 times d*lr per
    coordinate without bias correction, d*lr with it; on the quadratic d grows to 0.42 at step 15 and stays."""
    for correction, factor in ((False, 0.1 / math.sqrt(0.001)), (True, 1.0)):
        weight = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64, requires_grad=True)
        optimizer = Prodigy([weight], use_bias_correction=correction)
        (weight**2).sum().backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        moved = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64) - weight.detach()
        torch.testing.assert_close(moved, factor * 1e-6 * torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64))
    x = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    optimizer = Prodigy([x])
    estimates = []
    for _ in range(40):
        optimizer.zero_grad()
        objectives["quadratic"](x).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        estimates.append(optimizer.param_groups[0]["d"])
    assert estimates == sorted(estimates), "d decreased"
    assert estimates[13] < 0.2 and estimates[14] == pytest.approx(0.42, abs=0.005) == estimates[-1]


def test_prodigy_leaves_grad_alone(problem_factory: ProblemFactory) -> None:
    problem = problem_factory(torch.float64)
    optimizer = Prodigy(problem.groups(), weight_decay=0.1, decouple=False)
    problem.run(optimizer, 1)
    grad = problem.params[0].grad
    assert grad is not None
    kept = grad.clone()
    optimizer.step()
    assert torch.equal(grad, kept)


def test_prodigy_all_zero_parameter_keeps_a_scalar_p0() -> None:
    weight = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    reference_weight = weight.detach().clone().requires_grad_()
    ours, reference = Prodigy([weight]), prodigyopt.Prodigy([reference_weight])
    for param, optimizer in ((weight, ours), (reference_weight, reference)):
        for _ in range(10):
            optimizer.zero_grad()
            ((param - torch.arange(4)) ** 2).sum().backward()  # type: ignore[no-untyped-call]
            optimizer.step()
    assert ours.state[weight]["p0"].shape == ()
    assert_same(ours, [weight], reference, [reference_weight], rtol=1e-10, group_keys=PRODIGY_GROUP_KEYS)


# ------------------------------------------------------------------------------------------- validation, both classes

# (class, kwargs, the name the message must hold); the message must also hold the offending value's repr
INVALID: list[tuple[type[torch.optim.Optimizer], dict[str, Any], str]] = [
    *[(cls, {"lr": value}, "lr") for cls in (AdamWScheduleFree, Prodigy) for value in (-1e-3, math.nan, math.inf, "1")],
    *[(cls, {"weight_decay": -0.1}, "weight_decay") for cls in (AdamWScheduleFree, Prodigy)],
    *[(cls, {"betas": (0.9, 1.0)}, "betas[1]") for cls in (AdamWScheduleFree, Prodigy)],
    *[(cls, {"betas": (0.9, -0.1)}, "betas[1]") for cls in (AdamWScheduleFree, Prodigy)],
    *[(cls, {"betas": 0.9}, "betas") for cls in (AdamWScheduleFree, Prodigy)],
    *[(cls, {"betas": (0.9, 0.99, 0.999)}, "betas") for cls in (AdamWScheduleFree, Prodigy)],
    *[(cls, {"maximize": 1}, "maximize") for cls in (AdamWScheduleFree, Prodigy)],
    *[(cls, {"foreach": "auto"}, "foreach") for cls in (AdamWScheduleFree, Prodigy)],
    (AdamWScheduleFree, {"betas": (0.0, 0.999)}, "betas[0]"),  # eval() divides by beta1
    (AdamWScheduleFree, {"betas": (1.5, 0.999)}, "betas[0]"),
    (AdamWScheduleFree, {"eps": -1e-8}, "eps"),
    (AdamWScheduleFree, {"warmup_steps": -1}, "warmup_steps"),
    (AdamWScheduleFree, {"warmup_steps": 2.5}, "warmup_steps"),
    (AdamWScheduleFree, {"warmup_steps": True}, "warmup_steps"),
    (AdamWScheduleFree, {"r": -1.0}, "r"),
    (AdamWScheduleFree, {"weight_lr_power": -2.0}, "weight_lr_power"),
    (Prodigy, {"betas": (1.0, 0.999)}, "betas[0]"),
    (Prodigy, {"beta3": 1.0}, "beta3"),
    (Prodigy, {"beta3": -0.1}, "beta3"),
    (Prodigy, {"eps": 0.0}, "eps"),
    (Prodigy, {"eps": -1e-8}, "eps"),
    (Prodigy, {"decouple": 1}, "decouple"),
    (Prodigy, {"use_bias_correction": None}, "use_bias_correction"),
    (Prodigy, {"safeguard_warmup": "yes"}, "safeguard_warmup"),
    (Prodigy, {"d0": 0.0}, "d0"),
    (Prodigy, {"d0": -1e-6}, "d0"),
    (Prodigy, {"d_coef": 0.0}, "d_coef"),
    (Prodigy, {"growth_rate": 0.5}, "growth_rate"),
    (Prodigy, {"growth_rate": math.nan}, "growth_rate"),
    (Prodigy, {"fsdp_in_use": True}, "fsdp_in_use"),
    (Prodigy, {"fsdp_in_use": "no"}, "fsdp_in_use"),
    (Prodigy, {"slice_p": 0}, "slice_p"),
    (Prodigy, {"slice_p": 1.5}, "slice_p"),
    (Prodigy, {"slice_p": True}, "slice_p"),
]
VALID_EDGES: list[tuple[type[torch.optim.Optimizer], dict[str, Any]]] = [
    (AdamWScheduleFree, {"lr": 0.0, "eps": 0.0, "weight_decay": 0.0, "r": 0.0, "weight_lr_power": 0.0}),
    (AdamWScheduleFree, {"betas": (1.0, 0.0), "warmup_steps": 0}),
    (AdamWScheduleFree, {"betas": [0.5, 0.5], "foreach": True}),
    (Prodigy, {"lr": 0.0}),
    (Prodigy, {"betas": (0.0, 0.0), "beta3": 0.0, "growth_rate": 1.0}),
    (Prodigy, {"growth_rate": math.inf, "slice_p": 100, "foreach": False}),
]


def _id(cls: type, kwargs: dict[str, Any]) -> str:
    return f"{cls.__name__}-" + ",".join(f"{k}={v!r}" for k, v in kwargs.items())


@pytest.mark.parametrize(("cls", "kwargs", "named"), INVALID, ids=[_id(c, k) for c, k, _ in INVALID])
def test_invalid_hyperparameter_raises_naming_it_and_its_value(
    cls: type[torch.optim.Optimizer], kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError) as raised:
        cls([torch.zeros(2, requires_grad=True)], **kwargs)
    (value,) = kwargs.values()
    offending = value[int(named[-2])] if named.startswith("betas[") else value
    assert f"Invalid {named} value: {offending!r}" in str(raised.value)


@pytest.mark.parametrize(("cls", "kwargs"), VALID_EDGES, ids=[_id(c, k) for c, k in VALID_EDGES])
def test_valid_edge_values_are_accepted(cls: type[torch.optim.Optimizer], kwargs: dict[str, Any]) -> None:
    weight = torch.ones(2, requires_grad=True)
    optimizer = cls([weight], **kwargs)
    if isinstance(optimizer, AdamWScheduleFree):
        optimizer.train()
    weight.sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    if isinstance(optimizer, AdamWScheduleFree):
        optimizer.eval()
    assert torch.isfinite(weight).all()


def test_fsdp_refusal_says_why() -> None:
    with pytest.raises(ValueError, match="all-reduced across processes"):
        Prodigy([torch.zeros(2, requires_grad=True)], fsdp_in_use=True)


@pytest.mark.parametrize("cls", [AdamWScheduleFree, Prodigy])
def test_docstring_carries_the_shared_args_and_documents_each_constructor_argument(
    cls: type[torch.optim.Optimizer],
) -> None:
    doc = inspect.getdoc(cls) or ""
    assert "{_" not in doc, "a placeholder was left unfilled"
    args = doc[doc.index("\nArgs:\n") :]
    for shared in (_params_doc, _maximize_doc, _foreach_doc):
        assert "\n    " + shared.replace("\n", "\n    ") in args
    documented = re.findall(r"^    (\w+):", args, flags=re.MULTILINE)
    assert documented == list(inspect.signature(cls.__init__).parameters)[1:]
    assert "Conventions:" in doc and "tf.keras" in doc


@pytest.mark.parametrize("cls", [AdamWScheduleFree, Prodigy])
def test_hyperparameters_live_in_param_groups_only(cls: Callable[..., torch.optim.Optimizer]) -> None:
    optimizer = cls([torch.zeros(2, requires_grad=True)], lr=0.125)
    assert optimizer.param_groups[0]["lr"] == 0.125
    assert not {"lr", "betas", "eps", "weight_decay", "d0", "warmup_steps"} & set(vars(optimizer))


# -------------------------------------------------------------------------------------------------------- state dicts

FIRST, SECOND = 6, 6


def _run(problem: Problem, optimizer: torch.optim.Optimizer, steps: int, start: int) -> None:
    if isinstance(optimizer, AdamWScheduleFree | schedulefree.AdamWScheduleFree):
        optimizer.train()
        problem.run(optimizer, steps, start=start)
        optimizer.eval()  # checkpoints are taken in eval mode
    else:
        problem.run(optimizer, steps, start=start)


BUILDERS: dict[str, Callable[[list[dict[str, Any]]], torch.optim.Optimizer]] = {
    "AdamWScheduleFree": lambda groups: AdamWScheduleFree(groups, lr=0.02, warmup_steps=4, weight_decay=0.01),
    "schedulefree.AdamWScheduleFree": lambda groups: schedulefree.AdamWScheduleFree(
        groups, lr=0.02, warmup_steps=4, weight_decay=0.01
    ),
    "Prodigy": lambda groups: Prodigy(groups, weight_decay=0.01, use_bias_correction=True),
    "Prodigy(beta1=0,slice_p=2)": lambda groups: Prodigy(groups, betas=(0.0, 0.999), slice_p=2),
    "prodigyopt.Prodigy": lambda groups: prodigyopt.Prodigy(groups, weight_decay=0.01, use_bias_correction=True),
}
RESUMES = [
    ("AdamWScheduleFree", "AdamWScheduleFree"),
    ("Prodigy", "Prodigy"),
    ("Prodigy(beta1=0,slice_p=2)", "Prodigy(beta1=0,slice_p=2)"),
    ("AdamWScheduleFree", "schedulefree.AdamWScheduleFree"),
    ("schedulefree.AdamWScheduleFree", "AdamWScheduleFree"),
    ("Prodigy", "prodigyopt.Prodigy"),
    ("prodigyopt.Prodigy", "Prodigy"),
]


@pytest.mark.parametrize(("first", "second"), RESUMES, ids=[f"{a}->{b}" for a, b in RESUMES])
def test_resume_from_a_weights_only_file_equals_the_uninterrupted_run(
    first: str, second: str, tmp_path: Path, problem_factory: ProblemFactory
) -> None:
    """Saved (model and optimizer, in eval mode for Schedule-Free) and loaded with ``weights_only=True`` into a
    fresh optimizer, possibly the other library's: the resumed run is the uninterrupted one, bit for bit."""
    problem = problem_factory(torch.float32)
    check_problem = problem.clone()
    uninterrupted = BUILDERS[second](check_problem.groups())
    _run(check_problem, uninterrupted, FIRST, 0)
    _run(check_problem, uninterrupted, SECOND, FIRST)

    before = BUILDERS[first](problem.groups())
    _run(problem, before, FIRST, 0)
    torch.save({"params": [p.detach() for p in problem.params], "optimizer": before.state_dict()}, tmp_path / "c.pt")
    loaded = torch.load(tmp_path / "c.pt", weights_only=True)
    resumed_problem = problem.clone()
    for param, saved in zip(resumed_problem.params, loaded["params"], strict=True):
        param.data.copy_(saved)
    after = BUILDERS[second](resumed_problem.groups())
    after.load_state_dict(loaded["optimizer"])
    _run(resumed_problem, after, SECOND, FIRST)

    for mine, theirs in zip(resumed_problem.params, check_problem.params, strict=True):
        assert torch.equal(mine, theirs)
    for mine, theirs in zip(resumed_problem.params, check_problem.params, strict=True):
        state, expected = after.state.get(mine, {}), uninterrupted.state.get(theirs, {})
        assert sorted(state) == sorted(expected)
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(value, dtype=torch.float64), torch.as_tensor(expected[key]).double())


def test_schedulefree_mode_travels_with_the_state_dict(problem_factory: ProblemFactory) -> None:
    problem = problem_factory(torch.float64)
    optimizer = AdamWScheduleFree(problem.groups(), lr=0.02)
    optimizer.train()
    problem.run(optimizer, 3)
    in_train = optimizer.state_dict()
    optimizer.eval()
    in_eval = optimizer.state_dict()
    for state_dict, mode in ((in_train, True), (in_eval, False)):
        fresh = AdamWScheduleFree(problem.clone().groups(), lr=0.02)
        fresh.load_state_dict(state_dict)
        assert fresh.train_mode is mode
        assert all(group["k"] == 3 for group in fresh.param_groups)


def test_prodigy_state_dict_step_is_a_float32_scalar_tensor(problem_factory: ProblemFactory) -> None:
    problem = problem_factory(torch.float64)
    optimizer = Prodigy(problem.groups())
    problem.run(optimizer, 3)
    step = optimizer.state[problem.params[0]]["step"]
    assert step.dtype == torch.float32 and step.shape == () and step.device.type == "cpu" and step.item() == 3


# ----------------------------------------------------------------------------------------------- the train/eval helpers


def test_helpers_act_on_switchable_optimizers_only(problem_factory: ProblemFactory) -> None:
    problem = problem_factory(torch.float64)
    w1, b1, w2, unused = problem.params
    ours = AdamWScheduleFree([w1], lr=0.02)
    package = schedulefree.AdamWScheduleFree([b1], lr=0.02)
    plain = torch.optim.Adam([w2])
    everything: list[torch.optim.Optimizer] = [plain, ours, package]
    assert with_switch(everything) == [ours, package]
    assert not in_train_mode(ours) and not in_train_mode(package)
    to_train(everything)
    assert in_train_mode(ours) and in_train_mode(package)
    problem.run(ours, 3)
    problem.run(package, 3)
    problem.run(plain, 1)
    assert to_eval(everything) == [ours, package]
    assert to_eval(everything) == [], "already in eval mode: nothing to switch back later"
    assert not in_train_mode(ours) and not in_train_mode(package)


def test_evaluating_restores_only_what_was_training(problem_factory: ProblemFactory) -> None:
    problem = problem_factory(torch.float64)
    training = AdamWScheduleFree(problem.params[:2], lr=0.02)
    evaluating_already = AdamWScheduleFree(problem.params[2:3], lr=0.02)
    for optimizer in (training, evaluating_already):
        optimizer.train()
        problem.run(optimizer, 3)
    evaluating_already.eval()
    y = problem.params[0].detach().clone()
    with evaluating([training, evaluating_already]):
        assert not training.train_mode and not evaluating_already.train_mode
        assert not torch.equal(problem.params[0], y)
    assert training.train_mode and not evaluating_already.train_mode
    torch.testing.assert_close(problem.params[0].detach(), y, rtol=1e-13, atol=1e-15)
    with pytest.raises(KeyError), evaluating([training]):
        raise KeyError("the block failed")
    assert training.train_mode


def test_the_documented_hook_sequence_validates_at_x_and_trains_at_y(problem_factory: ProblemFactory) -> None:
    """The module docstring's Callback table, played by hand: sanity check, epochs with validation, fit end, test.
    Validation sees x, training continues from y, and the fit leaves x in the weights."""
    problem = problem_factory(torch.float64)
    optimizer = AdamWScheduleFree(problem.groups(), lr=0.02)
    twin_problem = problem.clone()
    twin = AdamWScheduleFree(twin_problem.groups(), lr=0.02)  # the same run, switched by hand
    optimizers = [optimizer]
    to_eval(optimizers)  # on_validation_start of the sanity check: no state yet, nothing moves
    to_train(optimizers)  # on_train_start
    for epoch in range(3):
        twin.train()
        for batch in range(5):
            to_train(optimizers)  # on_train_batch_start
            problem.run(optimizer, 1, start=5 * epoch + batch)
            twin_problem.run(twin, 1, start=5 * epoch + batch)
        to_eval(optimizers)  # on_validation_start
        twin.eval()
        assert all(torch.equal(a, b) for a, b in zip(problem.params, twin_problem.params, strict=True))
    to_eval(optimizers)  # on_fit_end (validation already left it at x)
    to_eval(optimizers)  # on_test_start
    twin.eval()
    assert not optimizer.train_mode
    assert all(torch.equal(a, b) for a, b in zip(problem.params, twin_problem.params, strict=True))


@pytest.mark.filterwarnings("ignore::UserWarning")  # Lightning's num_workers / logging hints
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")  # lightning 2.6 vs newer torch pytree
def test_the_documented_callback_in_a_lightning_fit() -> None:
    """The module docstring's Callback, in a real fit with validation every epoch, a sanity check and a test:
    every training step runs in train mode, every validation and test batch in eval mode, and the fit ends at x."""
    pytest.importorskip("lightning")
    import lightning

    modes: dict[str, list[bool]] = {"train": [], "val": [], "test": []}

    class Switch(lightning.Callback):
        def on_train_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
            to_train(trainer.optimizers)

        def on_train_batch_start(
            self, trainer: lightning.Trainer, pl_module: lightning.LightningModule, batch: Any, batch_idx: int
        ) -> None:
            to_train(trainer.optimizers)

        def on_validation_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
            to_eval(trainer.optimizers)

        def on_test_start(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
            to_eval(trainer.optimizers)

        def on_fit_end(self, trainer: lightning.Trainer, pl_module: lightning.LightningModule) -> None:
            to_eval(trainer.optimizers)

    class TinyModule(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(6, 2)

        def _loss(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
            modes[stage].append(in_train_mode(self.optimizer))
            inputs, targets = batch
            return torch.nn.functional.mse_loss(self.layer(inputs), targets)

        def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
            return self._loss(batch, "train")

        def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
            return self._loss(batch, "val")

        def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
            return self._loss(batch, "test")

        def configure_optimizers(self) -> torch.optim.Optimizer:
            self.optimizer = AdamWScheduleFree(self.parameters(), lr=0.01)
            return self.optimizer

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(32, 6), torch.randn(32, 2))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    module = TinyModule()
    trainer = lightning.Trainer(
        max_epochs=2,
        callbacks=[Switch()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=1,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(module, loader, loader)
    assert not module.optimizer.train_mode, "the fit must leave the averaged weights in the model"
    x = [p.detach().clone() for p in module.parameters()]
    trainer.test(module, loader, verbose=False)
    assert all(torch.equal(p, q) for p, q in zip(module.parameters(), x, strict=True)), "test moved the weights"
    assert modes["train"] == [True] * 8
    assert modes["val"] == [False] * 9  # the sanity check's batch, then 4 per epoch
    assert modes["test"] == [False] * 4


def test_schedulefree_scheduler_warmup_is_the_built_in_warmup() -> None:
    """The Conventions note: a scheduler's linear warm-up to a constant rate (the study's ``constant`` schedule with
    a warm-up) and ``warmup_steps`` give the same run to the last bit, averaging weights included."""
    start = torch.randn(5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    runs = []
    for built_in in (True, False):
        weight = start.clone().requires_grad_()
        optimizer = AdamWScheduleFree([weight], lr=0.05, warmup_steps=10 if built_in else 0)
        warmup = None if built_in else torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 10))
        optimizer.train()
        for _ in range(30):
            optimizer.zero_grad()
            ((weight - torch.arange(5)) ** 2).sum().backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            if warmup is not None:
                warmup.step()
        optimizer.eval()
        runs.append((weight.detach(), optimizer.param_groups[0]["weight_sum"]))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
