"""RAdam, Adamax and Adafactor beyond the shared tables.

Parity with ``torch.optim.RAdam``, ``Adamax`` and ``Adafactor`` option by option (float64 and float32, both of our
paths), the two paths against each other, the Args docstrings and the common validation rows are in
``test_parity.py``, ``test_base.py``, ``test_foreach.py`` and ``test_validation.py``. Here: Adafactor on tensors of
0, 3 and 4 dimensions, groups mixing dtypes, every validation message with its value, state-dict round trips
(``weights_only=True``, with torch's files too), factored Adafactor's convergence (the three optimizers' own runs
are ``test_convergence.py``'s), and the numbers the Conventions notes quote.

Our single-tensor functions use torch's single-tensor operations in torch's order, so the comparisons with torch
below are exact (``torch.equal``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import torch
from torch import Tensor

from optimizers.adafactor import Adafactor, clip_divisor, step_size
from optimizers.adamax import Adamax
from optimizers.radam import RAdam, rectification, sma_length

if TYPE_CHECKING:
    from optimizers.conftest import Problem

OptimizerClass = type[torch.optim.Optimizer]
CLASSES: list[OptimizerClass] = [RAdam, Adamax, Adafactor]
REFERENCE: dict[OptimizerClass, OptimizerClass] = {
    RAdam: torch.optim.RAdam,
    Adamax: torch.optim.Adamax,
    Adafactor: torch.optim.Adafactor,
}


def _step(optimizer: torch.optim.Optimizer, loss: Callable[[], Tensor]) -> None:
    optimizer.zero_grad()
    loss().backward()  # type: ignore[no-untyped-call]
    optimizer.step()


def _linear(weight: Tensor, slope: float | Tensor) -> Tensor:
    """A loss whose gradient is ``slope``."""
    return (slope * weight).sum()


def _wavy(params: list[Tensor], step: int) -> Tensor:
    """A loss of several same-dtype tensors whose gradients change from step to step."""
    return torch.stack([(torch.sin(p * (i + 1) + step) ** 2).sum() for i, p in enumerate(params)]).sum()


def _bowl(params: list[Tensor]) -> Tensor:
    """A loss of tensors of any dtype, computed in float64."""
    return torch.stack([((p.double() - 1) ** 2).sum() * (i + 1) for i, p in enumerate(params)]).sum()


def _assert_same_state(
    ours: torch.optim.Optimizer, ours_params: list[Tensor], theirs: torch.optim.Optimizer, their_params: list[Tensor]
) -> None:
    """Parameters and every state tensor equal to the last bit, under the same keys and dtypes."""
    for index, (mine, other) in enumerate(zip(ours_params, their_params, strict=True)):
        assert torch.equal(mine, other), f"param {index}"
        state, expected = ours.state.get(mine, {}), theirs.state.get(other, {})
        assert sorted(state) == sorted(expected), f"param {index}: state keys differ"
        for key, value in state.items():
            assert value.dtype == expected[key].dtype, f"param {index}: {key}"
            assert torch.equal(value, expected[key]), f"param {index}: {key}"


# --- Adafactor on any number of dimensions -----------------------------------------------------------------------

SHAPES = [(3, 4, 5), (2, 3, 2, 2), (), (1, 6), (6, 1), (7,)]


@pytest.mark.parametrize("foreach", [None, False], ids=["ours-default", "ours-foreach=False"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_adafactor_factors_the_last_two_dimensions_as_torch(dtype: torch.dtype, foreach: bool | None) -> None:
    """Tensors of 3 and 4 dimensions keep a row and a column average per leading index, a 0-D tensor a full
    variance; with 1 x m and n x 1 matrices (factored, though one factor is trivial), exactly as torch."""
    generator = torch.Generator().manual_seed(0)
    start = [torch.randn(shape, generator=generator, dtype=dtype) for shape in SHAPES]
    runs = []
    for make, flag in ((Adafactor, foreach), (torch.optim.Adafactor, False)):
        params = [p.clone().requires_grad_() for p in start]
        optimizer = make(params, foreach=flag, lr=0.05, weight_decay=0.1)
        for step in range(30):
            _step(optimizer, partial(_wavy, params, step))
        runs.append((params, optimizer))
    (ours_params, ours), (torch_params, reference) = runs
    _assert_same_state(ours, ours_params, reference, torch_params)
    shapes = {key: tuple(value.shape) for key, value in ours.state[ours_params[1]].items()}
    assert shapes == {"step": (), "row_var": (2, 3, 2, 1), "col_var": (2, 3, 1, 2)}
    assert sorted(ours.state[ours_params[2]]) == ["step", "variance"]


# --- Groups that mix dtypes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES)
def test_group_of_mixed_dtypes_matches_the_single_tensor_path(cls: Callable[..., torch.optim.Optimizer]) -> None:
    """One group with float32 and float64 matrices and vectors: the multi-tensor path splits it by dtype and still
    agrees exactly (Adafactor's default eps1 is each tensor's own machine epsilon on both paths)."""
    generator = torch.Generator().manual_seed(0)
    start = [
        torch.randn(*shape, generator=generator, dtype=dtype)
        for shape in ((3, 2), (4,))
        for dtype in (torch.float32, torch.float64)
    ]
    runs = []
    for foreach in (True, False):
        params = [p.clone().requires_grad_() for p in start]
        optimizer = cls(params, foreach=foreach, lr=0.01)
        for _ in range(20):
            _step(optimizer, partial(_bowl, params))
        runs.append((params, optimizer))
    (multi_params, multi), (single_params, single) = runs
    _assert_same_state(multi, multi_params, single, single_params)
    assert all(torch.isfinite(p).all() for p in multi_params)


# --- Validation messages ------------------------------------------------------------------------------------------

# (class, kwargs, the name and the offending value the message must show)
INVALID: list[tuple[OptimizerClass, dict[str, Any], str, str]] = [
    *[(cls, {"lr": -0.5}, "lr", "-0.5") for cls in CLASSES],
    *[(cls, {"weight_decay": math.nan}, "weight_decay", "nan") for cls in CLASSES],
    *[(cls, {"maximize": "no"}, "maximize", "'no'") for cls in CLASSES],
    *[(cls, {"foreach": 1}, "foreach", "1") for cls in CLASSES],
    *[(cls, {"betas": (0.9, 1.5)}, "betas[1]", "1.5") for cls in (RAdam, Adamax)],
    *[(cls, {"betas": (0.9,)}, "betas", "(0.9,)") for cls in (RAdam, Adamax)],
    *[(cls, {"eps": -1e-8}, "eps", "-1e-08") for cls in (RAdam, Adamax)],
    (RAdam, {"decoupled_weight_decay": None}, "decoupled_weight_decay", "None"),
    (Adafactor, {"beta2_decay": 0.8}, "beta2_decay", "0.8"),
    (Adafactor, {"eps": 1e-30}, "eps", "1e-30"),
    (Adafactor, {"eps": (-1e-30, 1e-3)}, "eps[0]", "-1e-30"),
    (Adafactor, {"eps": (None, math.inf)}, "eps[1]", "inf"),
    (Adafactor, {"d": 0.99}, "d", "0.99"),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "name", "value"),
    INVALID,
    ids=[f"{c.__name__}-{next(iter(k))}={v}" for c, k, _, v in INVALID],
)
def test_invalid_hyperparameter_message_names_it_and_its_value(
    cls: Callable[..., torch.optim.Optimizer], kwargs: dict[str, Any], name: str, value: str
) -> None:
    with pytest.raises(ValueError, match=rf"^Invalid {re.escape(name)} value: {re.escape(value)} \(expected "):
        cls([torch.zeros(2, requires_grad=True)], **kwargs)


# --- State dicts --------------------------------------------------------------------------------------------------

FIRST, SECOND = 4, 4  # RAdam switches to its adaptive step at step 6, during the resumed part

RESUMED: list[tuple[OptimizerClass, dict[str, Any]]] = [
    (RAdam, {}),
    (RAdam, {"weight_decay": 0.1, "decoupled_weight_decay": True}),
    (Adamax, {}),
    (Adamax, {"weight_decay": 0.1, "maximize": True}),
    (Adafactor, {}),
    (Adafactor, {"eps": (1e-30, 1e-3), "weight_decay": 0.1, "d": 2.0}),
]


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    RESUMED,
    ids=[f"{c.__name__}-" + ",".join(f"{k}={v}" for k, v in kw.items()) for c, kw in RESUMED],
)
def test_resume_equals_uninterrupted(
    cls: Callable[..., torch.optim.Optimizer],
    kwargs: dict[str, Any],
    tmp_path: Path,
    problem_factory: Callable[..., Problem],
) -> None:
    sign = -1.0 if kwargs.get("maximize") else 1.0
    problem = problem_factory(torch.float32, sign=sign)
    uninterrupted_problem = problem.clone()
    uninterrupted = cls(uninterrupted_problem.groups({"lr": 0.002}), **kwargs)
    uninterrupted_problem.run(uninterrupted, FIRST + SECOND)

    before = cls(problem.groups({"lr": 0.002}), **kwargs)
    problem.run(before, FIRST)
    torch.save(before.state_dict(), tmp_path / "optimizer.pt")
    resumed_problem = problem.clone()
    after = cls(resumed_problem.groups({"lr": 0.002}))
    after.load_state_dict(torch.load(tmp_path / "optimizer.pt", weights_only=True))
    assert after.param_groups[0] | {"params": None} == before.param_groups[0] | {"params": None}
    resumed_problem.run(after, SECOND, start=FIRST)

    _assert_same_state(after, resumed_problem.params, uninterrupted, uninterrupted_problem.params)
    for state in after.state.values():
        assert state["step"].dtype == torch.float32 and state["step"].shape == () and state["step"].device.type == "cpu"
    assert after.state[resumed_problem.params[0]]["step"].item() == FIRST + SECOND


@pytest.mark.parametrize("direction", ["ours-to-torch", "torch-to-ours"])
@pytest.mark.parametrize("cls", CLASSES)
def test_state_dict_interchangeable_with_torch(
    cls: OptimizerClass, direction: str, tmp_path: Path, problem_factory: Callable[..., Problem]
) -> None:
    """torch's layout and key names, so either library resumes the other's run, to the last bit."""

    def ours(problem: Problem) -> torch.optim.Optimizer:
        make: Callable[..., torch.optim.Optimizer] = cls
        return make(problem.groups({"lr": 0.002}), weight_decay=0.01)

    def reference(problem: Problem) -> torch.optim.Optimizer:
        make: Callable[..., torch.optim.Optimizer] = REFERENCE[cls]
        return make(problem.groups({"lr": 0.002}), weight_decay=0.01, foreach=False)

    first, second = (ours, reference) if direction == "ours-to-torch" else (reference, ours)
    problem = problem_factory(torch.float32)
    check_problem = problem.clone()
    uninterrupted = second(check_problem)
    check_problem.run(uninterrupted, FIRST + SECOND)
    before = first(problem)
    problem.run(before, FIRST)
    torch.save(before.state_dict(), tmp_path / "optimizer.pt")
    resumed_problem = problem.clone()
    after = second(resumed_problem)
    after.load_state_dict(torch.load(tmp_path / "optimizer.pt", weights_only=True))
    resumed_problem.run(after, SECOND, start=FIRST)
    _assert_same_state(after, resumed_problem.params, uninterrupted, check_problem.params)


# --- Convergence --------------------------------------------------------------------------------------------------

# Adafactor with x as a 1 x 2 matrix, factored (one row and one column average), with test_convergence.py's test
# functions, budgets, ratios and rate; test_convergence.py runs all three on x as a vector through the registry.
CONVERGENCE = [
    pytest.param("quadratic", (1.0, 1.0), 1000, 1e-3, id="adafactor-1x2-quadratic"),
    pytest.param("rosenbrock", (-1.5, 2.0), 2000, 0.05, id="adafactor-1x2-rosenbrock"),
]


@pytest.mark.parametrize(("function", "start", "steps", "ratio"), CONVERGENCE)
def test_factored_adafactor_drives_loss_down(
    function: str,
    start: tuple[float, float],
    steps: int,
    ratio: float,
    objectives: Mapping[str, Callable[[Tensor], Tensor]],
) -> None:
    objective = objectives[function]
    x = torch.tensor(start, dtype=torch.float64).reshape(1, 2).requires_grad_()
    optimizer = Adafactor([x], lr=0.05)
    initial = objective(x).item()
    for _ in range(steps):
        _step(optimizer, lambda: objective(x))
    final = objective(x).item()
    assert "row_var" in optimizer.state[x] and "col_var" in optimizer.state[x]
    assert final < ratio * initial, f"{initial:.3g} -> {final:.3g} after {steps} steps"


# --- The numbers in the Conventions notes -------------------------------------------------------------------------


def test_radam_switch_and_rectification_numbers() -> None:
    assert sma_length(0.999, 1) == pytest.approx(1.0)
    assert sma_length(0.999, 5) == pytest.approx(4.996, abs=5e-4)
    assert sma_length(0.999, 6) == pytest.approx(5.994, abs=5e-4)
    assert rectification(0.999, sma_length(0.999, 6)) == pytest.approx(0.0258, abs=5e-5)
    assert rectification(0.999, sma_length(0.999, 5)) == pytest.approx(0.0173, abs=5e-5)  # the paper's rho > 4
    eps_weight = 1 / (1 - 0.999**6) ** 0.5  # eps added before bias correction, at step 6, against Adam's
    assert eps_weight == pytest.approx(12.9, abs=0.05)
    for beta2 in (0.9, 0.99, 0.999, 0.9999):
        first = next(t for t in range(1, 100) if sma_length(beta2, t) > 5)
        assert first == 6, beta2
    for beta2 in (0.5, 0.6, 2 / 3):
        assert sma_length(beta2, 10**6) <= 5 + 1e-9, beta2  # rho_inf = 2/(1 - beta2) - 1 <= 5: never adapts


def test_radam_takes_momentum_steps_until_step_6() -> None:
    """Steps 1 to 5 are lr times the bias-corrected momentum, unnormalised (a gradient of 100 moves a weight by
    0.1 at lr=1e-3); step 6 is the rectified adaptive step, about r_6 = 0.026 times Adam's size."""
    weight = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = RAdam([weight], lr=1e-3)
    moves = []
    for _ in range(6):
        before = weight.detach().clone()
        _step(optimizer, partial(_linear, weight, 100.0))
        moves.append((before - weight.detach()).item())
    assert moves[:5] == pytest.approx([0.1] * 5, rel=1e-12)
    assert moves[5] == pytest.approx(1e-3 * rectification(0.999, sma_length(0.999, 6)), rel=1e-6)


