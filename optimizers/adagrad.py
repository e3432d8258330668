"""Adagrad: per-coordinate steps scaled by the root of the accumulated squared gradients."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import Tensor

from ._base import ScratchOptimizer, check_flag, check_number, read_group
from ._primitives import (
    Tensors,
    count_step,
    count_steps,
    l2_penalty,
    l2_penalty_foreach,
    scalar_state,
    signed,
    signed_foreach,
)

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

__all__ = ["Adagrad", "AdagradHyperparameters", "adagrad", "adagrad_foreach"]


class AdagradHyperparameters(TypedDict):
    """The keywords of :func:`adagrad` and :func:`adagrad_foreach` that a param group holds, read once per step
    (``initial_accumulator_value`` only shapes the state)."""

    lr: float
    lr_decay: float
    weight_decay: float
    eps: float
    maximize: bool


class Adagrad(ScratchOptimizer[AdagradHyperparameters]):
    r"""Adagrad: each coordinate's step shrinks with the sum of its squared gradients so far.

    With learning rate :math:`\gamma` (``lr``), learning-rate decay :math:`\eta` (``lr_decay``),
    weight decay :math:`\lambda`, initial accumulator :math:`s_0` (``initial_accumulator_value``)
    and :math:`\epsilon` (``eps``), step :math:`t = 1, 2, \dots` is

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1} \\
        \tilde\gamma_t &\leftarrow \gamma / (1 + (t - 1)\eta) \\
        s_t &\leftarrow s_{t-1} + g_t^2 \\
        \theta_t &\leftarrow \theta_{t-1} - \tilde\gamma_t\, g_t / (\sqrt{s_t} + \epsilon)

    Paper: Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and Stochastic
    Optimization", JMLR 12 (2011).

    Conventions:
        * Starting accumulator: torch :math:`s_0 = 0`, tf.keras 0.1. A positive start caps the first
          steps at about :math:`\gamma |g| / \sqrt{s_0}` instead of :math:`\gamma` in every coordinate.
        * :math:`\epsilon` is outside the square root, :math:`\sqrt{s_t} + \epsilon`, here, in torch
          and in tf.keras 2.x; some implementations put it inside, :math:`\sqrt{s_t + \epsilon}`.
        * Defaults: torch ``lr=1e-2, eps=1e-10``; tf.keras ``learning_rate=1e-3, epsilon=1e-7,
          initial_accumulator_value=0.1``. Keras has no ``lr_decay``.
        * State is created on a parameter's first step, from that parameter's group;
          ``torch.optim.Adagrad`` creates it for every parameter in ``__init__`` from the constructor's
          ``initial_accumulator_value``, so there a group's own value is ignored. Sparse gradients
          are refused (torch accepts them).

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0`.
        lr_decay: :math:`\eta \ge 0`, the rate's inverse-time decay per step.
        weight_decay: L2 penalty :math:`\lambda \ge 0`, added to the gradient.
        initial_accumulator_value: :math:`s_0 \ge 0`, the accumulator's starting value.
        eps: :math:`\epsilon \ge 0`, added to the denominator.
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_number("lr_decay", lr_decay)
        check_number("weight_decay", weight_decay)
        check_number("initial_accumulator_value", initial_accumulator_value)
        check_number("eps", eps)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "eps": eps,
            "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _hyperparameters(self, group: dict[str, Any]) -> AdagradHyperparameters:
        return read_group(group, AdagradHyperparameters)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        initial = group["initial_accumulator_value"]
        return {
            "step": scalar_state(),
            "sum": torch.full_like(param, initial, memory_format=torch.preserve_format),
        }

    def _update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: AdagradHyperparameters
    ) -> None:
        adagrad(param, grad, state["sum"], step=count_step(state["step"]), **hyperparameters)

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: AdagradHyperparameters,
    ) -> None:
        adagrad_foreach(
            params,
            grads,
            [state["sum"] for state in states],
            steps=count_steps([state["step"] for state in states]),
            **hyperparameters,
        )


def adagrad(
    param: Tensor,
    grad: Tensor,
    state_sum: Tensor,
    *,
    step: float,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """Step ``step`` (1-based) of Adagrad on ``param``, in place; ``state_sum`` is the accumulator."""
    grad = l2_penalty(signed(grad, maximize), param, weight_decay)
    step_lr = _decayed_lr(lr, lr_decay, step)
    state_sum.addcmul_(grad, grad, value=1)
    param.addcdiv_(grad, state_sum.sqrt().add_(eps), value=-step_lr)


def adagrad_foreach(
    params: Tensors,
    grads: Tensors,
    state_sums: Tensors,
    *,
    steps: list[float],
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool,
) -> None:
    """:func:`adagrad` on lists of tensors (one device and dtype), ``steps[i]`` being ``params[i]``'s count."""
    grads = l2_penalty_foreach(signed_foreach(grads, maximize), params, weight_decay)
    step_lrs = [-_decayed_lr(lr, lr_decay, step) for step in steps]
    torch._foreach_addcmul_(state_sums, grads, grads, value=1)
    denoms = torch._foreach_sqrt(state_sums)
    torch._foreach_add_(denoms, eps)
    torch._foreach_addcdiv_(params, grads, denoms, step_lrs)


def _decayed_lr(lr: float, lr_decay: float, step: float) -> float:
    r"""The rate of step ``step`` (1-based) under inverse-time decay: :math:`\gamma / (1 + (t - 1)\eta)`."""
    return lr / (1 + (step - 1) * lr_decay)
