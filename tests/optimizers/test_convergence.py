"""Each optimizer drives an ill-conditioned quadratic and the Rosenbrock function down."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from optimizers import OPTIMIZER_NAMES, build_optimizer
from optimizers._base import ScratchOptimizer


def quadratic(x: Tensor) -> Tensor:
    """0.5 * (x0^2 + 10 x1^2): condition number 10, minimum 0 at the origin."""
    return 0.5 * (torch.tensor([1.0, 10.0], dtype=x.dtype) * x * x).sum()


def rosenbrock(x: Tensor) -> Tensor:
    """(1 - x0)^2 + 100 (x1 - x0^2)^2: a curved valley, minimum 0 at (1, 1)."""
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


# learning rates (quadratic, Rosenbrock) chosen per optimizer, the way one would tune them
LEARNING_RATES: dict[str, tuple[float, float]] = {
    "sgd": (0.1, 2e-3),
    "momentum": (0.02, 5e-4),
    "nesterov": (0.02, 5e-4),
    "adagrad": (0.5, 2.0),
    "rmsprop": (3e-3, 3e-3),
    "adadelta": (1.0, 1.0),
    "adam": (0.05, 0.05),
    "adamw": (0.05, 0.05),
    "nadam": (0.05, 0.02),
}
PROBLEMS = [
    pytest.param(quadratic, (1.0, 1.0), 1000, 1e-3, 0, id="quadratic"),
    pytest.param(rosenbrock, (-1.5, 2.0), 2000, 0.05, 1, id="rosenbrock"),
]


def test_every_optimizer_has_learning_rates() -> None:
    assert set(LEARNING_RATES) == set(OPTIMIZER_NAMES)


@pytest.mark.parametrize(("function", "start", "steps", "ratio", "which_lr"), PROBLEMS)
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_drives_loss_down(
    name: str,
    function: Callable[[Tensor], Tensor],
    start: tuple[float, float],
    steps: int,
    ratio: float,
    which_lr: int,
) -> None:
    x = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = build_optimizer(name, [x], lr=LEARNING_RATES[name][which_lr])
    assert isinstance(optimizer, ScratchOptimizer)
    initial = function(x).item()

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = function(x)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    for _ in range(steps):
        optimizer.step(closure)
    final = function(x).item()
    assert final < ratio * initial, f"{name}: {initial:.3g} -> {final:.3g} after {steps} steps"
