"""Small arithmetic pieces that the optimizers compose, in the spirit of optax's transformations.

Each helper is one equation. The in-place ones (suffix ``_``) mutate their first argument and return
it. They use the same tensor operations as ``torch.optim``'s single-tensor code paths (``lerp_`` for
the moving average of gradients, ``mul_().addcmul_()`` for that of squared gradients), so results
agree with torch to the last bit in practice, not only to a tolerance.

Each helper has a multi-tensor twin (suffix ``_foreach``) that applies the same operations, in the same
order, to lists of tensors through ``torch._foreach_*``: one call per equation for a whole param group
instead of one per tensor. On the CPU those ops loop over the very same per-tensor kernels, so the two
paths agree to the last bit there; on CUDA they launch fused kernels.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "Tensors",
    "bias_correction",
    "count_step",
    "count_steps",
    "decay_weights_",
    "decay_weights_foreach_",
    "ema_",
    "ema_foreach_",
    "ema_square_",
    "ema_square_foreach_",
    "l2_penalty",
    "l2_penalty_foreach",
    "scalar_dtype",
    "signed",
    "signed_foreach",
    "scalar_state",
    "zeros_like",
]

Tensors = list[Tensor] | tuple[Tensor, ...]
"""A list of same-device, same-dtype tensors, as ``torch._foreach_*`` ops take and return them."""


def signed(grad: Tensor, maximize: bool) -> Tensor:
    """The descent direction's gradient: ``-grad`` when maximizing, else ``grad`` (not copied)."""
    return -grad if maximize else grad


def signed_foreach(grads: Tensors, maximize: bool) -> Tensors:
    """:func:`signed` for a list (the list itself when not maximizing)."""
    return torch._foreach_neg(grads) if maximize else grads


def l2_penalty(grad: Tensor, param: Tensor, weight_decay: float) -> Tensor:
    r"""Coupled (L2) weight decay: :math:`g + \lambda\theta`, adding the gradient of
    :math:`\tfrac{\lambda}{2}\|\theta\|^2`. A new tensor (``grad`` itself when :math:`\lambda = 0`)."""
    return grad.add(param, alpha=weight_decay) if weight_decay != 0 else grad


def l2_penalty_foreach(grads: Tensors, params: Tensors, weight_decay: float) -> Tensors:
    r""":func:`l2_penalty` for lists: new tensors (``grads`` itself when :math:`\lambda = 0`)."""
    return torch._foreach_add(grads, params, alpha=weight_decay) if weight_decay != 0 else grads


def decay_weights_(param: Tensor, lr: float, weight_decay: float) -> Tensor:
    r"""Decoupled weight decay (Loshchilov & Hutter): :math:`\theta \leftarrow (1 - \gamma\lambda)\theta`."""
    return param.mul_(1 - lr * weight_decay) if weight_decay != 0 else param


def decay_weights_foreach_(params: Tensors, lr: float, weight_decay: float) -> None:
    """:func:`decay_weights_` for a list, in place."""
    if weight_decay != 0:
        torch._foreach_mul_(params, 1 - lr * weight_decay)


def ema_(average: Tensor, value: Tensor, decay: float) -> Tensor:
    r"""Moving average in place: :math:`m \leftarrow \beta m + (1 - \beta) x`."""
    return average.lerp_(value, 1 - decay)


def ema_foreach_(averages: Tensors, values: Tensors, decay: float) -> None:
    """:func:`ema_` for lists, in place."""
    torch._foreach_lerp_(averages, values, 1 - decay)


def ema_square_(average: Tensor, value: Tensor, decay: float) -> Tensor:
    r"""Moving average of the square in place: :math:`v \leftarrow \beta v + (1 - \beta) x^2`."""
    return average.mul_(decay).addcmul_(value, value, value=1 - decay)


def ema_square_foreach_(averages: Tensors, values: Tensors, decay: float) -> None:
    """:func:`ema_square_` for lists, in place."""
    torch._foreach_mul_(averages, decay)
    torch._foreach_addcmul_(averages, values, values, value=1 - decay)


def bias_correction(decay: float, step: float) -> float:
    r"""The weight :math:`1 - \beta^t` that a zero-initialised moving average lacks after ``t`` steps."""
    return 1 - float(decay**step)


def scalar_dtype() -> torch.dtype:
    """The dtype torch uses for scalar state such as ``step``: float32 unless the default is float64."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def scalar_state(value: float = 0.0) -> Tensor:
    """A fresh scalar state tensor on the CPU, as torch stores ``step`` (and NAdam's ``mu_product``).

    A tensor rather than a Python number, so ``state_dict`` files load with ``weights_only=True`` and
    look the same as ``torch.optim``'s.
    """
    return torch.tensor(value, dtype=scalar_dtype())


def count_step(step: Tensor) -> float:
    """Increment the ``step`` state in place and return the new count ``t`` (1 on the first step)."""
    step += 1
    return step.item()


def count_steps(steps: Tensors) -> list[float]:
    """:func:`count_step` for a list of ``step`` states, one count per tensor (they differ when some
    parameters skipped steps without a gradient). ``step`` lives on the CPU, so reading it is no device sync."""
    torch._foreach_add_(steps, 1)
    return [step.item() for step in steps]


def zeros_like(param: Tensor) -> Tensor:
    """Zero state shaped, typed and laid out like ``param``."""
    return torch.zeros_like(param, memory_format=torch.preserve_format)
