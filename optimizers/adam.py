"""Adam: bias-corrected moving averages of the gradient and of its square."""

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

__all__ = ["Adam", "AdamHyperparameters", "adam", "adam_foreach"]


class AdamHyperparameters(TypedDict):
    """The keywords of :func:`adam` and :func:`adam_foreach` that a param group holds, read once per step
    (``betas`` split into ``beta1`` and ``beta2``)."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    amsgrad: bool
    maximize: bool
    decoupled_weight_decay: bool


class Adam(ScratchOptimizer[AdamHyperparameters]):
    r"""Adam, optionally with AMSGrad's running maximum and decoupled weight decay.

    With learning rate :math:`\gamma` (``lr``), :math:`(\beta_1, \beta_2)` (``betas``),
    :math:`\epsilon` (``eps``) and weight decay :math:`\lambda`, step :math:`t = 1, 2, \dots` is

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1}
            \qquad \text{(or, decoupled: } \theta_{t-1} \leftarrow (1 - \gamma\lambda)\theta_{t-1}) \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat v_t &\leftarrow \max(\hat v_{t-1}, v_t) \ \text{(amsgrad)}, \quad v_t \ \text{(otherwise)} \\
        \theta_t &\leftarrow \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\,
            \frac{m_t}{\sqrt{\hat v_t / (1 - \beta_2^t)} + \epsilon}

    State: ``exp_avg`` :math:`m`, ``exp_avg_sq`` :math:`v`, ``max_exp_avg_sq`` (AMSGrad's
    :math:`\hat v`) and ``step`` :math:`t`.

    Papers: Kingma & Ba, "Adam: A Method for Stochastic Optimization" (ICLR 2015); AMSGrad: Reddi,
    Kale & Kumar, "On the Convergence of Adam and Beyond" (ICLR 2018).

    Conventions:
        * :math:`\epsilon` placement. Torch (and this class) follow Algorithm 1 of the paper: both
          moments bias-corrected, :math:`\epsilon` added to :math:`\sqrt{\hat v_t}`. tf.keras 2.x uses
          the paper's "epsilon hat" form, :math:`\gamma_t = \gamma\sqrt{1-\beta_2^t}/(1-\beta_1^t)`,
          :math:`\theta \leftarrow \theta - \gamma_t m_t/(\sqrt{v_t} + \hat\epsilon)`, which equals
          torch's with :math:`\epsilon = \hat\epsilon/\sqrt{1-\beta_2^t}`: a larger effective
          :math:`\epsilon` in early steps (about :math:`32\hat\epsilon` at :math:`t=1`).
        * AMSGrad: torch (and this class) take the maximum of the *uncorrected* :math:`v_t` and
          bias-correct it with the current :math:`t`; the paper has no bias correction.
        * Defaults: torch ``eps=1e-8``, tf.keras ``epsilon=1e-7``; both ``lr=1e-3, betas=(0.9,
          0.999)``. Keras' Adam has no L2 weight decay: its ``weight_decay`` is decoupled (AdamW).

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0`.
        betas: :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`, decays of the two moments.
        eps: :math:`\epsilon \ge 0`, added to the denominator.
        weight_decay: :math:`\lambda \ge 0`; an L2 penalty added to the gradient, or, with
            ``decoupled_weight_decay``, a shrink of the weights by :math:`\gamma\lambda` (AdamW).
        amsgrad: normalise by the running maximum of the second moment.
        {_maximize_doc}
        decoupled_weight_decay: apply weight decay to the weights directly, as AdamW does.
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_betas(betas)
        check_number("eps", eps)
        check_number("weight_decay", weight_decay)
        check_flag("amsgrad", amsgrad)
        check_flag("maximize", maximize)
        check_flag("decoupled_weight_decay", decoupled_weight_decay)
        check_flag("foreach", foreach, allow_none=True)
        defaults = {
            "lr": lr,
            "betas": (betas[0], betas[1]),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _hyperparameters(self, group: dict[str, Any]) -> AdamHyperparameters:
        beta1, beta2 = group["betas"]
        return read_group(group, AdamHyperparameters, beta1=beta1, beta2=beta2)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        state = {"step": scalar_state(), "exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like(param)
        return state

    def _update(self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: AdamHyperparameters) -> None:
        adam(
            param,
            grad,
            state["exp_avg"],
            state["exp_avg_sq"],
            state.get("max_exp_avg_sq"),
            step=count_step(state["step"]),
            **hyperparameters,
        )

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: AdamHyperparameters,
    ) -> None:
        adam_foreach(
            params,
            grads,
            [state["exp_avg"] for state in states],
            [state["exp_avg_sq"] for state in states],
            [state["max_exp_avg_sq"] for state in states] if hyperparameters["amsgrad"] else None,
            steps=count_steps([state["step"] for state in states]),
            **hyperparameters,
        )


def adam(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    max_exp_avg_sq: Tensor | None,
    *,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """Step ``step`` (1-based) of Adam on ``param`` in place (``max_exp_avg_sq`` needed for AMSGrad)."""
    grad = signed(grad, maximize)
    if decoupled_weight_decay:
        decay_weights_(param, lr, weight_decay)
    else:
        grad = l2_penalty(grad, param, weight_decay)
    ema_(exp_avg, grad, beta1)
    ema_square_(exp_avg_sq, grad, beta2)
    if amsgrad:
        assert max_exp_avg_sq is not None, "AMSGrad needs its max_exp_avg_sq state"
        exp_avg_sq = torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    step_size = lr / bias_correction(beta1, step)
    denom = (exp_avg_sq.sqrt() / bias_correction(beta2, step) ** 0.5).add_(eps)
    param.addcdiv_(exp_avg, denom, value=-step_size)


def adam_foreach(
    params: Tensors,
    grads: Tensors,
    exp_avgs: Tensors,
    exp_avg_sqs: Tensors,
    max_exp_avg_sqs: Tensors | None,
    *,
    steps: list[float],
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """:func:`adam` on lists of tensors (one device and dtype), ``steps[i]`` being ``params[i]``'s count."""
    grads = signed_foreach(grads, maximize)
    if decoupled_weight_decay:
        decay_weights_foreach_(params, lr, weight_decay)
    else:
        grads = l2_penalty_foreach(grads, params, weight_decay)
    ema_foreach_(exp_avgs, grads, beta1)
    ema_square_foreach_(exp_avg_sqs, grads, beta2)
    if amsgrad:
        assert max_exp_avg_sqs is not None, "AMSGrad needs its max_exp_avg_sq state"
        torch._foreach_maximum_(max_exp_avg_sqs, exp_avg_sqs)
        exp_avg_sqs = max_exp_avg_sqs
    step_sizes = [-(lr / bias_correction(beta1, step)) for step in steps]
    denoms = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_div_(denoms, [bias_correction(beta2, step) ** 0.5 for step in steps])
    torch._foreach_add_(denoms, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denoms, step_sizes)
