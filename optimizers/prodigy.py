"""Prodigy: Adam whose step size d is estimated on the fly from how far the parameters have moved."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import Tensor

from ._base import (
    Closure,
    ScratchOptimizer,
    by_device_and_dtype,
    check_betas,
    check_flag,
    check_integer,
    check_number,
    evaluate,
    read_group,
    use_foreach,
)
from ._primitives import (
    Tensors,
    bias_correction,
    count_step,
    count_steps,
    l2_penalty,
    l2_penalty_foreach,
    scalar_state,
    signed,
    signed_foreach,
    zeros_like,
)

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

__all__ = [
    "OPTIMIZER_WIDE",
    "Prodigy",
    "ProdigyHyperparameters",
    "ProdigySharedValues",
    "descent_gradient",
    "descent_gradient_foreach",
    "next_d",
    "prodigy_estimate",
    "prodigy_estimate_foreach",
    "prodigy_step",
    "prodigy_step_foreach",
]

OPTIMIZER_WIDE = ("betas", "beta3", "d0", "d_coef", "growth_rate", "decouple", "use_bias_correction", "fsdp_in_use")
"""The hyperparameters that shape the one estimate of d: every param group must hold the same value."""


class ProdigyHyperparameters(TypedDict):
    """A param group's own values, read once per step."""

    lr: float
    eps: float
    weight_decay: float
    safeguard_warmup: bool
    slice_p: int
    maximize: bool


class ProdigySharedValues(TypedDict):
    """The optimizer-wide values, read once per step from the first param group: the hyperparameters of
    :data:`OPTIMIZER_WIDE` (``betas`` split, ``beta3`` resolved) and the estimate's state."""

    beta1: float
    beta2: float
    beta3: float
    d0: float
    d_coef: float
    growth_rate: float
    decouple: bool
    use_bias_correction: bool
    d: float
    d_max: float
    d_numerator: float
    k: int


