"""Small arithmetic pieces that the optimizers compose, in the spirit of optax's transformations.

Each helper is one equation. The in-place ones (suffix ``_``) mutate their first argument and return
it. They use the same tensor operations as ``torch.optim``'s single-tensor code paths (``lerp_`` for
the moving average of gradients, ``mul_().addcmul_()`` for that of squared gradients), so results
agree with torch to the last bit in practice, not only to a tolerance.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "bias_correction",
    "count_step",
    "decay_weights_",
    "ema_",
    "ema_square_",
    "l2_penalty",
    "scalar_dtype",
    "signed",
    "scalar_state",
    "zeros_like",
]


def signed(grad: Tensor, maximize: bool) -> Tensor:
    """The descent direction's gradient: ``-grad`` when maximizing, else ``grad`` (not copied)."""
    return -grad if maximize else grad


def l2_penalty(grad: Tensor, param: Tensor, weight_decay: float) -> Tensor:
    r"""Coupled (L2) weight decay: :math:`g + \lambda\theta`, adding the gradient of
    :math:`\tfrac{\lambda}{2}\|\theta\|^2`. A new tensor (``grad`` itself when :math:`\lambda = 0`)."""
    return grad.add(param, alpha=weight_decay) if weight_decay != 0 else grad


def decay_weights_(param: Tensor, lr: float, weight_decay: float) -> Tensor:
    r"""Decoupled weight decay (Loshchilov & Hutter): :math:`\theta \leftarrow (1 - \gamma\lambda)\theta`."""
    return param.mul_(1 - lr * weight_decay) if weight_decay != 0 else param


def ema_(average: Tensor, value: Tensor, decay: float) -> Tensor:
    r"""Moving average in place: :math:`m \leftarrow \beta m + (1 - \beta) x`."""
    return average.lerp_(value, 1 - decay)


def ema_square_(average: Tensor, value: Tensor, decay: float) -> Tensor:
    r"""Moving average of the square in place: :math:`v \leftarrow \beta v + (1 - \beta) x^2`."""
    return average.mul_(decay).addcmul_(value, value, value=1 - decay)


def bias_correction(decay: float, step: float) -> float:
    r"""The weight :math:`1 - \beta^t` that a zero-initialised moving average lacks after ``t`` steps."""
    return 1 - decay**step


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


def zeros_like(param: Tensor) -> Tensor:
    """Zero state shaped, typed and laid out like ``param``."""
    return torch.zeros_like(param, memory_format=torch.preserve_format)
