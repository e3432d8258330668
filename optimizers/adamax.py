"""Adamax: Adam with the second moment replaced by an exponentially weighted infinity norm."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import Tensor

from ._base import ScratchOptimizer, check_betas, check_flag, check_number, read_group
from ._primitives import (
    Tensors,
    bias_correction,
    count_step,
    count_steps,
    ema_,
    ema_foreach_,
    l2_penalty,
    l2_penalty_foreach,
    scalar_state,
    signed,
    signed_foreach,
    zeros_like,
)

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

__all__ = ["Adamax", "AdamaxHyperparameters", "adamax", "adamax_foreach"]


class AdamaxHyperparameters(TypedDict):
    """The keywords of :func:`adamax` and :func:`adamax_foreach` that a param group holds, read once per step
    (``betas`` split into ``beta1`` and ``beta2``)."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    maximize: bool


class Adamax(ScratchOptimizer[AdamaxHyperparameters]):
    r"""Adamax: Adam's momentum divided by a decaying running maximum of :math:`|g|` instead of an RMS.

    With learning rate :math:`\gamma` (``lr``), :math:`(\beta_1, \beta_2)` (``betas``), :math:`\epsilon`
    (``eps``) and weight decay :math:`\lambda`, step :math:`t = 1, 2, \dots` is

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1} \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        u_t &\leftarrow \max(\beta_2 u_{t-1},\ |g_t| + \epsilon) \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\, \frac{m_t}{u_t}

    :math:`u_t` is the limit :math:`p \to \infty` of :math:`v_t^{1/p}` for Adam's second moment taken to the
    :math:`p`-th power, :math:`v_t = \beta_2^p v_{t-1} + (1-\beta_2^p)|g_t|^p`; it needs no bias correction, and
    each coordinate's step is bounded by about :math:`\gamma` (the paper's :math:`|\Delta_t| \le \alpha`).

    State: ``exp_avg`` :math:`m`, ``exp_inf`` :math:`u` and ``step`` :math:`t`.

    Paper: Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015), Section 7.1, Algorithm 2.

    Conventions:
        * :math:`\epsilon` placement. The paper has none. Torch (and this class) put it inside the maximum,
          :math:`u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon)`, so it is carried in :math:`u` and decays with it;
          tf.keras takes :math:`u_t = \max(\beta_2 u_{t-1}, |g_t|)` and divides by :math:`u_t + \epsilon`. With
          the same :math:`\epsilon` the two agree at step 1 (both :math:`\theta_1 = \theta_0 - \gamma
          g_1/(|g_1| + \epsilon)`) and whenever the current gradient sets the maximum; otherwise torch's
          denominator is smaller by up to :math:`\epsilon`. After :math:`|g_1| = 10^{-6}` and 1000 zero
          gradients (:math:`\beta_2 = 0.999`, :math:`\epsilon = 10^{-8}`) torch divides by
          :math:`3.714\cdot10^{-7}`, Keras by :math:`3.777\cdot10^{-7}` (1.7% apart); for gradients far above
          :math:`\epsilon` the two are the same optimizer.
        * Defaults: torch (and this class) ``lr=2e-3, eps=1e-8``; tf.keras ``learning_rate=1e-3, epsilon=1e-7``;
          both ``betas=(0.9, 0.999)``. These do differ at step 1: for :math:`|g_1| = 10^{-7}` torch's defaults
          move a weight by :math:`2\cdot10^{-3}/1.1 = 1.82\cdot10^{-3}`, Keras' by
          :math:`10^{-3}/2 = 5\cdot10^{-4}`; for :math:`|g_1| \gg 10^{-7}`, by :math:`2\cdot10^{-3}` and
          :math:`10^{-3}`.
        * Weight decay: torch's is an L2 penalty (added to :math:`g_t`, so it also enters :math:`u_t`); Keras'
          ``weight_decay`` is decoupled (:math:`\theta \leftarrow \theta - \gamma\lambda\theta`).

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0`.
        betas: :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`: decays of the momentum and of the
            infinity norm.
        eps: :math:`\epsilon \ge 0`, added to :math:`|g_t|` inside the maximum.
        weight_decay: :math:`\lambda \ge 0`, an L2 penalty added to the gradient.
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_betas(betas)
        check_number("eps", eps)
        check_number("weight_decay", weight_decay)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        defaults = {
            "lr": lr,
            "betas": (betas[0], betas[1]),
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _hyperparameters(self, group: dict[str, Any]) -> AdamaxHyperparameters:
        beta1, beta2 = group["betas"]
        return read_group(group, AdamaxHyperparameters, beta1=beta1, beta2=beta2)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"step": scalar_state(), "exp_avg": zeros_like(param), "exp_inf": zeros_like(param)}

    def _update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: AdamaxHyperparameters
    ) -> None:
        adamax(param, grad, state["exp_avg"], state["exp_inf"], step=count_step(state["step"]), **hyperparameters)

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: AdamaxHyperparameters,
    ) -> None:
        adamax_foreach(
            params,
            grads,
            [state["exp_avg"] for state in states],
            [state["exp_inf"] for state in states],
            steps=count_steps([state["step"] for state in states]),
            **hyperparameters,
        )


def adamax(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_inf: Tensor,
    *,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """Step ``step`` (1-based) of Adamax on ``param`` in place."""
    grad = signed(grad, maximize)
    grad = l2_penalty(grad, param, weight_decay)
    ema_(exp_avg, grad, beta1)
    torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf)
    param.addcdiv_(exp_avg, exp_inf, value=-lr / bias_correction(beta1, step))


def adamax_foreach(
    params: Tensors,
    grads: Tensors,
    exp_avgs: Tensors,
    exp_infs: Tensors,
    *,
    steps: list[float],
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """:func:`adamax` on lists of tensors (one device and dtype), ``steps[i]`` being ``params[i]``'s count."""
    grads = signed_foreach(grads, maximize)
    grads = l2_penalty_foreach(grads, params, weight_decay)
    ema_foreach_(exp_avgs, grads, beta1)
    torch._foreach_mul_(exp_infs, beta2)
    magnitudes = torch._foreach_abs(grads)
    torch._foreach_add_(magnitudes, eps)
    torch._foreach_maximum_(exp_infs, magnitudes)
    torch._foreach_addcdiv_(params, exp_avgs, exp_infs, [-lr / bias_correction(beta1, step) for step in steps])
