"""Stochastic gradient descent, optionally with heavy-ball or Nesterov momentum."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import Tensor

from ._base import ScratchOptimizer, check_flag, check_number, read_group
from ._primitives import Tensors, l2_penalty, l2_penalty_foreach, signed, signed_foreach

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

__all__ = ["SGD", "SGDHyperparameters", "sgd", "sgd_foreach"]


class SGDHyperparameters(TypedDict):
    """The keywords of :func:`sgd` and :func:`sgd_foreach` that a param group holds, read once per step."""

    lr: float
    momentum: float
    dampening: float
    weight_decay: float
    nesterov: bool
    maximize: bool


class SGD(ScratchOptimizer[SGDHyperparameters]):
    r"""Stochastic gradient descent with optional momentum (Polyak's heavy ball or Nesterov's).

    With learning rate :math:`\gamma` (``lr``), momentum :math:`\mu` (``momentum``), dampening
    :math:`\tau` (``dampening``) and weight decay :math:`\lambda` (``weight_decay``), each step is

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1}
            \qquad (- \text{ when } \textit{maximize}) \\
        b_t &\leftarrow \mu b_{t-1} + (1 - \tau) g_t \qquad (b_1 = g_1,\ \text{only when } \mu \ne 0) \\
        d_t &\leftarrow g_t + \mu b_t \ \text{(nesterov)}, \quad b_t \ \text{(momentum)},
            \quad g_t \ (\mu = 0) \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma d_t

    Papers: Robbins & Monro (1951); Polyak (1964), heavy-ball momentum; Sutskever, Martens, Dahl &
    Hinton, "On the importance of initialization and momentum in deep learning" (ICML 2013), the
    Nesterov form used in deep learning.

    Conventions:
        * Momentum formulation. This class, like ``torch.optim.SGD``, accumulates gradients,
          :math:`b \leftarrow \mu b + g;\ \theta \leftarrow \theta - \gamma b`. Sutskever et al. and
          tf.keras accumulate steps, :math:`v \leftarrow \mu v - \gamma g;\ \theta \leftarrow \theta + v`
          (Keras' Nesterov: :math:`\theta \leftarrow \theta + \mu v - \gamma g`). The two agree while
          :math:`\gamma` is constant (:math:`v = -\gamma b`); under a learning-rate schedule torch's
          form applies the *new* rate to the whole buffer, Keras' keeps old steps at their old rate.
        * The buffer starts at the first gradient, undampened (:math:`b_1 = g_1`, torch's choice; a
          zero-initialised buffer would give :math:`(1-\tau) g_1`). With :math:`\tau = 0` this is
          the same as Keras' zero-initialised velocity. Keras has no ``dampening``.
        * Defaults: torch ``lr=1e-3``, tf.keras ``learning_rate=0.01``; both ``momentum=0``.
        * Sparse gradients are refused; ``torch.optim.SGD`` accepts them.

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0`.
        momentum: momentum factor :math:`\mu \ge 0`; 0 disables the buffer.
        dampening: :math:`\tau \in [0, 1]`, scales the gradient's entry into the buffer by :math:`1-\tau`.
        weight_decay: L2 penalty :math:`\lambda \ge 0`, added to the gradient.
        nesterov: Nesterov momentum; needs ``momentum > 0`` and ``dampening == 0``.
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_number("momentum", momentum)
        check_number("dampening", dampening, high=1.0)
        check_number("weight_decay", weight_decay)
        check_flag("nesterov", nesterov)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"Invalid nesterov value: Nesterov momentum requires momentum > 0 and dampening == 0 "
                f"(got momentum={momentum!r}, dampening={dampening!r})"
            )
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _hyperparameters(self, group: dict[str, Any]) -> SGDHyperparameters:
        return read_group(group, SGDHyperparameters)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {}  # the momentum buffer is born from the first gradient, in ``sgd``

    def _update(self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: SGDHyperparameters) -> None:
        buffer = sgd(param, grad, state.get("momentum_buffer"), **hyperparameters)
        if buffer is not None:
            state["momentum_buffer"] = buffer

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: SGDHyperparameters,
    ) -> None:
        buffers = sgd_foreach(params, grads, [state.get("momentum_buffer") for state in states], **hyperparameters)
        for state, buffer in zip(states, buffers, strict=True):
            if buffer is not None:
                state["momentum_buffer"] = buffer


def sgd(
    param: Tensor,
    grad: Tensor,
    momentum_buffer: Tensor | None,
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> Tensor | None:
    """One SGD step on ``param`` in place; returns the momentum buffer (new on the first step, or None)."""
    grad = l2_penalty(signed(grad, maximize), param, weight_decay)
    if momentum != 0:
        if momentum_buffer is None:
            momentum_buffer = grad.detach().clone()
        else:
            momentum_buffer.mul_(momentum).add_(grad, alpha=1 - dampening)
        grad = grad.add(momentum_buffer, alpha=momentum) if nesterov else momentum_buffer
    param.add_(grad, alpha=-lr)
    return momentum_buffer


def sgd_foreach(
    params: Tensors,
    grads: Tensors,
    momentum_buffers: list[Tensor | None],
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> list[Tensor | None]:
    """:func:`sgd` on lists of tensors (one device and dtype); returns the momentum buffers (None without momentum)."""
    grads = l2_penalty_foreach(signed_foreach(grads, maximize), params, weight_decay)
    if momentum != 0:  # running buffers decay and take the gradient; a new one is born from it, undampened
        running = [buffer for buffer in momentum_buffers if buffer is not None]
        if running:
            torch._foreach_mul_(running, momentum)
            running_grads = [grad for grad, buffer in zip(grads, momentum_buffers, strict=True) if buffer is not None]
            torch._foreach_add_(running, running_grads, alpha=1 - dampening)
        buffers = [
            grad.detach().clone() if buffer is None else buffer
            for grad, buffer in zip(grads, momentum_buffers, strict=True)
        ]
        grads = torch._foreach_add(grads, buffers, alpha=momentum) if nesterov else buffers
        momentum_buffers = list(buffers)
    torch._foreach_add_(params, grads, alpha=-lr)
    return momentum_buffers