def test_radam_first_step_on_rosenbrock_is_lr_times_the_gradient(
    objectives: Mapping[str, Callable[[Tensor], Tensor]],
) -> None:
    """Why RAdam's Rosenbrock lr in test_convergence.py is 5 times Adam's smaller: the first step is lr * 155 along
    x0 (at lr=0.02, 3.1: the run then diverges)."""
    x = torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    optimizer = RAdam([x], lr=0.02)
    _step(optimizer, lambda: objectives["rosenbrock"](x))
    torch.testing.assert_close(x.detach(), torch.tensor([-1.5 + 0.02 * 155, 2.0 + 0.02 * 50], dtype=torch.float64))


def _keras_adamax(gradients: list[float], lr: float, beta1: float, beta2: float, eps: float) -> float:
    """tf.keras' Adamax on one coordinate from 0: ``u = max(beta2 u, |g|)``, ``w -= lr m / ((1 - beta1^t) (u + eps))``
    (the update rule Keras documents)."""
    weight = m = u = 0.0
    for t, g in enumerate(gradients, start=1):
        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, abs(g))
        weight -= lr * m / ((1 - beta1**t) * (u + eps))
    return weight


def test_adamax_eps_placement_numbers() -> None:
    """With the same eps torch's and Keras' placements agree at step 1; after |g| = 1e-6 and 1000 zero gradients
    torch's denominator is 3.714e-7 where Keras' is 3.777e-7."""
    for g in (1e-9, 1e-7, 1.0):
        weight = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        _step(Adamax([weight], lr=1e-3), partial(_linear, weight, g))
        assert weight.item() == pytest.approx(_keras_adamax([g], 1e-3, 0.9, 0.999, 1e-8), rel=1e-12)
        assert weight.item() == pytest.approx(-1e-3 * g / (g + 1e-8), rel=1e-12)
    weight = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = Adamax([weight])
    for g in [1e-6] + [0.0] * 1000:
        _step(optimizer, partial(_linear, weight, g))
    torch_denominator = optimizer.state[weight]["exp_inf"].item()
    keras_denominator = 0.999**1000 * 1e-6 + 1e-8
    assert torch_denominator == pytest.approx(0.999**1000 * (1e-6 + 1e-8), rel=1e-12)
    assert torch_denominator == pytest.approx(3.714e-7, abs=5e-11)
    assert keras_denominator == pytest.approx(3.777e-7, abs=5e-11)
    assert keras_denominator / torch_denominator - 1 == pytest.approx(0.017, abs=5e-4)


