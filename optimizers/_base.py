"""The step loop and the hyperparameter checks shared by every optimizer in this package.

An optimizer here subclasses :class:`ScratchOptimizer` and writes three small methods:

* ``_init_state(param, group)``: the per-parameter state, created lazily on the parameter's first step;
* ``_update(param, grad, state, group)``: one step for one parameter, handed to a module-level
  function that does the arithmetic one tensor at a time (the readable reference);
* ``_update_group(params, grads, states, group)``: the same step for every parameter of a group that
  shares a device and dtype, handed to that function's multi-tensor twin (``torch._foreach_*`` ops).

Everything else (running the closure with gradients enabled, skipping parameters without a gradient,
refusing sparse gradients and complex parameters, choosing between the two paths with the group's
``foreach`` flag) lives here once.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "Closure",
    "ScratchOptimizer",
    "by_device_and_dtype",
    "check_betas",
    "check_flag",
    "check_number",
    "use_foreach",
]

Closure = Callable[[], Any]
"""Re-evaluates the model and returns the loss; Lightning puts forward and backward in here."""


class ScratchOptimizer(torch.optim.Optimizer):
    """Base class: closure handling, and the loop over parameters that have a gradient, one at a time or
    all of a group's at once.

    Subclasses validate their hyperparameters, pack them into ``defaults`` and call
    ``super().__init__(params, defaults)`` (``torch.optim.Optimizer``'s). Hyperparameters then live in
    ``self.param_groups`` only (never on ``self``), so param groups with different values and
    learning-rate schedulers work as with ``torch.optim``. That includes ``foreach``, each group's
    choice of path (see :func:`use_foreach`).
    """

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # state dicts saved before the flag existed
            group.setdefault("foreach", None)

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
            grads = [param.grad for param in with_grad]
            for param, grad in zip(with_grad, grads, strict=True):  # refuse before touching anything, as torch does
                self._check_supported(param, grad)
            for param in with_grad:
                state = self.state[param]
                if len(state) == 0:
                    state.update(self._init_state(param, group))
            if use_foreach(group["foreach"], [*with_grad, *grads]):
                for params, param_grads in by_device_and_dtype(with_grad, grads):
                    self._update_group(params, param_grads, [self.state[p] for p in params], group)
            else:
                for param, grad in zip(with_grad, grads, strict=True):
                    self._update(param, grad, self.state[param], group)
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

    def _update_group(
        self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], group: dict[str, Any]
    ) -> None:
        """:meth:`_update` for all of ``params`` at once (one device, one dtype; ``states[i]`` is ``params[i]``'s)."""
        raise NotImplementedError


_FOREACH_DEVICES = ("cpu", "cuda")
_PLAIN_TENSORS = (Tensor, torch.nn.Parameter)  # subclasses (DTensor, ...) may not implement the _foreach_ ops


def use_foreach(foreach: bool | None, tensors: Iterable[Tensor]) -> bool:
    """Whether a group takes the multi-tensor path: ``foreach`` if set, else (``None``) whenever every tensor
    is a plain dense tensor on the CPU or a CUDA device, as ``torch._foreach_*`` ops are made for."""
    if foreach is not None:
        return foreach
    return all(
        type(t) in _PLAIN_TENSORS and t.layout == torch.strided and t.device.type in _FOREACH_DEVICES for t in tensors
    )


def by_device_and_dtype(params: list[Tensor], grads: list[Tensor]) -> list[tuple[list[Tensor], list[Tensor]]]:
    """``params`` and their ``grads`` split into lists that share a device and dtype, as one ``torch._foreach_*``
    call needs (usually a single split: a whole group)."""
    splits: dict[tuple[torch.device, torch.dtype], tuple[list[Tensor], list[Tensor]]] = {}
    for param, grad in zip(params, grads, strict=True):
        split = splits.setdefault((param.device, param.dtype), ([], []))
        split[0].append(param)
        split[1].append(grad)
    return list(splits.values())


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


def check_flag(name: str, value: object, *, allow_none: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a ``bool`` (or ``None``, with ``allow_none``)."""
    if not (isinstance(value, bool) or (allow_none and value is None)):
        expected = "True, False or None" if allow_none else "True or False"
        raise ValueError(f"Invalid {name} value: {value!r} (expected {expected})")


def check_betas(betas: object) -> None:
    """Raise ``ValueError`` unless ``betas`` is a pair of numbers, each in ``[0, 1)``."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas value: {betas!r} (expected a pair (beta1, beta2))")
    for index, beta in enumerate(betas):
        check_number(f"betas[{index}]", beta, high=1.0, high_open=True)
