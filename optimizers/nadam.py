"""NAdam: Adam with Nesterov momentum and a warming-up momentum schedule."""

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

__all__ = ["NAdam", "NAdamHyperparameters", "nadam", "nadam_foreach"]


class NAdamHyperparameters(TypedDict):
    """The keywords of :func:`nadam` and :func:`nadam_foreach` that a param group holds, read once per step
    (``betas`` split into ``beta1`` and ``beta2``)."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    momentum_decay: float
    decoupled_weight_decay: bool
    maximize: bool


class NAdam(ScratchOptimizer[NAdamHyperparameters]):
    r"""NAdam: Adam whose first-moment step looks one momentum step ahead (Nesterov).

    With learning rate :math:`\gamma`, :math:`(\beta_1, \beta_2)` (``betas``), :math:`\epsilon`,
    weight decay :math:`\lambda` and momentum decay :math:`\psi` (``momentum_decay``), step
    :math:`t = 1, 2, \dots` is

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) + \lambda\theta_{t-1}
            \qquad \text{(or, decoupled: } \theta_{t-1} \leftarrow (1 - \gamma\lambda)\theta_{t-1}) \\
        \mu_t &\leftarrow \beta_1 \left(1 - \tfrac12\, 0.96^{t\psi}\right), \qquad
            \mu_{t+1} \leftarrow \beta_1 \left(1 - \tfrac12\, 0.96^{(t+1)\psi}\right) \\
        P_t &\leftarrow P_{t-1}\,\mu_t \qquad (P_0 = 1) \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \theta_t &\leftarrow \theta_{t-1}
            - \gamma \frac{(1 - \mu_t)\, g_t / (1 - P_t) + \mu_{t+1}\, m_t / (1 - P_t \mu_{t+1})}
                          {\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}

    State: ``exp_avg`` :math:`m`, ``exp_avg_sq`` :math:`v`, ``mu_product`` :math:`P_t` and ``step``
    (both scalar tensors, float32 like torch's, so :math:`P_t` accumulates in single precision).

    Paper: Dozat, "Incorporating Nesterov Momentum into Adam" (ICLR 2016 workshop).

    Conventions:
        * The momentum schedule :math:`\mu_t` with :math:`\psi = 0.004` is the paper's and Keras';
          with ``momentum_decay=0`` it is the constant :math:`\beta_1/2`, not :math:`\beta_1`.
        * :math:`\epsilon` is added outside the root of the bias-corrected :math:`v_t`, in torch,
          tf.keras and here.
        * Weight decay: torch's L2 form by default; ``decoupled_weight_decay=True`` gives torch's
          NAdamW (decay :math:`1 - \gamma\lambda`, as in AdamW). Keras' ``weight_decay`` is the
          decoupled kind.
        * Defaults: torch ``lr=2e-3, eps=1e-8``; tf.keras ``learning_rate=1e-3, epsilon=1e-7``.

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0`.
        betas: :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`.
        eps: :math:`\epsilon \ge 0`, added to the denominator.
        weight_decay: :math:`\lambda \ge 0`, L2 penalty (or decoupled decay, see below).
        momentum_decay: :math:`\psi \ge 0`, how fast :math:`\mu_t` warms up towards :math:`\beta_1`.
        decoupled_weight_decay: shrink the weights by :math:`\gamma\lambda` instead of adding
            :math:`\lambda\theta` to the gradient (NAdamW).
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
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_betas(betas)
        check_number("eps", eps)
        check_number("weight_decay", weight_decay)
        check_number("momentum_decay", momentum_decay)
        check_flag("decoupled_weight_decay", decoupled_weight_decay)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        defaults = {
            "lr": lr,
            "betas": (betas[0], betas[1]),
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _hyperparameters(self, group: dict[str, Any]) -> NAdamHyperparameters:
        beta1, beta2 = group["betas"]
        return read_group(group, NAdamHyperparameters, beta1=beta1, beta2=beta2)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {
            "step": scalar_state(),
            "mu_product": scalar_state(1.0),
            "exp_avg": zeros_like(param),
            "exp_avg_sq": zeros_like(param),
        }

    def _update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: NAdamHyperparameters
    ) -> None:
        nadam(
            param,
            grad,
            state["exp_avg"],
            state["exp_avg_sq"],
            state["mu_product"],
            step=count_step(state["step"]),
            **hyperparameters,
        )

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: NAdamHyperparameters,
    ) -> None:
        nadam_foreach(
            params,
            grads,
            [state["exp_avg"] for state in states],
            [state["exp_avg_sq"] for state in states],
            [state["mu_product"] for state in states],
            steps=count_steps([state["step"] for state in states]),
            **hyperparameters,
        )


