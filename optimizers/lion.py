"""Lion: the sign of an interpolation between momentum and gradient, the same step size for every coordinate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import Tensor

from ._base import ScratchOptimizer, check_betas, check_flag, check_number, read_group
from ._primitives import Tensors, decay_weights_, decay_weights_foreach_, signed, signed_foreach, zeros_like

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

__all__ = ["Lion", "LionHyperparameters", "lion", "lion_foreach"]


class LionHyperparameters(TypedDict):
    """The keywords of :func:`lion` and :func:`lion_foreach` that a param group holds, read once per step
    (``betas`` split into ``beta1`` and ``beta2``)."""

    lr: float
    beta1: float
    beta2: float
    weight_decay: float
    decoupled_weight_decay: bool
    weight_decay_lr: float
    maximize: bool


class Lion(ScratchOptimizer[LionHyperparameters]):
    r"""Lion (EvoLved Sign Momentum): steps of size :math:`\gamma` along the sign of a momentum-gradient blend.

    With learning rate :math:`\gamma` (``lr``), :math:`(\beta_1, \beta_2)` (``betas``) and weight decay
    :math:`\lambda` (``weight_decay``), each step is

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) \qquad (- \text{ when } \textit{maximize}) \\
        \theta_{t-1} &\leftarrow (1 - \gamma\lambda)\,\theta_{t-1}
            \qquad \text{(or, with } \textit{decoupled\_weight\_decay}:\
            (1 - \tfrac{\gamma}{\gamma_0}\lambda)\,\theta_{t-1}) \\
        c_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        \theta_t &\leftarrow \theta_{t-1} - \gamma\,\mathrm{sign}(c_t) \\
        m_t &\leftarrow \beta_2 m_{t-1} + (1 - \beta_2) g_t

    The step direction :math:`c_t` and the stored momentum :math:`m_t` are two different averages of the
    same two terms: :math:`\beta_1` weighs the gradient in today's step, :math:`\beta_2` (larger) sets the
    memory. Every coordinate moves by exactly :math:`\gamma` (or 0), so the update's RMS is :math:`\gamma`,
    larger than Adam's for the same ``lr``.

    State: ``exp_avg`` :math:`m` (no step count: Lion has no bias correction).

    Paper: Chen, Liang, Huang, Real, Wang, Liu, Pham, Dong, Luong, Hsieh, Lu & Le, "Symbolic Discovery of
    Optimization Algorithms" (NeurIPS 2023), Algorithm 2. Reference implementation: ``lion_pytorch.Lion``
    (lion-pytorch 0.2.5), which this class matches operation for operation.

    Conventions:
        * Weight decay. The paper and ``lion_pytorch``'s default shrink by :math:`\gamma\lambda` per step
          (multiplied by the learning rate, as AdamW). ``decoupled_weight_decay=True`` (``lion_pytorch``'s
          option) divides :math:`\lambda` by :math:`\gamma_0`, the constructor's ``lr``: :math:`\lambda` is
          then the shrink per step at the initial learning rate and follows a schedule in proportion. With
          ``lr=1e-4, weight_decay=1e-2`` the default shrinks by 1e-6 per step, the decoupled form by 1e-2.
          :math:`\gamma_0` is kept in every param group as ``weight_decay_lr`` (a group with its own ``lr``
          still divides by the constructor's, as ``lion_pytorch`` does; set the key to change that).
        * Learning rate and weight decay against AdamW (paper, Section 5): Lion's ``lr`` is typically 3-10x
          smaller than AdamW's and its :math:`\lambda` 3-10x larger, keeping :math:`\gamma\lambda`. From
          torch AdamW's defaults (``lr=1e-3, weight_decay=1e-2``, :math:`\gamma\lambda = 10^{-5}`): Lion
          ``lr`` from 1e-4 to 3.3e-4 with ``weight_decay`` from 3e-2 to 1e-1.
        * Defaults: ``lion_pytorch`` (and this class) ``lr=1e-4, betas=(0.9, 0.99), weight_decay=0``.
          tf.keras ``Lion``: ``learning_rate=1e-3`` (10x larger), ``beta_1=0.9, beta_2=0.99`` (the same),
          ``weight_decay=None`` (none). Keras' weight decay, when set, is its base optimizer's
          :math:`\theta \leftarrow \theta - \theta\lambda\gamma` before the step: the same as the default
          here, multiplied by the learning rate; Keras has no decoupled form.
        * Betas: each in :math:`[0, 1)` here; ``lion_pytorch`` accepts :math:`[0, 1]` and Keras
          ``beta_1`` in :math:`(0, 1]` (it refuses 0, where the step is :math:`\mathrm{sign}(g_t)`: signSGD).
        * Arithmetic: :math:`c_t` and :math:`m_t` are computed as ``lion_pytorch.Lion`` does
          (``mul`` then ``add``), not with ``lerp`` like this package's other moving averages
          (:func:`~optimizers._primitives.ema_`) or ``lion_pytorch``'s foreach variant: a sign is taken,
          so a last-bit difference in an entry of :math:`c_t` near 0 would move it by :math:`2\gamma`.

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0`, the size of every coordinate's step.
        betas: :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`: the gradient's weight in the step's
            direction, and the decay of the momentum.
        weight_decay: :math:`\lambda \ge 0`; each step multiplies the weights by :math:`1 - \gamma\lambda`.
        decoupled_weight_decay: divide :math:`\lambda` by the constructor's ``lr`` (needs ``lr > 0`` when
            ``weight_decay > 0``), so each step multiplies the weights by :math:`1 - \lambda\gamma/\gamma_0`.
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_betas(betas)
        check_number("weight_decay", weight_decay)
        check_flag("decoupled_weight_decay", decoupled_weight_decay)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        if decoupled_weight_decay and weight_decay != 0 and lr == 0:
            raise ValueError(
                f"Invalid lr value: {lr!r} (decoupled_weight_decay divides weight_decay={weight_decay!r} by the "
                f"constructor's lr, which must then be > 0)"
            )
        defaults = {
            "lr": lr,
            "betas": (betas[0], betas[1]),
            "weight_decay": weight_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "weight_decay_lr": lr,
            "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # lion_pytorch keeps decoupled_weight_decay and its starting lr on the optimizer, not in its groups: a
        # group loaded from its state dict takes them (and maximize) from this optimizer's constructor
        for key in ("decoupled_weight_decay", "weight_decay_lr", "maximize"):
            for group in self.param_groups:
                group.setdefault(key, self.defaults[key])

    def _hyperparameters(self, group: dict[str, Any]) -> LionHyperparameters:
        beta1, beta2 = group["betas"]
        return read_group(group, LionHyperparameters, beta1=beta1, beta2=beta2)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"exp_avg": zeros_like(param)}

    def _update(self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: LionHyperparameters) -> None:
        lion(param, grad, state["exp_avg"], **hyperparameters)

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: LionHyperparameters,
    ) -> None:
        lion_foreach(params, grads, [state["exp_avg"] for state in states], **hyperparameters)


