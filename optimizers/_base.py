"""The step loop and the hyperparameter checks shared by every optimizer in this package.

An optimizer here subclasses :class:`ScratchOptimizer` and writes two small methods:

* ``_init_state(param, group)``: the per-parameter state, created lazily on the parameter's first step;
* ``_update(param, grad, state, group)``: one step for one parameter, handed to a module-level
  function that does the arithmetic.

Everything else (running the closure with gradients enabled, skipping parameters without a gradient,
refusing sparse gradients and complex parameters) lives here once.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

__all__ = ["Closure", "ScratchOptimizer", "check_betas", "check_flag", "check_number"]

Closure = Callable[[], Any]
"""Re-evaluates the model and returns the loss; Lightning puts forward and backward in here."""


class ScratchOptimizer(torch.optim.Optimizer):
    """Base class: closure handling and the loop over parameters that have a gradient.

    Subclasses validate their hyperparameters, pack them into ``defaults`` and call
    ``super().__init__(params, defaults)`` (``torch.optim.Optimizer``'s). Hyperparameters then live in
    ``self.param_groups`` only (never on ``self``), so param groups with different values and
    learning-rate schedulers work as with ``torch.optim``.
    """

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> Any:
        """Perform one optimization step and return the closure's loss (``None`` without a closure).

        Args:
            closure: re-evaluates the model and returns the loss. It runs with gradients enabled,
                before any parameter is updated, exactly once.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            with_grad = [param for param in group["params"] if param.grad is not None]
            for param in with_grad:  # refuse before touching anything, as torch does
                self._check_supported(param, param.grad)
            for param in with_grad:
                state = self.state[param]
                if len(state) == 0:
                    state.update(self._init_state(param, group))
                self._update(param, param.grad, state, group)
        return loss

    def _check_supported(self, param: Tensor, grad: Tensor) -> None:
        name = type(self).__name__
        if grad.is_sparse:
            raise RuntimeError(f"{name} does not support sparse gradients")
        if torch.is_complex(param):
            raise RuntimeError(f"{name} does not support complex parameters")

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        """The state of ``param`` before its first step (torch's key names)."""
        raise NotImplementedError

    def _update(self, param: Tensor, grad: Tensor, state: dict[str, Any], group: dict[str, Any]) -> None:
        """Apply one step to ``param`` in place, updating ``state`` in place."""
        raise NotImplementedError


def check_number(
    name: str, value: object, *, low: float = 0.0, high: float = math.inf, high_open: bool = False
) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite real in ``[low, high]``.

    With ``high_open`` the interval is ``[low, high)``. Booleans, strings, tensors and NaN are refused.
    """
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
        and low <= float(value)
        and (float(value) < high if high_open else float(value) <= high)
    )
    if not ok:
        interval = f"[{low:g}, {high:g}{')' if high_open or math.isinf(high) else ']'}"
        raise ValueError(f"Invalid {name} value: {value!r} (expected a finite number in {interval})")


def check_flag(name: str, value: object) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a ``bool``."""
    if not isinstance(value, bool):
        raise ValueError(f"Invalid {name} value: {value!r} (expected True or False)")


def check_betas(betas: object) -> None:
    """Raise ``ValueError`` unless ``betas`` is a pair of numbers, each in ``[0, 1)``."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas value: {betas!r} (expected a pair (beta1, beta2))")
    for index, beta in enumerate(betas):
        check_number(f"betas[{index}]", beta, high=1.0, high_open=True)
