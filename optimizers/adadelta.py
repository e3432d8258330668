"""Adadelta: steps whose units match the parameters', from two moving averages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import Tensor

from ._base import ScratchOptimizer, check_flag, check_number, read_group
from ._primitives import (
    Tensors,
    count_step,
    count_steps,
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

__all__ = ["Adadelta", "AdadeltaHyperparameters", "adadelta", "adadelta_foreach"]


class AdadeltaHyperparameters(TypedDict):
    """The keywords of :func:`adadelta` and :func:`adadelta_foreach` that a param group holds, read once per step."""

    lr: float
    rho: float
    eps: float
    weight_decay: float
    maximize: bool


class Adadelta(ScratchOptimizer[AdadeltaHyperparameters]):
    r"""Adadelta: the step is the gradient scaled by RMS(past updates) / RMS(gradients).

    With learning rate :math:`\gamma` (``lr``), decay :math:`\rho` (``rho``), :math:`\epsilon`
    (``eps``) and weight decay :math:`\lambda`, each step is

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1} \\
        v_t &\leftarrow \rho v_{t-1} + (1 - \rho) g_t^2 \\
        \Delta_t &\leftarrow \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
        u_t &\leftarrow \rho u_{t-1} + (1 - \rho) \Delta_t^2 \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma \Delta_t

    where :math:`v` is ``square_avg`` and :math:`u` is ``acc_delta`` in the state.

    Paper: Zeiler, "ADADELTA: An Adaptive Learning Rate Method" (2012), which has no learning rate
    (:math:`\gamma = 1`).

    Conventions:
        * Both square roots hold :math:`\epsilon` inside, in the paper, torch and tf.keras alike.
        * The learning rate is where libraries part: torch keeps the paper's :math:`\gamma = 1`
          (``lr=1.0, rho=0.9, eps=1e-6``); tf.keras 2.x defaults to ``learning_rate=1e-3, rho=0.95,
          epsilon=1e-7``, a thousand times smaller, so Keras-default Adadelta barely moves. Search
          its learning rate around 1.

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0` scaling the unit-corrected step.
        rho: decay :math:`\rho \in [0, 1]` of both moving averages.
        eps: :math:`\epsilon \ge 0` inside both square roots.
        weight_decay: L2 penalty :math:`\lambda \ge 0`, added to the gradient.
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_number("rho", rho, high=1.0)
        check_number("eps", eps)
        check_number("weight_decay", weight_decay)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _hyperparameters(self, group: dict[str, Any]) -> AdadeltaHyperparameters:
        return read_group(group, AdadeltaHyperparameters)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"step": scalar_state(), "square_avg": zeros_like(param), "acc_delta": zeros_like(param)}

    def _update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: AdadeltaHyperparameters
    ) -> None:
        count_step(state["step"])
        adadelta(param, grad, state["square_avg"], state["acc_delta"], **hyperparameters)

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: AdadeltaHyperparameters,
    ) -> None:
        count_steps([state["step"] for state in states])
        adadelta_foreach(
            params,
            grads,
            [state["square_avg"] for state in states],
            [state["acc_delta"] for state in states],
            **hyperparameters,
        )


def adadelta(
    param: Tensor,
    grad: Tensor,
    square_avg: Tensor,
    acc_delta: Tensor,
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One Adadelta step on ``param`` in place, updating both moving averages."""
    grad = l2_penalty(signed(grad, maximize), param, weight_decay)
    ema_square_(square_avg, grad, rho)
    delta = acc_delta.add(eps).sqrt_().div_(square_avg.add(eps).sqrt_()).mul_(grad)
    ema_square_(acc_delta, delta, rho)
    param.add_(delta, alpha=-lr)


def adadelta_foreach(
    params: Tensors,
    grads: Tensors,
    square_avgs: Tensors,
    acc_deltas: Tensors,
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """:func:`adadelta` on lists of tensors (one device and dtype)."""
    grads = l2_penalty_foreach(signed_foreach(grads, maximize), params, weight_decay)
    ema_square_foreach_(square_avgs, grads, rho)
    deltas = torch._foreach_add(acc_deltas, eps)
    torch._foreach_sqrt_(deltas)
    rms_grads = torch._foreach_add(square_avgs, eps)
    torch._foreach_sqrt_(rms_grads)
    torch._foreach_div_(deltas, rms_grads)
    torch._foreach_mul_(deltas, grads)
    ema_square_foreach_(acc_deltas, deltas, rho)
    torch._foreach_add_(params, deltas, alpha=-lr)