class Prodigy(ScratchOptimizer[ProdigyHyperparameters]):
    r"""Prodigy: Adam whose step size :math:`d` is estimated from the gradients and the distance travelled from
    the starting point, so ``lr`` stays at 1.

    With multiplier :math:`\gamma` (``lr``), :math:`(\beta_1, \beta_2)` (``betas``), :math:`\beta_3`
    (``beta3``, default :math:`\sqrt{\beta_2}`), :math:`\epsilon` (``eps``), weight decay :math:`\lambda`,
    :math:`d_1 = d_0` (``d0``), coefficient :math:`c` (``d_coef``), growth cap :math:`G` (``growth_rate``),
    the starting point :math:`\theta_0` and Adam's bias correction :math:`b_t = \sqrt{1 - \beta_2^t} / (1 -
    \beta_1^t)` (1 unless ``use_bias_correction``), step :math:`t = 1, 2, \dots` is, with :math:`\eta_t = d_t
    \gamma b_t` and sums running over every parameter of every group:

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) \ (+\, \lambda\theta_{t-1} \text{ unless decoupled}) \\
        m_t &\leftarrow \beta_1 m_{t-1} + (1 - \beta_1)\, d_t g_t, \qquad
            v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2)\, d_t^2 g_t^2 \\
        s_t &\leftarrow \beta_3 s_{t-1} + \tfrac{d_t}{d_0}\, \eta_t\, g_t \qquad
            (\tfrac{d_t}{d_0}\, d_t\, g_t \text{ with safeguard\_warmup}) \\
        r_t &\leftarrow \beta_3 r_{t-1} + \textstyle\sum \tfrac{d_t}{d_0}\, \eta_t
            \langle g_t, \theta_0 - \theta_{t-1} \rangle \\
        \hat d_t &= c\, r_t / \textstyle\sum \|s_t\|_1, \qquad d_{\max} \leftarrow \max(d_{\max}, \hat d_t), \qquad
            d_{t+1} = \min(d_{\max},\, G\, d_t) \\
        \theta_t &\leftarrow \theta_{t-1} - \eta_t \lambda\, \theta_{t-1} \ \text{(decoupled)}, \qquad
            \theta_t \leftarrow \theta_t - \eta_t\, \frac{m_t}{\sqrt{v_t} + d_{t+1} \epsilon}
            \quad \Big(\beta_1 = 0:\ \eta_t d_{t+1} \frac{g_t}{\sqrt{v_t} + d_{t+1}\epsilon}\Big)

    While :math:`d_t = d_0` it may jump to :math:`\hat d_t` at once (:math:`d_t \leftarrow \max(d_t, \hat d_t)`
    before the cap). A step where :math:`\sum\|s_t\|_1 = 0` (every gradient zero so far, or every group's
    ``lr`` 0) moves no parameter and counts no step. A group with ``lr`` 0 is frozen: its moments and ``s``
    stay, and it adds nothing to the sums.

    The estimate is one reduction over all parameters: each tensor's :math:`\langle g, \theta_0 - \theta\rangle`
    and :math:`\|s\|_1` are reduced in the tensor's dtype, then summed as Python floats (float64) in parameter
    order, as the reference does. So :meth:`step` runs two passes over all groups (moments and the two sums,
    then the new :math:`d`, then the parameter update) instead of the base class's one pass per group; the
    multi-tensor twin updates the moments with ``torch._foreach_*`` ops but keeps one ``torch.dot`` and one
    ``abs().sum()`` per tensor, and adds them up in the same order. In float32 any other order (a
    ``torch._foreach_norm``, one sum over stacked values) changes :math:`\hat d` in its last bits, and :math:`d`
    scales every later step, so both paths and the reference would drift apart; this order keeps them equal
    to the last bit on the CPU.

    State: ``step``, ``exp_avg`` :math:`m` (absent when :math:`\beta_1 = 0`), ``exp_avg_sq`` :math:`v`, ``s``
    and ``p0`` :math:`\theta_0` (each of every ``slice_p``-th entry; ``p0`` a scalar 0 for a parameter that
    starts all zero) per parameter; ``d``, ``d_max``, ``d_numerator`` :math:`r`, ``d_denom``
    :math:`\sum\|s\|_1`, ``d_hat`` and the step count ``k`` in every param group, as ``prodigyopt.Prodigy``
    keeps them (log ``group["d"] * group["lr"]`` to see the step size). ``step`` is a float32 tensor as in
    every optimizer here; the reference's integer counts are converted when its state dicts are loaded.

    Paper: Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner" (ICML 2024).
    Matches ``prodigyopt.Prodigy`` (1.1) operation for operation.

    Conventions:
        * ``lr`` is a multiplier of the estimated step size, not a step size: steps are :math:`d\gamma` in
          size (times :math:`b_t`), and ``lr=1.0`` is the intended value. To force larger or smaller
          estimates the authors advise ``d_coef`` (2 or 10; 0.5 or 0.1) over ``lr``. An lr scheduler
          multiplies :math:`\gamma`, so it shapes the steps around :math:`d`: the authors recommend none or
          cosine annealing over the whole run (``T_max`` = the number of scheduler steps), and
          ``safeguard_warmup=True`` under a warm-up or restarts (small early rates make :math:`\hat d`
          overshoot).
        * ``d0=1e-6`` is the starting estimate, meant to be far below the distance to a solution; :math:`d`
          never decreases (``growth_rate >= 1``). On the repository's quadratic started at :math:`(1, 1)`,
          :math:`\sqrt 2` from its minimum, the defaults grow :math:`d` about 2.6x a step, to 0.42 at step
          15, where it stays. The authors suggest raising ``d0`` to 1e-5 or 1e-4 only when :math:`d` stays
          tiny.
        * Adam's bias correction is off by default, so the first step is :math:`(1 - \beta_1) / \sqrt{1 -
          \beta_2} \approx 3.16` times :math:`d\gamma` per coordinate (exactly :math:`d\gamma` with
          ``use_bias_correction=True``), and later ones approach :math:`d\gamma` as the averages fill.
        * :math:`\epsilon` is scaled by :math:`d` because :math:`v` accumulates :math:`(d g)^2`:
          :math:`\sqrt{v} + d\epsilon` is Adam's :math:`\sqrt{v'} + \epsilon` on unscaled moments, scaled by
          :math:`d`. :math:`\beta_3` defaults to :math:`\sqrt{0.999} \approx 0.9995`.
        * Weight decay is decoupled by default (AdamW's, by :math:`\eta_t\lambda`); ``decouple=False`` adds
          :math:`\lambda\theta` to the gradient, so it also enters :math:`m`, :math:`v` and the estimate.
          Defaults: ``weight_decay=0``, ``eps=1e-8``, ``betas=(0.9, 0.999)``, ``growth_rate=inf``
          (``1.02``: at most 2% growth a step, a warm-up of sorts), ``slice_p=1`` (11: the estimate from
          every 11th entry, an approximation that saves memory).
        * The paper weighs :math:`r` and :math:`s` by :math:`(1 - \beta_3)\, \gamma d_t^2`; the package (and
          this class) by :math:`\gamma d_t^2 / d_0` (times :math:`b_t`). The factors cancel in
          :math:`\hat d`; stored ``d_numerator`` and ``s`` differ from the paper's by that constant.
        * One :math:`d` for all param groups: each group's ``lr`` must be the largest group's or 0 (a frozen
          group), and the values of :data:`OPTIMIZER_WIDE` must be equal in every group; :meth:`step` raises
          ``RuntimeError`` otherwise, before touching anything (the package raises on ``lr`` only, after part
          of the step, and silently uses the first group's other values). ``eps``, ``weight_decay``,
          ``safeguard_warmup``, ``slice_p`` and ``maximize`` may differ between groups.
        * Deviations from the package, both for groups with ``lr=0``: its parameters do not move (the package
          still applies decoupled weight decay to them at the other groups' rate, and with :math:`\beta_1 =
          0` moves them by :math:`d\gamma\, g / \epsilon`-sized steps); and ``.grad`` is never written (the
          package adds :math:`\lambda\theta` into it under coupled decay).
        * ``fsdp_in_use=True`` is refused, and so are parameters FSDP has flattened: with sharded parameters
          the sums above must be all-reduced across processes (the package does it with
          ``torch.distributed`` on CUDA), which a single-process, torch-only optimizer cannot do; summing one
          shard would estimate a different :math:`d` in every process.
        * Neither tf.keras 2.x nor Keras 3 has Prodigy (optax has it, without ``slice_p``).

    Args:
        {_params_doc}
        lr: multiplier :math:`\gamma \ge 0` of the estimated step size; keep 1.0.
        betas: :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`, decays of the two moments.
        beta3: :math:`\beta_3 \in [0, 1)`, decay of the estimate's sums; ``None`` takes :math:`\sqrt{\beta_2}`.
        eps: :math:`\epsilon > 0`, added (times :math:`d`) to the denominator.
        weight_decay: :math:`\lambda \ge 0`; decoupled or an L2 penalty, as ``decouple`` says.
        decouple: apply weight decay to the weights directly (AdamW), not through the gradient.
        use_bias_correction: multiply the steps by Adam's bias correction :math:`b_t`.
        safeguard_warmup: leave ``lr`` out of :math:`s` (for warm-up schedules and restarts).
        d0: initial estimate :math:`d_0 > 0`.
        d_coef: :math:`c > 0`, multiplies the estimate :math:`\hat d`.
        growth_rate: :math:`G \ge 1` (``inf`` allowed), cap on :math:`d`'s growth per step.
        fsdp_in_use: must be ``False``: sharded (FSDP) parameters are not supported.
        slice_p: estimate :math:`d` from every ``slice_p``-th entry of each tensor (an integer >= 1).
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        betas: tuple[float, float] = (0.9, 0.999),
        beta3: float | None = None,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decouple: bool = True,
        use_bias_correction: bool = False,
        safeguard_warmup: bool = False,
        d0: float = 1e-6,
        d_coef: float = 1.0,
        growth_rate: float = math.inf,
        fsdp_in_use: bool = False,
        slice_p: int = 1,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_betas(betas)
        if beta3 is not None:
            check_number("beta3", beta3, high=1.0, high_open=True)
        check_number("eps", eps, low_open=True)
        check_number("weight_decay", weight_decay)
        check_flag("decouple", decouple)
        check_flag("use_bias_correction", use_bias_correction)
        check_flag("safeguard_warmup", safeguard_warmup)
        check_number("d0", d0, low_open=True)
        check_number("d_coef", d_coef, low_open=True)
        if growth_rate != math.inf:
            check_number("growth_rate", growth_rate, low=1.0)
        check_flag("fsdp_in_use", fsdp_in_use)
        if fsdp_in_use:
            raise ValueError(f"Invalid fsdp_in_use value: {fsdp_in_use!r} (expected False: {_NO_FSDP})")
        check_integer("slice_p", slice_p, low=1)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        defaults = {
            "lr": lr,
            "betas": (betas[0], betas[1]),
            "beta3": beta3,
            "eps": eps,
            "weight_decay": weight_decay,
            "decouple": decouple,
            "use_bias_correction": use_bias_correction,
            "safeguard_warmup": safeguard_warmup,
            "d0": d0,
            "d_coef": d_coef,
            "growth_rate": growth_rate,
            "fsdp_in_use": fsdp_in_use,
            "slice_p": slice_p,
            "maximize": maximize,
            "foreach": foreach,
            # the estimate, in every group as the reference keeps it (d_denom and d_hat join after a step)
            "d": d0,
            "d_max": d0,
            "d_numerator": 0.0,
            "k": 0,
        }
        super().__init__(params, defaults)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # prodigyopt's state dicts have no maximize
            group.setdefault("maximize", False)
        for param_state in self.state.values():  # and count steps in ints
            if "step" in param_state and not torch.is_tensor(param_state["step"]):
                param_state["step"] = scalar_state(float(param_state["step"]))

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> Any:
        """Perform one optimization step and return the closure's loss (``None`` without a closure).

        Args:
            closure: re-evaluates the model and returns the loss. It runs with gradients enabled,
                before any parameter is updated, exactly once.

        Raises:
            RuntimeError: before the closure runs, when the param groups disagree on a value :math:`d` depends
                on, or a parameter is sharded by FSDP.
        """
        lr = self._check_groups()
        loss = evaluate(closure)
        shared = self._shared_values()
        d, d0 = shared["d"], shared["d0"]
        t = shared["k"] + 1
        correction = bias_correction(shared["beta2"], t) ** 0.5 / bias_correction(shared["beta1"], t)
        correction = correction if shared["use_bias_correction"] else 1
        dlr = d * lr * correction

        # pass 1: every tensor's moments and s, and the estimate's two sums, in parameter order
        gathered = [(group, *self._gather(group)) for group in self.param_groups]
        passes: list[tuple[dict[str, Any], ProdigyHyperparameters, list[Tensor], list[Tensor], bool]] = []
        delta_numerator = denominator = 0.0
        for group, params, grads in gathered:
            values = self._hyperparameters(group)
            foreach = use_foreach(group["foreach"], [*params, *grads])
            estimate = self._estimate_foreach if foreach else self._estimate
            directions, dots, norms = estimate(params, grads, values, shared, d=d, dlr=dlr)
            passes.append((group, values, params, directions, foreach))
            for dot, norm in zip(dots, norms, strict=True):
                delta_numerator += (d / d0) * dlr * dot.item()
                denominator += norm.item()
        if denominator == 0:
            return loss

        numerator = shared["d_numerator"] * shared["beta3"] + delta_numerator
        d_hat = shared["d_coef"] * numerator / denominator
        d_next, d_max = next_d(d, shared["d_max"], d_hat, d0=d0, growth_rate=shared["growth_rate"])

        # pass 2: the parameters, each group at its own rate (0 for a frozen group)
        for group, values, params, directions, foreach in passes:
            group.update(d_numerator=numerator, d_denom=denominator, d=d_next, d_max=d_max, d_hat=d_hat)
            step_values: dict[str, Any] = {
                "d": d_next,
                "dlr": d * values["lr"] * correction,
                "eps": values["eps"],
                "weight_decay": values["weight_decay"],
                "decouple": shared["decouple"],
                "beta1": shared["beta1"],
            }
            if foreach:
                for split_params, split_directions in by_device_and_dtype(params, directions):
                    states = [self.state[param] for param in split_params]
                    count_steps([state["step"] for state in states])
                    prodigy_step_foreach(
                        split_params,
                        split_directions,
                        [state["exp_avg"] for state in states] if shared["beta1"] > 0 else None,
                        [state["exp_avg_sq"] for state in states],
                        **step_values,
                    )
            else:
                for param, direction in zip(params, directions, strict=True):
                    state = self.state[param]
                    count_step(state["step"])
                    prodigy_step(param, direction, state.get("exp_avg"), state["exp_avg_sq"], **step_values)
            group["k"] += 1
        return loss

    def _check_groups(self) -> float:
        """The largest ``lr`` of any group, after checking what one shared :math:`d` needs of the groups."""
        first = self.param_groups[0]
        lr = max(group["lr"] for group in self.param_groups)
        for index, group in enumerate(self.param_groups):
            for key in OPTIMIZER_WIDE:
                if _comparable(group[key]) != _comparable(first[key]):
                    raise RuntimeError(
                        f"Prodigy: param group {index} has {key}={group[key]!r}, group 0 {key}={first[key]!r}; "
                        f"the one estimate of d shared by all groups needs the same {key} in every group"
                    )
            if group["lr"] not in (lr, 0.0):
                raise RuntimeError(
                    f"Prodigy: param group {index} has lr={group['lr']!r}; with one d for all groups, each group's "
                    f"lr must be the largest ({lr!r}) or 0 (frozen)"
                )
            if group["fsdp_in_use"] or any(hasattr(param, "_fsdp_flattened") for param in group["params"]):
                raise RuntimeError(
                    f"Prodigy: param group {index} is sharded by FSDP, which is not supported: {_NO_FSDP}"
                )
        return float(lr)

    def _shared_values(self) -> ProdigySharedValues:
        first = self.param_groups[0]
        beta1, beta2 = first["betas"]
        beta3 = first["beta3"] if first["beta3"] is not None else math.sqrt(beta2)
        return read_group(first, ProdigySharedValues, beta1=beta1, beta2=beta2, beta3=beta3)

    def _hyperparameters(self, group: dict[str, Any]) -> ProdigyHyperparameters:
        return read_group(group, ProdigyHyperparameters)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        sliced = param.detach().flatten()[:: group["slice_p"]]
        state = {
            "step": scalar_state(),
            "s": zeros_like(sliced),
            "p0": sliced.clone() if param.any() else torch.tensor(0, dtype=param.dtype, device=param.device),
            "exp_avg_sq": zeros_like(param),
        }
        if group["betas"][0] > 0:
            state["exp_avg"] = zeros_like(param)
        return state

    def _estimate(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        values: ProdigyHyperparameters,
        shared: ProdigySharedValues,
        *,
        d: float,
        dlr: float,
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """Pass 1 for a group, one tensor at a time: the descent directions and each tensor's two terms of the
        estimate (none when the group's ``lr`` is 0)."""
        directions = [
            descent_gradient(grad, param, **_descent_values(values, shared))
            for param, grad in zip(params, grads, strict=True)
        ]
        dots: list[Tensor] = []
        norms: list[Tensor] = []
        if values["lr"] > 0:
            for param, direction in zip(params, directions, strict=True):
                state = self.state[param]
                dot, norm = prodigy_estimate(
                    param,
                    direction,
                    state.get("exp_avg"),
                    state["exp_avg_sq"],
                    state["s"],
                    state["p0"],
                    **_estimate_values(values, shared, d=d, dlr=dlr),
                )
                dots.append(dot)
                norms.append(norm)
        return directions, dots, norms

    def _estimate_foreach(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        values: ProdigyHyperparameters,
        shared: ProdigySharedValues,
        *,
        d: float,
        dlr: float,
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
        """:meth:`_estimate` with ``torch._foreach_*`` ops, one call per device and dtype; the results come back
        in parameter order, so the sums add up as on the single-tensor path."""
        results: dict[Tensor, tuple[Tensor, Tensor | None, Tensor | None]] = {}
        for split_params, split_grads in by_device_and_dtype(params, grads):
            directions = descent_gradient_foreach(split_grads, split_params, **_descent_values(values, shared))
            if values["lr"] > 0:
                states = [self.state[param] for param in split_params]
                dots, norms = prodigy_estimate_foreach(
                    split_params,
                    directions,
                    [state["exp_avg"] for state in states] if shared["beta1"] > 0 else None,
                    [state["exp_avg_sq"] for state in states],
                    [state["s"] for state in states],
                    [state["p0"] for state in states],
                    **_estimate_values(values, shared, d=d, dlr=dlr),
                )
                results.update(zip(split_params, zip(directions, dots, norms, strict=True), strict=True))
            else:
                results.update(
                    (param, (direction, None, None)) for param, direction in zip(split_params, directions, strict=True)
                )
        ordered = [results[param] for param in params]
        return (
            [direction for direction, _, _ in ordered],
            [dot for _, dot, _ in ordered if dot is not None],
            [norm for _, _, norm in ordered if norm is not None],
        )


def _comparable(value: Any) -> Any:
    """``betas`` read from a list or a tuple compare alike."""
    return tuple(value) if isinstance(value, list) else value


_NO_FSDP = "sharded parameters need the estimate's sums all-reduced across processes, which this optimizer does not do"


def _descent_values(values: ProdigyHyperparameters, shared: ProdigySharedValues) -> dict[str, Any]:
    return {"maximize": values["maximize"], "weight_decay": values["weight_decay"], "decouple": shared["decouple"]}


def _estimate_values(
    values: ProdigyHyperparameters, shared: ProdigySharedValues, *, d: float, dlr: float
) -> dict[str, Any]:
    return {
        "d": d,
        "dlr": dlr,
        "d0": shared["d0"],
        "beta1": shared["beta1"],
        "beta2": shared["beta2"],
        "beta3": shared["beta3"],
        "slice_p": values["slice_p"],
        "safeguard_warmup": values["safeguard_warmup"],
    }


def descent_gradient(grad: Tensor, param: Tensor, *, maximize: bool, weight_decay: float, decouple: bool) -> Tensor:
    r""":math:`g = \pm\nabla f`, plus :math:`\lambda\theta` under coupled decay (``grad`` itself when neither
    applies; never written to)."""
    grad = signed(grad, maximize)
    return grad if decouple else l2_penalty(grad, param, weight_decay)


def descent_gradient_foreach(
    grads: Tensors, params: Tensors, *, maximize: bool, weight_decay: float, decouple: bool
) -> Tensors:
    """:func:`descent_gradient` for lists."""
    grads = signed_foreach(grads, maximize)
    return grads if decouple else l2_penalty_foreach(grads, params, weight_decay)


def prodigy_estimate(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor | None,
    exp_avg_sq: Tensor,
    s: Tensor,
    p0: Tensor,
    *,
    d: float,
    dlr: float,
    d0: float,
    beta1: float,
    beta2: float,
    beta3: float,
    slice_p: int,
    safeguard_warmup: bool,
) -> tuple[Tensor, Tensor]:
    r"""Pass 1 of a step for one tensor: update :math:`m` (unless :math:`\beta_1 = 0`), :math:`v` and
    :math:`s` in place and return this tensor's :math:`\langle g, \theta_0 - \theta\rangle` (over every
    ``slice_p``-th entry) and :math:`\|s\|_1`, as 0-dim tensors. ``grad`` is the descent direction
    (:func:`descent_gradient`), ``dlr`` is :math:`\eta_t = d_t\gamma b_t`."""
    sliced_grad = grad.flatten()[::slice_p]
    dot = torch.dot(sliced_grad, p0 - param.flatten()[::slice_p])
    if exp_avg is not None and beta1 > 0:
        exp_avg.mul_(beta1).add_(grad, alpha=d * (1 - beta1))
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=d * d * (1 - beta2))
    s.mul_(beta3).add_(sliced_grad, alpha=(d / d0) * (d if safeguard_warmup else dlr))
    return dot, s.abs().sum()


def prodigy_estimate_foreach(
    params: Tensors,
    grads: Tensors,
    exp_avgs: Tensors | None,
    exp_avg_sqs: Tensors,
    ss: Tensors,
    p0s: Tensors,
    *,
    d: float,
    dlr: float,
    d0: float,
    beta1: float,
    beta2: float,
    beta3: float,
    slice_p: int,
    safeguard_warmup: bool,
) -> tuple[list[Tensor], list[Tensor]]:
    """:func:`prodigy_estimate` for lists (one device and dtype). The reductions stay one per tensor, as the
    single-tensor function does them: the estimate's float32 parity depends on their order."""
    sliced_grads = [grad.flatten()[::slice_p] for grad in grads]
    dots = [
        torch.dot(sliced, p0 - param.flatten()[::slice_p])
        for sliced, p0, param in zip(sliced_grads, p0s, params, strict=True)
    ]
    if exp_avgs is not None and beta1 > 0:
        torch._foreach_mul_(exp_avgs, beta1)
        torch._foreach_add_(exp_avgs, grads, alpha=d * (1 - beta1))
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, value=d * d * (1 - beta2))
    torch._foreach_mul_(ss, beta3)
    torch._foreach_add_(ss, sliced_grads, alpha=(d / d0) * (d if safeguard_warmup else dlr))
    return dots, [s.abs().sum() for s in ss]