def nadam(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    mu_product: Tensor,
    *,
    step: float,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    momentum_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """Step ``step`` (1-based) of NAdam on ``param`` in place; ``mu_product`` is updated in place."""
    grad = signed(grad, maximize)
    if decoupled_weight_decay:
        decay_weights_(param, lr, weight_decay)
    else:
        grad = l2_penalty(grad, param, weight_decay)
    mu = _momentum_schedule(beta1, momentum_decay, step)
    mu_next = _momentum_schedule(beta1, momentum_decay, step + 1)
    mu_product *= mu
    product = mu_product.item()
    ema_(exp_avg, grad, beta1)
    ema_square_(exp_avg_sq, grad, beta2)
    denom = exp_avg_sq.div(bias_correction(beta2, step)).sqrt().add_(eps)
    param.addcdiv_(grad, denom, value=-lr * (1.0 - mu) / (1.0 - product))
    param.addcdiv_(exp_avg, denom, value=-lr * mu_next / (1.0 - product * mu_next))


def nadam_foreach(
    params: Tensors,
    grads: Tensors,
    exp_avgs: Tensors,
    exp_avg_sqs: Tensors,
    mu_products: Tensors,
    *,
    steps: list[float],
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    momentum_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """:func:`nadam` on lists of tensors (one device and dtype), ``steps[i]`` being ``params[i]``'s count;
    ``mu_products`` (CPU scalars, like ``step``) are updated in place."""
    grads = signed_foreach(grads, maximize)
    if decoupled_weight_decay:
        decay_weights_foreach_(params, lr, weight_decay)
    else:
        grads = l2_penalty_foreach(grads, params, weight_decay)
    mus = [_momentum_schedule(beta1, momentum_decay, step) for step in steps]
    mu_nexts = [_momentum_schedule(beta1, momentum_decay, step + 1) for step in steps]
    torch._foreach_mul_(mu_products, mus)
    products = [mu_product.item() for mu_product in mu_products]
    ema_foreach_(exp_avgs, grads, beta1)
    ema_square_foreach_(exp_avg_sqs, grads, beta2)
    denoms = torch._foreach_div(exp_avg_sqs, [bias_correction(beta2, step) for step in steps])
    torch._foreach_sqrt_(denoms)
    torch._foreach_add_(denoms, eps)
    grad_weights = [-lr * (1.0 - mu) / (1.0 - product) for mu, product in zip(mus, products, strict=True)]
    torch._foreach_addcdiv_(params, grads, denoms, grad_weights)
    exp_avg_weights = [
        -lr * mu_next / (1.0 - product * mu_next) for mu_next, product in zip(mu_nexts, products, strict=True)
    ]
    torch._foreach_addcdiv_(params, exp_avgs, denoms, exp_avg_weights)


def _momentum_schedule(beta1: float, momentum_decay: float, step: float) -> float:
    r"""NAdam's momentum at step ``step``: :math:`\mu_t = \beta_1 (1 - \tfrac12\, 0.96^{t\psi})`."""
    return beta1 * (1.0 - 0.5 * float(0.96 ** (step * momentum_decay)))
