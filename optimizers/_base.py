"""The step loop and the hyperparameter checks shared by every optimizer in this package.

An optimizer here subclasses :class:`ScratchOptimizer` and writes four small methods:

* ``_hyperparameters(group)``: the group's values that its update function takes, read once per step
  into a ``TypedDict`` (usually ``read_group(group, AdamHyperparameters)``);
* ``_init_state(param, group)``: the per-parameter state, created lazily on the parameter's first step;
* ``_update(param, grad, state, hyperparameters)``: one step for one parameter, handed to a module-level
  function that does the arithmetic one tensor at a time (the readable reference), as
  ``adam(param, grad, ..., **hyperparameters)``;
* ``_update_group(params, grads, states, hyperparameters)``: the same step for every parameter of a group
  that shares a device and dtype, handed to that function's multi-tensor twin (``torch._foreach_*`` ops)
  with the same mapping.

Everything else (running the closure with gradients enabled, skipping parameters without a gradient,
refusing sparse gradients and complex parameters, choosing between the two paths with the group's
``foreach`` flag) lives here once, and so do the ``Args`` lines every optimizer shares (``params``,
``maximize``, ``foreach``): a class docstring names them with torch's placeholders (``{_params_doc}``, ...)
and :class:`ScratchOptimizer` fills them in. An optimizer whose step is not one pass over each group in turn
(Prodigy's step size is a reduction over every group) overrides ``step`` and builds it from the same pieces:
:func:`evaluate` for the closure and :meth:`ScratchOptimizer._gather` for each group's parameters.
"""

from __future__ import annotations

import math
import numbers
import re
import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar, cast

import torch
from torch import Tensor

__all__ = [
    "Closure",
    "ScratchOptimizer",
    "by_device_and_dtype",
    "check_betas",
    "check_flag",
    "check_integer",
    "check_number",
    "evaluate",
    "read_group",
    "shared_args_doc",
    "use_foreach",
]

Closure = Callable[[], Any]
"""Re-evaluates the model and returns the loss; Lightning puts forward and backward in here."""

H = TypeVar("H", bound=Mapping[str, object])
"""An optimizer's hyperparameters as its update function takes them: a ``TypedDict`` of keyword arguments."""

# The Args entries every optimizer shares, as torch/optim/optimizer.py keeps them (``_foreach_doc``, ...).
# A class docstring puts the placeholder alone on a line of its Args section; continuation lines here are
# indented relative to the entry's first line.
_params_doc = "params: parameters or param groups to optimize."
_maximize_doc = "maximize: ascend the objective instead of descending it."
_foreach_doc = """foreach: update a group's tensors together with ``torch._foreach_*`` ops (``True``) or one at a
    time (``False``); ``None`` picks the former when it can (see :func:`~optimizers._base.use_foreach`)."""
_SHARED_ARGS_DOCS = {"_params_doc": _params_doc, "_maximize_doc": _maximize_doc, "_foreach_doc": _foreach_doc}
_PLACEHOLDER = re.compile(r"^([ \t]*)\{(_\w+_doc)\}[ \t]*$", re.MULTILINE)


def shared_args_doc(doc: str) -> str:
    """``doc`` with each line that holds only a placeholder (``{_foreach_doc}``, ...) replaced by that shared
    Args entry, at the placeholder's indentation; an unknown placeholder raises ``KeyError``. Other braces
    (LaTeX's) are left alone."""
    return _PLACEHOLDER.sub(lambda match: textwrap.indent(_SHARED_ARGS_DOCS[match[2]], match[1]), doc)


def read_group(group: Mapping[str, Any], hyperparameters: type[H], **derived: object) -> H:
    """The ``TypedDict`` ``hyperparameters`` filled from ``group``: each key read under its own name, except
    those ``derived`` from other values (``beta1=group["betas"][0]``, ...)."""
    keys = hyperparameters.__annotations__
    return cast(H, {key: derived[key] if key in derived else group[key] for key in keys})


