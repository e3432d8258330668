"""RAdam: Adam whose adaptive step is switched on, and scaled, only once its variance is tractable."""

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
    decay_weights_,
    decay_weights_foreach_,
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

__all__ = ["RECTIFY_ABOVE", "RAdam", "RAdamHyperparameters", "radam", "radam_foreach", "rectification", "sma_length"]

RECTIFY_ABOVE = 5.0
"""The adaptive step is taken once the moving average's length :math:`\\rho_t` exceeds this (torch's ``> 5``)."""


class RAdamHyperparameters(TypedDict):
    """The keywords of :func:`radam` and :func:`radam_foreach` that a param group holds, read once per step
    (``betas`` split into ``beta1`` and ``beta2``)."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    decoupled_weight_decay: bool
    maximize: bool


class RAdam(ScratchOptimizer[RAdamHyperparameters]):
    r"""RAdam (Rectified Adam): momentum alone while the second moment has seen too few gradients, then Adam's
    step scaled by a rectification term that grows from near 0 to 1.

    With learning rate :math:`\gamma` (``lr``), :math:`(\beta_1, \beta_2)` (``betas``), :math:`\epsilon`
    (``eps``) and weight decay :math:`\lambda`, step :math:`t = 1, 2, \dots` is

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1}
            \qquad \text{(or, decoupled: } \theta_{t-1} \leftarrow (1 - \gamma\lambda)\theta_{t-1}) \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \rho_\infty &= \frac{2}{1 - \beta_2} - 1, \qquad
            \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t} \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma\, m_t}{1 - \beta_1^t}
            \cdot \begin{cases}
                r_t\, \dfrac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon}, \quad
                r_t = \sqrt{\dfrac{(\rho_t - 4)(\rho_t - 2)\,\rho_\infty}{(\rho_\infty - 4)(\rho_\infty - 2)\,\rho_t}}
                    & \text{if } \rho_t > 5 \\
                1 & \text{otherwise (SGD with bias-corrected momentum)}
            \end{cases}

    :math:`\rho_t` is the length of the simple moving average that the exponential one of :math:`g^2`
    resembles after :math:`t` steps (:math:`\rho_1 = 1`, rising to :math:`\rho_\infty`); :math:`r_t` scales the
    adaptive step :math:`1/\sqrt{\hat v_t}` so that its variance is the one it has at length :math:`\rho_\infty`. For
    :math:`\beta_2 = 0.999`, steps 1 to 5 are momentum steps (:math:`\rho_5 = 4.996`); from step 6
    (:math:`\rho_6 = 5.994`, :math:`r_6 = 0.0258`) the adaptive step takes over, with :math:`r_t` near 1
    only after thousands of steps. For any :math:`\beta_2 \ge 0.9` the switch is at step 6; for
    :math:`\beta_2 \le 2/3`, :math:`\rho_\infty \le 5` and the step never adapts.

    State: ``exp_avg`` :math:`m`, ``exp_avg_sq`` :math:`v` and ``step`` :math:`t`.

    Paper: Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate and Beyond"
    (ICLR 2020), Algorithm 2.

    Conventions:
        * Threshold. The paper's Algorithm 2 adapts when :math:`\rho_t > 4`; the authors' code
          (``N_sma >= 5``), torch and this class when :math:`\rho_t > 5` (for :math:`\beta_2 = 0.999` the paper's
          first adaptive step is step 5, with :math:`r_5 = 0.0173`; here step 6). Before the switch the authors'
          ``RAdam`` takes this momentum step only with ``degenerated_to_sgd=True``; with its default ``False``
          the first five steps leave the weights (and their weight decay) alone, and only the moments move.
        * :math:`\epsilon` is added to :math:`\sqrt{v_t}` before bias correction (the authors' code and
          torch), not to :math:`\sqrt{v_t/(1-\beta_2^t)}` as in Adam: at step 6 with :math:`\beta_2 = 0.999`
          it weighs as :math:`1/\sqrt{1 - \beta_2^6} = 12.9` times Adam's :math:`\epsilon`.
        * Keras has no RAdam. TensorFlow Addons' ``RectifiedAdam`` (deprecated) adds :math:`\epsilon` (default
          1e-7) to the bias-corrected root, adapts when :math:`\rho_t \ge 5`, and its ``weight_decay`` adds
          :math:`\lambda\theta` to the step before :math:`\gamma` scales it (decoupled, as
          ``decoupled_weight_decay=True`` here).
        * Weight decay: an L2 penalty by default (torch's); ``decoupled_weight_decay=True`` is torch's
          RAdamW, which the authors' code does.
        * Defaults: torch (and this class) ``lr=1e-3, betas=(0.9, 0.999), eps=1e-8``.
        * Scale. Before the switch a step is :math:`\gamma \hat m_t`, not normalised: with gradients of
          size 100 and ``lr=1e-3`` the first five steps move a weight by up to 0.1 each.

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0`.
        betas: :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`, decays of the two moments.
        eps: :math:`\epsilon \ge 0`, added to :math:`\sqrt{v_t}`.
        weight_decay: :math:`\lambda \ge 0`; an L2 penalty added to the gradient, or, with
            ``decoupled_weight_decay``, a shrink of the weights by :math:`\gamma\lambda`.
        decoupled_weight_decay: apply weight decay to the weights directly, as AdamW does (RAdamW).
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_betas(betas)
        check_number("eps", eps)
        check_number("weight_decay", weight_decay)
        check_flag("decoupled_weight_decay", decoupled_weight_decay)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        defaults = {
            "lr": lr,
            "betas": (betas[0], betas[1]),
            "eps": eps,
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _hyperparameters(self, group: dict[str, Any]) -> RAdamHyperparameters:
        beta1, beta2 = group["betas"]
        return read_group(group, RAdamHyperparameters, beta1=beta1, beta2=beta2)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"step": scalar_state(), "exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param)}

    def _update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: RAdamHyperparameters
    ) -> None:
        radam(param, grad, state["exp_avg"], state["exp_avg_sq"], step=count_step(state["step"]), **hyperparameters)

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: RAdamHyperparameters,
    ) -> None:
        radam_foreach(
            params,
            grads,
            [state["exp_avg"] for state in states],
            [state["exp_avg_sq"] for state in states],
            steps=count_steps([state["step"] for state in states]),
            **hyperparameters,
        )


