"""Every optimizer against ``torch.optim``'s own (single-tensor code path; for Lion, ``lion_pytorch.Lion``) on the
same random problem, through both of our paths (multi-tensor, the default, and ``foreach=False``), and our two
paths against each other; every registry name against its reference with its defaults and under a scheduler.
Schedule-Free AdamW and Prodigy, option by option, are in ``test_schedulefree_prodigy.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import torch

from optimizers import (
    OPTIMIZER_NAMES,
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    AdamW,
    NAdam,
    RMSprop,
    get_spec,
)
from optimizers.adafactor import Adafactor
from optimizers.adamax import Adamax
from optimizers.lion import Lion
from optimizers.muon import Muon
from optimizers.radam import RAdam
from optimizers.train_eval import to_eval, to_train
from study.design.search_space import default_hyperparameters
from study.schema import CONVENTIONS

if TYPE_CHECKING:
    from optimizers.conftest import Problem

OptimizerClass = type[torch.optim.Optimizer]
ReferenceClass = Callable[[OptimizerClass], OptimizerClass]  # the reference_class fixture

# (class, constructor kwargs, overrides for the second param group beyond its halved lr)
CASES: list[tuple[type[torch.optim.Optimizer], dict[str, Any], dict[str, Any]]] = [
    (SGD, {"lr": 0.1}, {}),
    (SGD, {"lr": 0.1, "weight_decay": 0.1}, {}),
    (SGD, {"lr": 0.05, "momentum": 0.9}, {}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "dampening": 0.5, "weight_decay": 0.05}, {}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05}, {}),
    (SGD, {"lr": 0.05, "momentum": 0.5, "maximize": True}, {}),
    (SGD, {"lr": 0.05, "momentum": 0.9}, {"momentum": 0.5, "dampening": 0.1}),
    (Adagrad, {"lr": 0.1}, {}),
    (Adagrad, {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1}, {}),
    (Adagrad, {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-7}, {}),
    (Adagrad, {"lr": 0.1, "maximize": True}, {"lr_decay": 0.1, "eps": 1e-6}),
    (RMSprop, {"lr": 0.01}, {}),
    (RMSprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1}, {}),
    (RMSprop, {"lr": 0.01, "centered": True}, {}),
    (RMSprop, {"lr": 0.01, "momentum": 0.9}, {}),
    (RMSprop, {"lr": 0.005, "momentum": 0.9, "centered": True, "weight_decay": 0.05}, {}),
    (RMSprop, {"lr": 0.01, "maximize": True}, {"centered": True, "momentum": 0.5}),
    (Adadelta, {"lr": 1.0}, {}),
    (Adadelta, {"lr": 0.5, "rho": 0.95, "eps": 1e-7, "weight_decay": 0.1}, {}),
    (Adadelta, {"lr": 1.0, "maximize": True}, {"rho": 0.5}),
    (Adam, {"lr": 0.01}, {}),
    (Adam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}, {}),
    (Adam, {"lr": 0.01, "amsgrad": True}, {}),
    (Adam, {"lr": 0.01, "amsgrad": True, "maximize": True}, {}),
    (Adam, {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}, {}),
    (Adam, {"lr": 0.01}, {"betas": (0.5, 0.9), "amsgrad": True}),
    (AdamW, {"lr": 0.01}, {}),
    (AdamW, {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}, {}),
    (AdamW, {"lr": 0.01, "betas": (0.5, 0.9), "maximize": True}, {"weight_decay": 0.0}),
    (NAdam, {"lr": 0.01}, {}),
    (NAdam, {"lr": 0.01, "weight_decay": 0.1}, {}),
    (NAdam, {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}, {}),
    (NAdam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "momentum_decay": 0.01}, {}),
    (NAdam, {"lr": 0.01, "maximize": True}, {"momentum_decay": 0.0}),
    # against lion_pytorch.Lion (conftest.LionReference adds torch's maximize and foreach)
    (Lion, {"lr": 1e-3}, {}),
    (Lion, {"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.1}, {}),
    (Lion, {"lr": 1e-3, "weight_decay": 0.01, "decoupled_weight_decay": True}, {}),
    (Lion, {"lr": 1e-3, "decoupled_weight_decay": True}, {"weight_decay": 0.02}),
    (Lion, {"lr": 1e-3, "weight_decay": 0.1, "maximize": True}, {"betas": (0.5, 0.9), "weight_decay": 0.0}),
    (Lion, {"lr": 1e-3, "weight_decay": 0.01, "decoupled_weight_decay": True, "maximize": True}, {}),
    # against torch.optim.Muon, on matrices only (see MATRICES_ONLY); every adjust_lr_fn with and without Nesterov
    *[
        (Muon, {"lr": 0.02, "nesterov": nesterov, "adjust_lr_fn": adjust, "weight_decay": 0.1 if nesterov else 0.0}, {})
        for nesterov in (True, False)
        for adjust in (None, "original", "match_rms_adamw", "spectral_unclamped")
    ],
    (Muon, {"lr": 0.02, "momentum": 0.0}, {}),
    (Muon, {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.01}, {"momentum": 0.5, "nesterov": False}),
    (Muon, {"lr": 0.02, "ns_coefficients": (1.875, -1.25, 0.375), "ns_steps": 8, "eps": 1e-3}, {"ns_steps": 0}),
    (Muon, {"lr": 0.02, "maximize": True}, {"adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.0}),
    # RAdam: momentum steps until step 6, then rectified; betas[1]=0.6 gives rho_inf = 4, a group that never adapts
    (RAdam, {"lr": 0.01}, {}),
    (RAdam, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}, {}),
    (RAdam, {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}, {}),
    (RAdam, {"lr": 0.01, "maximize": True}, {"betas": (0.5, 0.9), "eps": 1e-4}),
    (RAdam, {"lr": 0.01, "weight_decay": 0.05, "maximize": True}, {"betas": (0.9, 0.6)}),
    (RAdam, {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}, {"weight_decay": 0.0}),
    (Adamax, {"lr": 0.01}, {}),
    (Adamax, {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}, {}),
    (Adamax, {"lr": 0.01, "maximize": True}, {"betas": (0.5, 0.9), "eps": 0.0}),
    (Adamax, {"lr": 0.01, "weight_decay": 0.1, "maximize": True}, {"weight_decay": 0.0}),
    # Adafactor: w1, w2 factored, b1 and unused not; lr=0.2 reaches rho_t = 1/sqrt(t) from step 26, d=10 never clips
    (Adafactor, {"lr": 0.01}, {}),
    (Adafactor, {"lr": 0.2}, {}),
    (Adafactor, {"lr": 0.05, "beta2_decay": -0.5, "d": 1.5}, {}),
    (Adafactor, {"lr": 0.01, "eps": (1e-3, 1e-2), "weight_decay": 0.1}, {}),
    (Adafactor, {"lr": 0.01, "maximize": True}, {"beta2_decay": 0.0, "d": 10.0}),
    (Adafactor, {"lr": 0.01, "weight_decay": 0.1, "maximize": True}, {"eps": (None, 1e-4), "weight_decay": 0.0}),
]
MATRICES_ONLY = {Muon}  # refuse 1-D parameters: their problem holds b1 as a (1, 4) row and unused as (3, 1)
PRECISIONS = [
    pytest.param(torch.float64, 100, 1e-10, id="float64-100steps"),
    pytest.param(torch.float32, 50, 1e-5, id="float32-50steps"),
]
OUR_PATHS = [pytest.param(None, id="ours-default"), pytest.param(False, id="ours-foreach=False")]


def _case_id(case: tuple[type, dict[str, Any], dict[str, Any]]) -> str:
    cls, kwargs, second = case
    words = [f"{k}={v}" for k, v in kwargs.items()] + [f"group2.{k}={v}" for k, v in second.items()]
    return f"{cls.__name__}[{','.join(words)}]"


def _run_both(
    cls: OptimizerClass,
    kwargs: dict[str, Any],
    second: dict[str, Any],
    dtype: torch.dtype,
    steps: int,
    foreach: bool | None,
    problem_factory: Callable[..., Problem],
    reference_class: ReferenceClass,
) -> tuple[Problem, torch.optim.Optimizer, list[Any], Problem, torch.optim.Optimizer, list[Any]]:
    problem = problem_factory(dtype, sign=-1.0 if kwargs.get("maximize") else 1.0, matrices_only=cls in MATRICES_ONLY)
    reference_problem = problem.clone()
    group2 = {"lr": kwargs["lr"] / 2, **second}
    # the classes take hyperparameter keywords, which Optimizer's own constructor does not declare
    make_ours: Callable[..., torch.optim.Optimizer] = cls
    make_reference: Callable[..., torch.optim.Optimizer] = reference_class(cls)
    ours = make_ours(problem.groups(group2), foreach=foreach, **kwargs)
    reference = make_reference(reference_problem.groups(group2), foreach=False, **kwargs)
    ours_losses = problem.run(ours, steps)
    reference_losses = reference_problem.run(reference, steps)
    return problem, ours, ours_losses, reference_problem, reference, reference_losses


@pytest.mark.parametrize("foreach", OUR_PATHS)
@pytest.mark.parametrize(("dtype", "steps", "rtol"), PRECISIONS)
@pytest.mark.parametrize(("cls", "kwargs", "second"), CASES, ids=[_case_id(c) for c in CASES])
def test_matches_torch(
    cls: OptimizerClass,
    kwargs: dict[str, Any],
    second: dict[str, Any],
    dtype: torch.dtype,
    steps: int,
    rtol: float,
    foreach: bool | None,
    problem_factory: Callable[..., Problem],
    reference_class: ReferenceClass,
    check_same_run: Callable[..., None],
) -> None:
    problem, ours, ours_losses, reference_problem, reference, reference_losses = _run_both(
        cls, kwargs, second, dtype, steps, foreach, problem_factory, reference_class
    )
    check_same_run(ours, problem.params, reference, reference_problem.params, rtol=rtol)
    torch.testing.assert_close(torch.stack(ours_losses), torch.stack(reference_losses), rtol=rtol, atol=0.0)
    assert not torch.equal(problem.params[0], problem_factory(dtype).params[0]), "nothing was trained"


@pytest.mark.parametrize(("cls", "kwargs", "second"), CASES, ids=[_case_id(c) for c in CASES])
def test_multi_tensor_path_equals_single_tensor_path(
    cls: Callable[..., torch.optim.Optimizer],
    kwargs: dict[str, Any],
    second: dict[str, Any],
    problem_factory: Callable[..., Problem],
    check_same_run: Callable[..., None],
) -> None:
    """Our two paths agree to the last bit on the CPU (there ``torch._foreach_*`` ops run the per-tensor kernels),
    also when a group's tensors have counted different numbers of steps (``b1`` skips every third one)."""
    problem = problem_factory(
        torch.float64,
        sign=-1.0 if kwargs.get("maximize") else 1.0,
        bias_skips_every=3,
        matrices_only=cls in MATRICES_ONLY,
    )
    single_problem = problem.clone()
    group2 = {"lr": kwargs["lr"] / 2, **second}
    multi = cls(problem.groups(group2), foreach=True, **kwargs)
    single = cls(single_problem.groups(group2), foreach=False, **kwargs)
    multi_losses = problem.run(multi, 100)
    single_losses = single_problem.run(single, 100)
    check_same_run(multi, problem.params, single, single_problem.params, rtol=0.0)
    assert torch.equal(torch.stack(multi_losses), torch.stack(single_losses))
    w1, b1 = problem.params[:2]
    if "step" in multi.state[w1]:
        assert (multi.state[w1]["step"].item(), multi.state[b1]["step"].item()) == (100, 67)


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_registry_defaults_match_torch(
    name: str,
    convention: str,
    problem_factory: Callable[..., Problem],
    reference_class: ReferenceClass,
    check_same_run: Callable[..., None],
) -> None:
    """Each registry name, with each default set the study uses, against its reference built from the same kwargs
    (conftest.REFERENCE: torch.optim's class, a package's, or for muon torch's Muon and AdamW side by side), both in
    train mode while stepping and compared in eval mode (schedulefree_adamw: at the average x)."""
    spec = get_spec(name)
    kwargs = default_hyperparameters(name, convention)
    problem = problem_factory(torch.float64)
    reference_problem = problem.clone()
    ours = spec.cls(problem.groups_for(name), **kwargs)
    reference = reference_class(spec.cls)(reference_problem.groups_for(name), **{**kwargs, "foreach": False})
    to_train([ours, reference])
    problem.run(ours, 100)
    reference_problem.run(reference, 100)
    to_eval([ours, reference])
    check_same_run(ours, problem.params, reference, reference_problem.params, rtol=1e-10)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_lr_scheduler_matches_torch(
    name: str,
    problem_factory: Callable[..., Problem],
    reference_class: ReferenceClass,
    check_same_run: Callable[..., None],
    other_lr: Callable[[str, float], float],
) -> None:
    """Schedulers write ``group["lr"]``; the optimizers must read it on every step. The second group runs at a third
    of the rate (prodigy's, frozen at 0: conftest.second_group_lr)."""
    spec = get_spec(name)
    kwargs = spec.defaults()
    second = {"lr": other_lr(name, kwargs["lr"] / 3)}
    problem = problem_factory(torch.float64)
    reference_problem = problem.clone()
    optimizers = [
        spec.cls(problem.groups_for(name, second), **kwargs),
        reference_class(spec.cls)(reference_problem.groups_for(name, second), **{**kwargs, "foreach": False}),
    ]
    to_train(optimizers)
    schedulers = [torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.5) for opt in optimizers]
    for step in range(30):
        for prob, opt, scheduler in zip((problem, reference_problem), optimizers, schedulers, strict=True):
            prob.run(opt, 1, start=step)
            scheduler.step()
    to_eval(optimizers)
    assert optimizers[0].param_groups[0]["lr"] == kwargs["lr"] * 0.5**6
    check_same_run(optimizers[0], problem.params, optimizers[1], reference_problem.params, rtol=1e-10)


def test_adagrad_reads_initial_accumulator_value_per_group() -> None:
    """Deviation: torch.optim.Adagrad fills every ``sum`` from the constructor argument in ``__init__``;
    here the state is created lazily from the parameter's own group, like every other hyperparameter."""
    first, second = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    groups: list[dict[str, Any]] = [{"params": [first]}, {"params": [second], "initial_accumulator_value": 0.5}]
    optimizer = Adagrad(groups, lr=0.1)
    (first.sum() + 2 * second.sum()).backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    torch.testing.assert_close(optimizer.state[first]["sum"], torch.full((2,), 1.0))
    torch.testing.assert_close(optimizer.state[second]["sum"], torch.full((2,), 4.5))