def test_adamax_default_first_steps_against_keras_defaults() -> None:
    """torch's defaults (lr=2e-3, eps=1e-8) against Keras' (1e-3, 1e-7) at step 1 for |g| = 1e-7 and |g| = 1."""
    for g, torch_move, keras_move in ((1e-7, 1.82e-3, 5e-4), (1.0, 2e-3, 1e-3)):
        weight = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        _step(Adamax([weight]), partial(_linear, weight, g))
        assert -weight.item() == pytest.approx(torch_move, rel=2e-3)
        assert -_keras_adamax([g], 1e-3, 0.9, 0.999, 1e-7) == pytest.approx(keras_move, rel=2e-3)


def test_adafactor_lr_is_a_relative_step() -> None:
    """At step 1 the update is sign(g) (its RMS 1, unclipped), so a tensor moves by lr * RMS(theta) per coordinate,
    and a tensor at zero by eps2 * lr; rho_t = lr until t = 1/lr^2, then 1/sqrt(t)."""
    scaled = torch.full((4,), 3.0, dtype=torch.float64, requires_grad=True)
    zero = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    signs = torch.tensor([1.0, -1.0, 2.0, -0.5], dtype=torch.float64)
    _step(Adafactor([scaled, zero]), lambda: (signs * scaled).sum() + (signs * zero).sum())
    torch.testing.assert_close(scaled.detach(), 3.0 - 0.01 * 3.0 * signs.sign())
    torch.testing.assert_close(zero.detach(), -1e-3 * 0.01 * signs.sign())
    assert step_size(2.0, 4, lr=0.01, eps2=1e-3, step=10_000) == pytest.approx(0.01)
    assert step_size(2.0, 4, lr=0.01, eps2=1e-3, step=40_000) == pytest.approx(0.005)
    assert step_size(2.0, 4, lr=0.5, eps2=1e-3, step=40_000) == pytest.approx(0.005)  # lr no longer matters
    assert clip_divisor(4.0, 4, 1.0) == 2.0 and clip_divisor(4.0, 4, 2.0) == 1.0


def test_adafactor_eps1_damps_gradients_below_it() -> None:
    """float32, first step: |g| = 1e-10 gives U = 1e-10 / 1.19e-7 = 8.4e-4 (the paper's eps1 = 1e-30 added to g^2
    would give 1), so that coordinate moves 8.4e-4 times as far as one with |g| = 1."""
    weight = torch.ones(2, dtype=torch.float32, requires_grad=True)
    grads = torch.tensor([1.0, 1e-10], dtype=torch.float32)
    _step(Adafactor([weight]), partial(_linear, weight, grads))
    moves = 1.0 - weight.detach()
    assert torch.finfo(torch.float32).eps == pytest.approx(1.19e-7, abs=5e-10)
    assert (moves[1] / moves[0]).item() == pytest.approx(8.4e-4, abs=5e-6)
    paper_update = 1e-10 / math.sqrt(1e-20 + 1e-30)
    assert paper_update == pytest.approx(1.0, rel=1e-9)