class ScratchOptimizer(torch.optim.Optimizer, Generic[H]):
    """Base class: closure handling, and the loop over parameters that have a gradient, one at a time or
    all of a group's at once.

    Subclasses validate their hyperparameters, pack them into ``defaults`` and call
    ``super().__init__(params, defaults)`` (``torch.optim.Optimizer``'s). Hyperparameters then live in
    ``self.param_groups`` only (never on ``self``), so param groups with different values and
    learning-rate schedulers work as with ``torch.optim``. That includes ``foreach``, each group's
    choice of path (see :func:`use_foreach`). Each step reads a group's values once
    (:meth:`_hyperparameters`, type ``H``) and hands the same mapping to either path.

    A subclass's docstring may hold the shared Args entries as placeholders (``{_params_doc}``,
    ``{_maximize_doc}``, ``{_foreach_doc}``, each alone on its line); they are filled in when the class is
    created (:func:`shared_args_doc`).
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__doc__:
            cls.__doc__ = shared_args_doc(cls.__doc__)

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
        loss = evaluate(closure)
        for group in self.param_groups:
            with_grad, grads = self._gather(group)
            hyperparameters = self._hyperparameters(group)
            if use_foreach(group["foreach"], [*with_grad, *grads]):
                for params, param_grads in by_device_and_dtype(with_grad, grads):
                    self._update_group(params, param_grads, [self.state[p] for p in params], hyperparameters)
            else:
                for param, grad in zip(with_grad, grads, strict=True):
                    self._update(param, grad, self.state[param], hyperparameters)
        return loss

    def _gather(self, group: dict[str, Any]) -> tuple[list[Tensor], list[Tensor]]:
        """The group's parameters that have a gradient, and those gradients: all checked first (sparse gradients
        and complex parameters refused before anything is touched, as torch does), then each given its state on
        its first step."""
        with_grad: list[Tensor] = []
        grads: list[Tensor] = []
        for param in group["params"]:
            if param.grad is not None:
                with_grad.append(param)
                grads.append(param.grad)
        for param, grad in zip(with_grad, grads, strict=True):
            self._check_supported(param, grad)
        for param in with_grad:
            state = self.state[param]
            if len(state) == 0:
                state.update(self._init_state(param, group))
        return with_grad, grads

    def _check_supported(self, param: Tensor, grad: Tensor) -> None:
        name = type(self).__name__
        if grad.is_sparse:
            raise RuntimeError(f"{name} does not support sparse gradients")
        if torch.is_complex(param):
            raise RuntimeError(f"{name} does not support complex parameters")

    def _hyperparameters(self, group: dict[str, Any]) -> H:
        """The values of ``group`` that the update function takes as keywords (all but the step count),
        read once per step; usually ``read_group(group, ...)``."""
        raise NotImplementedError

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        """The state of ``param`` before its first step (torch's key names)."""
        raise NotImplementedError

    def _update(self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: H) -> None:
        """Apply one step to ``param`` in place, updating ``state`` in place."""
        raise NotImplementedError

    def _update_group(
        self, params: list[Tensor], grads: list[Tensor], states: list[dict[str, Any]], hyperparameters: H
    ) -> None:
        """:meth:`_update` for all of ``params`` at once (one device, one dtype; ``states[i]`` is ``params[i]``'s)."""
        raise NotImplementedError


def evaluate(closure: Closure | None) -> Any:
    """The closure's loss, computed with gradients enabled (``step`` itself runs under ``torch.no_grad()``);
    ``None`` without a closure."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


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
    name: str,
    value: object,
    *,
    low: float = 0.0,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a finite real in ``[low, high]``.

    With ``low_open`` the interval is ``(low, high]``, with ``high_open`` ``[low, high)``. Booleans, strings,
    tensors and NaN are refused.
    """
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
        and (low < float(value) if low_open else low <= float(value))
        and (float(value) < high if high_open else float(value) <= high)
    )
    if not ok:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open or math.isinf(high) else ']'}"
        raise ValueError(f"Invalid {name} value: {value!r} (expected a finite number in {interval})")


def check_integer(name: str, value: object, *, low: int = 0) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is an integer (not a bool) of at least ``low``."""
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= low):
        raise ValueError(f"Invalid {name} value: {value!r} (expected an integer >= {low})")


def check_flag(name: str, value: object, *, allow_none: bool = False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` is a ``bool`` (or ``None``, with ``allow_none``)."""
    if not (isinstance(value, bool) or (allow_none and value is None)):
        expected = "True, False or None" if allow_none else "True or False"
        raise ValueError(f"Invalid {name} value: {value!r} (expected {expected})")


def check_betas(betas: object, name: str = "betas") -> None:
    """Raise ``ValueError`` unless ``betas`` is a pair of numbers, each in ``[0, 1)``; messages call it ``name``."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid {name} value: {betas!r} (expected a pair (beta1, beta2))")
    for index, beta in enumerate(betas):
        check_number(f"{name}[{index}]", beta, high=1.0, high_open=True)