def next_d(d: float, d_max: float, d_hat: float, *, d0: float, growth_rate: float) -> tuple[float, float]:
    r"""The next estimate :math:`d_{t+1}` and the running :math:`d_{\max}`, from the current :math:`d_t` and
    this step's :math:`\hat d_t`: never below :math:`d_t`, at most :math:`G d_t` (except that the first
    move away from :math:`d_0` may go straight to :math:`\hat d_t`)."""
    if d == d0:
        d = max(d, d_hat)
    d_max = max(d_max, d_hat)
    return min(d_max, d * growth_rate), d_max


def prodigy_step(
    param: Tensor,
    grad: Tensor,
    exp_avg: Tensor | None,
    exp_avg_sq: Tensor,
    *,
    d: float,
    dlr: float,
    eps: float,
    weight_decay: float,
    decouple: bool,
    beta1: float,
) -> None:
    r"""Pass 2 of a step for one tensor, in place: ``d`` is the new estimate :math:`d_{t+1}`, ``dlr`` the step size
    :math:`\eta_t = d_t\gamma b_t` of the parameter's group (0 for a frozen group), ``grad`` the descent
    direction (used when :math:`\beta_1 = 0`)."""
    denom = exp_avg_sq.sqrt().add_(d * eps)
    if decouple and weight_decay != 0:
        param.add_(param, alpha=-weight_decay * dlr)
    if exp_avg is not None and beta1 > 0:
        param.addcdiv_(exp_avg, denom, value=-dlr)
    else:
        param.addcdiv_(grad, denom, value=-dlr * d)


def prodigy_step_foreach(
    params: Tensors,
    grads: Tensors,
    exp_avgs: Tensors | None,
    exp_avg_sqs: Tensors,
    *,
    d: float,
    dlr: float,
    eps: float,
    weight_decay: float,
    decouple: bool,
    beta1: float,
) -> None:
    """:func:`prodigy_step` for lists (one device and dtype)."""
    denoms = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denoms, d * eps)
    if decouple and weight_decay != 0:
        torch._foreach_add_(params, params, alpha=-weight_decay * dlr)
    if exp_avgs is not None and beta1 > 0:
        torch._foreach_addcdiv_(params, exp_avgs, denoms, value=-dlr)
    else:
        torch._foreach_addcdiv_(params, grads, denoms, value=-dlr * d)
