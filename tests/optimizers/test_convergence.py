"""Each optimizer drives an ill-conditioned quadratic and the Rosenbrock function down."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch
from torch import Tensor

from optimizers import OPTIMIZER_NAMES
from optimizers._base import ScratchOptimizer
from optimizers.train_eval import to_eval

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
    # RAdam's Rosenbrock lr is 5 times Adam's smaller: its first five steps are plain momentum on a gradient of 155
    # (test_radam_first_step_on_rosenbrock_is_lr_times_the_gradient)
    "radam": (0.05, 0.01),
    "adamax": (0.05, 0.05),
    "adafactor": (0.05, 0.05),
    "lion": (0.01, 3e-3),
    "muon": (0.01, 3e-3),
    "schedulefree_adamw": (0.05, 0.05),
    "prodigy": (1.0, 1.0),  # a multiplier of the estimated step size, 1.0 by design
}
# muon: x is a 1 x 2 matrix, so the hybrid gives it to its Muon side (normalised momentum descent; a vector would go to
# AdamW), without torch's default weight_decay=0.1, which would pull x off the minimum the runs must reach
SHAPES: Mapping[str, tuple[int, ...]] = {"muon": (1, 2)}
OVERRIDES: Mapping[str, Mapping[str, Any]] = {"muon": {"weight_decay": 0.0}}
PROBLEMS = [
    pytest.param("quadratic", (1.0, 1.0), 1000, 1e-3, 0, id="quadratic"),
    pytest.param("rosenbrock", (-1.5, 2.0), 2000, 0.05, 1, id="rosenbrock"),
]


def test_every_optimizer_has_learning_rates() -> None:
    assert set(LEARNING_RATES) == set(OPTIMIZER_NAMES)


@pytest.mark.parametrize(("function", "start", "steps", "ratio", "which_lr"), PROBLEMS)
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_drives_loss_down(
    name: str,
    function: str,
    start: tuple[float, float],
    steps: int,
    ratio: float,
    which_lr: int,
    objectives: Mapping[str, Callable[[Tensor], Tensor]],
    ready_optimizer: Callable[..., torch.optim.Optimizer],
) -> None:
    objective = objectives[function]
    x = torch.tensor(start, dtype=torch.float64).reshape(SHAPES.get(name, (2,))).requires_grad_()
    optimizer = ready_optimizer(name, [x], lr=LEARNING_RATES[name][which_lr], **OVERRIDES.get(name, {}))
    assert isinstance(optimizer, ScratchOptimizer)
    initial = objective(x).item()

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = objective(x)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    for _ in range(steps):
        optimizer.step(closure)
    to_eval([optimizer])  # schedulefree_adamw's result is its average x, where eval mode puts the weights
    final = objective(x).item()
    assert final < ratio * initial, f"{name}: {initial:.3g} -> {final:.3g} after {steps} steps"