def radam(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    *,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """Step ``step`` (1-based) of RAdam on ``param`` in place (torch's single-tensor arithmetic, op for op)."""
    grad = signed(grad, maximize)
    if decoupled_weight_decay:
        decay_weights_(param, lr, weight_decay)
    else:
        grad = l2_penalty(grad, param, weight_decay)
    ema_(exp_avg, grad, beta1)
    ema_square_(exp_avg_sq, grad, beta2)
    update = (exp_avg / bias_correction(beta1, step)).mul_(lr)
    rho = sma_length(beta2, step)
    if rho > RECTIFY_ABOVE:
        adaptive_lr = exp_avg_sq.sqrt().add_(eps).reciprocal_().mul_(bias_correction(beta2, step) ** 0.5)
        update.mul_(adaptive_lr).mul_(rectification(beta2, rho))
    param.sub_(update)


def radam_foreach(
    params: Tensors,
    grads: Tensors,
    exp_avgs: Tensors,
    exp_avg_sqs: Tensors,
    *,
    steps: list[float],
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """:func:`radam` on lists of tensors (one device and dtype), ``steps[i]`` being ``params[i]``'s count.

    Tensors that counted different numbers of steps may sit on either side of the switch; the adaptive factor
    is computed and applied to those past it only (a sub-list), so each tensor sees :func:`radam`'s very ops.
    """
    grads = signed_foreach(grads, maximize)
    if decoupled_weight_decay:
        decay_weights_foreach_(params, lr, weight_decay)
    else:
        grads = l2_penalty_foreach(grads, params, weight_decay)
    ema_foreach_(exp_avgs, grads, beta1)
    ema_square_foreach_(exp_avg_sqs, grads, beta2)
    updates = torch._foreach_div(exp_avgs, [bias_correction(beta1, step) for step in steps])
    torch._foreach_mul_(updates, lr)
    rhos = [sma_length(beta2, step) for step in steps]
    adapted = [i for i, rho in enumerate(rhos) if rho > RECTIFY_ABOVE]
    if adapted:
        adaptive_lrs = torch._foreach_sqrt([exp_avg_sqs[i] for i in adapted])
        torch._foreach_add_(adaptive_lrs, eps)
        torch._foreach_reciprocal_(adaptive_lrs)
        torch._foreach_mul_(adaptive_lrs, [bias_correction(beta2, steps[i]) ** 0.5 for i in adapted])
        adapted_updates = [updates[i] for i in adapted]
        torch._foreach_mul_(adapted_updates, adaptive_lrs)
        torch._foreach_mul_(adapted_updates, [rectification(beta2, rhos[i]) for i in adapted])
    torch._foreach_sub_(params, updates)


def sma_length(beta2: float, step: float) -> float:
    r"""The length :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1 - \beta_2^t)` of the simple moving average that
    the exponential one of :math:`g^2` approximates after ``step`` steps, :math:`\rho_\infty = 2/(1-\beta_2) - 1`."""
    rho_inf = 2 / (1 - beta2) - 1
    return float(rho_inf - 2 * step * (beta2**step) / bias_correction(beta2, step))


def rectification(beta2: float, rho: float) -> float:
    r"""The variance rectification
    :math:`r_t = \sqrt{(\rho_t - 4)(\rho_t - 2)\rho_\infty / ((\rho_\infty - 4)(\rho_\infty - 2)\rho_t)}`,
    for :math:`\rho_t` = ``rho`` above the switch."""
    rho_inf = 2 / (1 - beta2) - 1
    return float(((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)) ** 0.5)