def _per_step_decay(lr: float, weight_decay: float, decoupled_weight_decay: bool, weight_decay_lr: float) -> float:
    r"""The :math:`\lambda` that multiplies :math:`\gamma` in the shrink :math:`1 - \gamma\lambda`: ``weight_decay``,
    or, decoupled, ``weight_decay / weight_decay_lr`` (divided first, as ``lion_pytorch`` does)."""
    if decoupled_weight_decay and weight_decay != 0:
        return weight_decay / weight_decay_lr
    return weight_decay


def lion(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    weight_decay_lr: float,
    maximize: bool,
) -> None:
    """One Lion step on ``param`` in place, updating its momentum ``exp_avg``."""
    grad = signed(grad, maximize)
    decay_weights_(param, lr, _per_step_decay(lr, weight_decay, decoupled_weight_decay, weight_decay_lr))
    direction = exp_avg.mul(beta1).add_(grad, alpha=1 - beta1).sign_()
    param.add_(direction, alpha=-lr)
    exp_avg.mul_(beta2).add_(grad, alpha=1 - beta2)


def lion_foreach(
    params: Tensors,
    grads: Tensors,
    exp_avgs: Tensors,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    weight_decay_lr: float,
    maximize: bool,
) -> None:
    """:func:`lion` on lists of tensors (one device and dtype)."""
    grads = signed_foreach(grads, maximize)
    decay_weights_foreach_(params, lr, _per_step_decay(lr, weight_decay, decoupled_weight_decay, weight_decay_lr))
    directions = torch._foreach_mul(exp_avgs, beta1)
    torch._foreach_add_(directions, grads, alpha=1 - beta1)
    torch._foreach_sign_(directions)
    torch._foreach_add_(params, directions, alpha=-lr)
    torch._foreach_mul_(exp_avgs, beta2)
    torch._foreach_add_(exp_avgs, grads, alpha=1 - beta2)
