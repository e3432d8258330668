"""Schedule-Free AdamW: Adam's momentum replaced by interpolation and averaging, so no lr schedule is needed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import Tensor

from ._base import Closure, ScratchOptimizer, check_flag, check_integer, check_number, read_group
from ._primitives import (
    Tensors,
    bias_correction,
    ema_square_,
    ema_square_foreach_,
    signed,
    signed_foreach,
    zeros_like,
)

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

__all__ = [
    "AdamWScheduleFree",
    "AdamWScheduleFreeHyperparameters",
    "adamw_schedulefree",
    "adamw_schedulefree_foreach",
    "advance_schedule",
    "to_average_point_",
    "to_training_point_",
]


class AdamWScheduleFreeHyperparameters(TypedDict):
    """The keywords of :func:`adamw_schedulefree` and :func:`adamw_schedulefree_foreach`, read once per step: the
    group's values (``betas`` split into ``beta1`` and ``beta2``) and what its step count gives, the same for all
    its tensors: the warmed-up ``lr``, the averaging weight ``ckp1`` (:func:`advance_schedule`) and
    ``bias_correction2``."""

    lr: float
    ckp1: float
    bias_correction2: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    maximize: bool


class AdamWScheduleFree(ScratchOptimizer[AdamWScheduleFreeHyperparameters]):
    r"""Schedule-Free AdamW: gradients taken at an interpolation :math:`y` between the AdamW iterate :math:`z`
    and its running average :math:`x`, which is the point to evaluate. It replaces the lr schedule.

    With learning rate :math:`\gamma` (``lr``), warm-up length :math:`T` (``warmup_steps``),
    :math:`(\beta_1, \beta_2)` (``betas``), :math:`\epsilon` (``eps``), weight decay :math:`\lambda`, averaging
    powers :math:`r` (``r``) and :math:`p` (``weight_lr_power``), and :math:`x_1 = z_1` = the initial
    parameters, step :math:`t = 1, 2, \dots` of a param group is

    .. math::
        y_t &= (1 - \beta_1)\, z_t + \beta_1 x_t \qquad \text{(the parameters in train mode)} \\
        g_t &\leftarrow \pm\nabla f(y_t) \\
        v_t &\leftarrow \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \gamma_t &= \gamma \min(1, t / T) \ (\gamma \text{ when } T = 0), \qquad
            \gamma_{\max,t} = \max_{i \le t} \gamma_i \\
        c_{t+1} &= w_t \Big/ \textstyle\sum_{i \le t} w_i, \qquad w_t = t^r\, \gamma_{\max,t}^{\,p} \\
        \hat g_t &\leftarrow \frac{g_t}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon} + \lambda\, y_t \\
        z_{t+1} &\leftarrow z_t - \gamma_t\, \hat g_t \\
        x_{t+1} &\leftarrow (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}

    Only :math:`z` and the parameters are stored; :math:`x` is recovered from them. In train mode the parameters
    hold :math:`y`, updated in place as :math:`y_{t+1} = (1 - c_{t+1})\, y_t + c_{t+1} z_t +
    \gamma_t(\beta_1(1 - c_{t+1}) - 1)\, \hat g_t` (the two lines above, substituted); :meth:`eval` moves them
    to :math:`x = (y - (1 - \beta_1) z) / \beta_1` and :meth:`train` back to :math:`y`. The optimizer starts
    in eval mode, as the reference does, and :meth:`step` refuses to run in eval mode (:attr:`train_mode`
    says which). :mod:`optimizers.train_eval` says where a training loop must switch.

    State: ``z`` :math:`z` and ``exp_avg_sq`` :math:`v` per parameter; the step count ``k`` (:math:`t - 1`
    before the step), ``lr_max`` :math:`\gamma_{\max}`, ``weight_sum`` :math:`\sum w_i`, ``scheduled_lr``
    :math:`\gamma_t` and ``train_mode`` in each param group, as ``schedulefree.AdamWScheduleFree`` keeps them
    (its state dicts and ours load into each other). The count is the group's, not a per-parameter ``step``
    tensor: every tensor of a group shares :math:`\gamma_t` and :math:`c_{t+1}`, also one that skipped steps
    without a gradient.

    Paper: Defazio, Yang, Mehta, Mishchenko, Khaled & Cutkosky, "The Road Less Scheduled" (NeurIPS 2024).
    Matches ``schedulefree.AdamWScheduleFree`` (1.4) operation for operation.

    Conventions:
        * The learning rate is the base rate of a schedule-free run: :math:`\gamma_t` rises linearly over
          ``warmup_steps`` (``warmup_steps=100``: the first step takes 1% of ``lr``) and then stays
          constant. The averaging :math:`x` does what a decaying schedule does, so the method is meant to
          run without one ("eschewing the use of schedules entirely", the paper's abstract; its theory is
          for a constant rate). ``group["lr"]`` is read every step, so a scheduler still acts: a linear
          warm-up to a constant rate, :math:`\min(1, t/T)`, is the built-in warm-up to the last bit; a decay
          after it is what the method replaces (and as :math:`w_t` uses the running maximum
          :math:`\gamma_{\max}`, a decay would not re-weight the average, only shrink the steps of :math:`z`).
        * Averaging weights: with the defaults (:math:`r = 0`, :math:`p = 2`) every step after warm-up
          weighs the same (:math:`c_{t+1} = 1/t` without warm-up), and a step during warm-up weighs
          :math:`(t/T)^2` of one after it (step 10 of 100: 1%). :math:`r = 1` weighs step :math:`t` by
          :math:`t`.
        * Weight decay is AdamW's, taken at :math:`y` and added after the normalisation, so :math:`z`
          shrinks by :math:`\gamma_t \lambda y` per step (``lr=0.0025, weight_decay=0.01``:
          :math:`2.5\times10^{-5}\,y`) and scales with the warm-up (the package's behaviour since 1.3).
        * :math:`\epsilon` is added to :math:`\sqrt{v_t/(1-\beta_2^t)}` as in torch's Adam; there is no first
          moment to bias-correct: :math:`\beta_1` is the interpolation weight, and it matters more than
          Adam's momentum (the package suggests 0.95 or 0.98 for long runs).
        * Defaults are the package's: ``lr=0.0025`` (its README: 1x to 10x the rate AdamW takes with a
          schedule), ``betas=(0.9, 0.999)``, ``eps=1e-8``, ``weight_decay=0``.
        * Deviations from the package, none in the arithmetic: :math:`\beta_1 = 0` is refused (:math:`x`
          cannot be recovered from :math:`y = z`; the package fails in ``eval()``); step in eval mode raises
          ``RuntimeError`` (the package a bare ``Exception``, with the same advice); ``.grad`` is left as
          backward wrote it (the package overwrites it with :math:`\hat g_t`); a group added by
          :meth:`add_param_group` joins the current mode (the package's joins in eval mode while it trains: the
          next ``eval()`` leaves it at :math:`y`, and the ``train()`` after that moves it as if from :math:`x`).
        * tf.keras 2.x has no Schedule-Free optimizer. Keras 3 added ``ScheduleFreeAdamW`` in 2026
          (keras-team/keras#22113) with :math:`c_{t+1} = 1/t` only (no ``r`` or ``weight_lr_power``: ours
          with ``r=0, weight_lr_power=0``), Keras' generic weight decay (:math:`y \leftarrow y - \gamma\lambda
          y` before the step, with the unwarmed rate; :math:`z` is not decayed) and unguarded
          ``train()``/``eval()`` (a second ``eval()`` moves the weights again).

    Args:
        {_params_doc}
        lr: base learning rate :math:`\gamma \ge 0`, reached after the warm-up.
        betas: :math:`(\beta_1, \beta_2)`: the interpolation weight :math:`\beta_1 \in (0, 1]` of :math:`x`
            in :math:`y` and the decay :math:`\beta_2 \in [0, 1)` of the second moment.
        eps: :math:`\epsilon \ge 0`, added to the denominator.
        weight_decay: :math:`\lambda \ge 0`, AdamW-style decay taken at :math:`y`.
        warmup_steps: :math:`T \ge 0`, steps over which :math:`\gamma_t` rises linearly to :math:`\gamma`.
        r: :math:`r \ge 0`, polynomial weighting :math:`t^r` of the average.
        weight_lr_power: :math:`p \ge 0`, weighting of the average by :math:`\gamma_{\max}^p` (0: none).
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        _check_betas(betas)
        check_number("eps", eps)
        check_number("weight_decay", weight_decay)
        check_integer("warmup_steps", warmup_steps)
        check_number("r", r)
        check_number("weight_lr_power", weight_lr_power)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        defaults = {
            "lr": lr,
            "betas": (betas[0], betas[1]),
            "eps": eps,
            "weight_decay": weight_decay,
            "warmup_steps": warmup_steps,
            "r": r,
            "weight_lr_power": weight_lr_power,
            "maximize": maximize,
            "foreach": foreach,
            # the schedule's running values and the mode, per group as the reference keeps them
            "k": 0,
            "lr_max": -1.0,
            "weight_sum": 0.0,
            "scheduled_lr": 0.0,
            "train_mode": False,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # schedulefree's state dicts have no maximize
            group.setdefault("maximize", False)

    @property
    def train_mode(self) -> bool:
        """Whether the parameters hold the training point :math:`y` (after :meth:`train`), not the average
        :math:`x` (after :meth:`eval`, and before the first :meth:`train`)."""
        return all(group["train_mode"] for group in self.param_groups)

    @torch.no_grad()
    def train(self) -> None:
        """Move the parameters to :math:`y`, where gradients are taken; a no-op in train mode."""
        for group in self.param_groups:
            if not group["train_mode"]:
                for param in group["params"]:
                    z = self.state.get(param, {}).get("z")
                    if z is not None:
                        to_training_point_(param, z, group["betas"][0])
                group["train_mode"] = True

    @torch.no_grad()
    def eval(self) -> None:
        """Move the parameters to the average :math:`x`, the point to evaluate, checkpoint and export; a no-op in
        eval mode."""
        for group in self.param_groups:
            if group["train_mode"]:
                for param in group["params"]:
                    z = self.state.get(param, {}).get("z")
                    if z is not None:
                        to_average_point_(param, z, group["betas"][0])
                group["train_mode"] = False

    def step(self, closure: Closure | None = None) -> Any:
        """Perform one optimization step (train mode only) and return the closure's loss.

        Args:
            closure: re-evaluates the model and returns the loss. It runs with gradients enabled,
                before any parameter is updated, exactly once.

        Raises:
            RuntimeError: in eval mode, before the closure runs.
        """
        if not self.train_mode:
            raise RuntimeError(
                f"{type(self).__name__}.step() was called in eval mode: the parameters hold the average x, not the "
                "training point y. Call optimizer.train() before training steps and optimizer.eval() before "
                "evaluating or saving (see optimizers.train_eval)."
            )
        return super().step(closure)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if self.param_groups:  # a group added later joins the mode the others are in
            param_group.setdefault("train_mode", self.train_mode)
        super().add_param_group(param_group)

    def _hyperparameters(self, group: dict[str, Any]) -> AdamWScheduleFreeHyperparameters:
        beta1, beta2 = group["betas"]
        # the group's schedule advances here: once per step, also when none of its tensors has a gradient
        step, lr, ckp1 = advance_schedule(group)
        return read_group(
            group,
            AdamWScheduleFreeHyperparameters,
            lr=lr,
            ckp1=ckp1,
            bias_correction2=bias_correction(beta2, step),
            beta1=beta1,
            beta2=beta2,
        )

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {
            "z": param.detach().clone(memory_format=torch.preserve_format),
            "exp_avg_sq": zeros_like(param),
        }

    def _update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: AdamWScheduleFreeHyperparameters
    ) -> None:
        adamw_schedulefree(param, grad, state["z"], state["exp_avg_sq"], **hyperparameters)

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: AdamWScheduleFreeHyperparameters,
    ) -> None:
        adamw_schedulefree_foreach(
            params,
            grads,
            [state["z"] for state in states],
            [state["exp_avg_sq"] for state in states],
            **hyperparameters,
        )


def _check_betas(betas: object) -> None:
    r"""``betas`` as :func:`~optimizers._base.check_betas` checks them, but with :math:`\beta_1 \in (0, 1]`."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"Invalid betas value: {betas!r} (expected a pair (beta1, beta2))")
    check_number("betas[0]", betas[0], high=1.0, low_open=True)  # eval() divides by beta1
    check_number("betas[1]", betas[1], high=1.0, high_open=True)


def advance_schedule(group: dict[str, Any]) -> tuple[int, float, float]:
    r"""Count a step of ``group`` and return :math:`t`, the warmed-up rate :math:`\gamma_t` and the averaging
    weight :math:`c_{t+1}`, updating the group's ``k``, ``scheduled_lr``, ``lr_max`` and ``weight_sum``.

    :math:`c_{t+1}` is 0 while every weight so far is 0 (``lr=0`` with ``weight_lr_power > 0``).
    """
    step = group["k"] + 1
    warmup_steps = group["warmup_steps"]
    lr = group["lr"] * (step / warmup_steps if step <= warmup_steps else 1.0)
    lr_max = group["lr_max"] = max(lr, group["lr_max"])
    weight = (step ** group["r"]) * (lr_max ** group["weight_lr_power"])
    weight_sum = group["weight_sum"] = group["weight_sum"] + weight
    group["scheduled_lr"] = lr
    group["k"] = step
    return step, lr, weight / weight_sum if weight_sum != 0 else 0.0


def adamw_schedulefree(
    param: Tensor,
    grad: Tensor,
    z: Tensor,
    exp_avg_sq: Tensor,
    *,
    lr: float,
    ckp1: float,
    bias_correction2: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    r"""One step of Schedule-Free AdamW on ``param``, which holds :math:`y`, in place: ``lr`` is :math:`\gamma_t`,
    ``ckp1`` :math:`c_{t+1}` (:func:`advance_schedule`) and ``bias_correction2`` :math:`1 - \beta_2^t`, with
    :math:`t` the group's step count."""
    grad = signed(grad, maximize)
    ema_square_(exp_avg_sq, grad, beta2)
    denom = exp_avg_sq.div(bias_correction2).sqrt_().add_(eps)
    normalized = grad.div(denom)
    if weight_decay != 0:
        normalized.add_(param, alpha=weight_decay)  # AdamW's decay, taken at y
    param.lerp_(z, ckp1)
    param.add_(normalized, alpha=lr * (beta1 * (1 - ckp1) - 1))
    z.sub_(normalized, alpha=lr)


def adamw_schedulefree_foreach(
    params: Tensors,
    grads: Tensors,
    zs: Tensors,
    exp_avg_sqs: Tensors,
    *,
    lr: float,
    ckp1: float,
    bias_correction2: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """:func:`adamw_schedulefree` on lists of tensors (one device and dtype)."""
    grads = signed_foreach(grads, maximize)
    ema_square_foreach_(exp_avg_sqs, grads, beta2)
    denoms = torch._foreach_div(exp_avg_sqs, bias_correction2)
    torch._foreach_sqrt_(denoms)
    torch._foreach_add_(denoms, eps)
    normalized = torch._foreach_div(grads, denoms)
    if weight_decay != 0:
        torch._foreach_add_(normalized, params, alpha=weight_decay)
    torch._foreach_lerp_(params, zs, ckp1)
    torch._foreach_add_(params, normalized, alpha=lr * (beta1 * (1 - ckp1) - 1))
    torch._foreach_sub_(zs, normalized, alpha=lr)


def to_average_point_(param: Tensor, z: Tensor, beta1: float) -> Tensor:
    r"""``param`` from :math:`y` to :math:`x = (y - (1 - \beta_1) z) / \beta_1`, in place (``z`` may sit on
    another device: Lightning moves optimizer state to the CPU when a fit ends)."""
    return param.lerp_(z.to(param.device), 1 - 1 / beta1)


def to_training_point_(param: Tensor, z: Tensor, beta1: float) -> Tensor:
    r"""``param`` from :math:`x` to :math:`y = (1 - \beta_1) z + \beta_1 x`, in place."""
    return param.lerp_(z.to(param.device), 1 - beta1)
