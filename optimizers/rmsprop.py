"""RMSprop: steps divided by the root of a moving average of squared gradients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import Tensor

from ._base import ScratchOptimizer, check_flag, check_number, read_group
from ._primitives import (
    Tensors,
    count_step,
    count_steps,
    ema_,
    ema_foreach_,
    ema_square_,
    ema_square_foreach_,
    l2_penalty,
    l2_penalty_foreach,
    scalar_state,
    signed,
    signed_foreach,
    zeros_like,
)

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

__all__ = ["RMSprop", "RMSpropHyperparameters", "rmsprop", "rmsprop_foreach"]


class RMSpropHyperparameters(TypedDict):
    """The keywords of :func:`rmsprop` and :func:`rmsprop_foreach` that a param group holds, read once per step."""

    lr: float
    alpha: float
    eps: float
    weight_decay: float
    momentum: float
    centered: bool
    maximize: bool


class RMSprop(ScratchOptimizer[RMSpropHyperparameters]):
    r"""RMSprop, optionally centered and with momentum.

    With learning rate :math:`\gamma` (``lr``), smoothing :math:`\alpha` (``alpha``), :math:`\epsilon`
    (``eps``), weight decay :math:`\lambda` and momentum :math:`\mu`, each step is

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1} \\
        v_t &\leftarrow \alpha v_{t-1} + (1 - \alpha) g_t^2 \\
        \bar g_t &\leftarrow \alpha \bar g_{t-1} + (1 - \alpha) g_t
            \qquad \text{(centered only; then } \tilde v_t = v_t - \bar g_t^2
            \text{, else } \tilde v_t = v_t) \\
        b_t &\leftarrow \mu b_{t-1} + g_t / (\sqrt{\tilde v_t} + \epsilon)
            \qquad (b_0 = 0,\ \text{only when } \mu > 0) \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma b_t
            \quad \text{(or } \theta_{t-1} - \gamma g_t / (\sqrt{\tilde v_t} + \epsilon)
            \text{ when } \mu = 0)

    Source: Hinton, Srivastava & Swersky, "Neural Networks for Machine Learning", lecture 6e (2012);
    centered form: Graves, "Generating Sequences With Recurrent Neural Networks" (2013).

    Conventions:
        * :math:`\epsilon` placement: torch (and this class) add it outside the square root,
          :math:`\sqrt{v} + \epsilon`; TensorFlow / tf.keras 2.x add it inside,
          :math:`\sqrt{v + \epsilon}` — with Keras' ``epsilon=1e-7`` that floor is
          :math:`\sqrt{10^{-7}} \approx 3\cdot10^{-4}`, far larger than torch's :math:`10^{-8}`. So
          ``convention="keras"`` reproduces Keras' defaults, not Keras' exact update.
        * With momentum, TensorFlow puts the learning rate inside the buffer
          (:math:`b \leftarrow \mu b + \gamma g/\sqrt{\cdot}`), torch outside; same while
          :math:`\gamma` is constant.
        * Names and defaults: torch ``alpha=0.99, lr=1e-2, eps=1e-8``; tf.keras calls
          :math:`\alpha` ``rho`` and defaults ``rho=0.9, learning_rate=1e-3, epsilon=1e-7``.
        * ``step`` is counted in the state (as torch does) though the update does not use it.

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0`.
        alpha: smoothing constant :math:`\alpha \in [0, 1]` of the moving averages.
        eps: :math:`\epsilon \ge 0`, added to the denominator.
        weight_decay: L2 penalty :math:`\lambda \ge 0`, added to the gradient.
        momentum: momentum factor :math:`\mu \ge 0`; 0 disables the buffer.
        centered: normalise by the estimated variance instead of the raw second moment.
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_number("alpha", alpha, high=1.0)
        check_number("eps", eps)
        check_number("weight_decay", weight_decay)
        check_number("momentum", momentum)
        check_flag("centered", centered)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        defaults = {
            "lr": lr,
            "alpha": alpha,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "centered": centered,
            "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _hyperparameters(self, group: dict[str, Any]) -> RMSpropHyperparameters:
        return read_group(group, RMSpropHyperparameters)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        state = {"step": scalar_state(), "square_avg": zeros_like(param)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = zeros_like(param)
        return state

    def _update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: RMSpropHyperparameters
    ) -> None:
        count_step(state["step"])
        rmsprop(
            param,
            grad,
            state["square_avg"],
            state.get("grad_avg"),
            state.get("momentum_buffer"),
            **hyperparameters,
        )

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: RMSpropHyperparameters,
    ) -> None:
        count_steps([state["step"] for state in states])
        rmsprop_foreach(
            params,
            grads,
            [state["square_avg"] for state in states],
            [state["grad_avg"] for state in states] if hyperparameters["centered"] else None,
            [state["momentum_buffer"] for state in states] if hyperparameters["momentum"] > 0 else None,
            **hyperparameters,
        )


def rmsprop(
    param: Tensor,
    grad: Tensor,
    square_avg: Tensor,
    grad_avg: Tensor | None,
    momentum_buffer: Tensor | None,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> None:
    """One RMSprop step on ``param`` in place (``grad_avg`` needed when centered, the buffer when μ > 0)."""
    grad = l2_penalty(signed(grad, maximize), param, weight_decay)
    ema_square_(square_avg, grad, alpha)
    if centered:
        assert grad_avg is not None, "centered RMSprop needs its grad_avg state"
        ema_(grad_avg, grad, alpha)
        denom = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_().add_(eps)
    else:
        denom = square_avg.sqrt().add_(eps)
    if momentum > 0:
        assert momentum_buffer is not None, "RMSprop with momentum needs its momentum_buffer state"
        momentum_buffer.mul_(momentum).addcdiv_(grad, denom)
        param.add_(momentum_buffer, alpha=-lr)
    else:
        param.addcdiv_(grad, denom, value=-lr)


def rmsprop_foreach(
    params: Tensors,
    grads: Tensors,
    square_avgs: Tensors,
    grad_avgs: Tensors | None,
    momentum_buffers: Tensors | None,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
    maximize: bool,
) -> None:
    """:func:`rmsprop` on lists of tensors (one device and dtype)."""
    grads = l2_penalty_foreach(signed_foreach(grads, maximize), params, weight_decay)
    ema_square_foreach_(square_avgs, grads, alpha)
    if centered:
        assert grad_avgs is not None, "centered RMSprop needs its grad_avg state"
        ema_foreach_(grad_avgs, grads, alpha)
        denoms = torch._foreach_addcmul(square_avgs, grad_avgs, grad_avgs, value=-1)
        torch._foreach_sqrt_(denoms)
    else:
        denoms = torch._foreach_sqrt(square_avgs)
    torch._foreach_add_(denoms, eps)
    if momentum > 0:
        assert momentum_buffers is not None, "RMSprop with momentum needs its momentum_buffer state"
        torch._foreach_mul_(momentum_buffers, momentum)
        torch._foreach_addcdiv_(momentum_buffers, grads, denoms)
        torch._foreach_add_(params, momentum_buffers, alpha=-lr)
    else:
        torch._foreach_addcdiv_(params, grads, denoms, value=-lr)
