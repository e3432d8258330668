"""Adafactor: a second moment kept as row and column averages, and steps relative to each tensor's own scale."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypedDict

import torch
from torch import Tensor

from ._base import ScratchOptimizer, check_flag, check_number, read_group
from ._primitives import (
    Tensors,
    count_step,
    count_steps,
    decay_weights_,
    decay_weights_foreach_,
    scalar_state,
    signed,
    signed_foreach,
    zeros_like,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from torch.optim.optimizer import ParamsT

__all__ = [
    "Adafactor",
    "AdafactorHyperparameters",
    "adafactor",
    "adafactor_foreach",
    "clip_divisor",
    "resolve_eps1",
    "step_size",
]


class AdafactorHyperparameters(TypedDict):
    """The keywords of :func:`adafactor` and :func:`adafactor_foreach` that a param group holds, read once per
    step (``eps`` split into ``eps1`` and ``eps2``)."""

    lr: float
    beta2_decay: float
    eps1: float | None
    eps2: float
    d: float
    weight_decay: float
    maximize: bool


class Adafactor(ScratchOptimizer[AdafactorHyperparameters]):
    r"""Adafactor: Adam's second moment without the momentum, stored for a matrix as one average per row and one
    per column, with steps sized relative to each tensor's RMS and clipped by the update's own RMS.

    With ``lr`` :math:`\gamma`, ``beta2_decay`` :math:`\tau \le 0`, ``eps`` :math:`(\epsilon_1, \epsilon_2)`,
    clipping threshold :math:`d` and weight decay :math:`\lambda`, step :math:`t = 1, 2, \dots` on a tensor
    :math:`\theta` whose last two dimensions are :math:`n \times m` is (this is torch's arithmetic)

    .. math::
        G_t &\leftarrow \pm\nabla f(\theta_{t-1}), \qquad
            1 - \hat\beta_{2,t} = t^{\tau}, \qquad \rho_t = \min(\gamma, 1/\sqrt t) \\
        \alpha_t &\leftarrow \max(\epsilon_2, \mathrm{RMS}(\theta_{t-1}))\, \rho_t, \qquad
            \theta_{t-1} \leftarrow (1 - \gamma\lambda)\, \theta_{t-1} \\
        \text{2 or more dims: } R_t &\leftarrow \hat\beta_{2,t} R_{t-1}
                + (1 - \hat\beta_{2,t})\, \mathrm{mean}_{\text{cols}}(G_t^2) \quad (n \times 1) \\
            C_t &\leftarrow \hat\beta_{2,t} C_{t-1}
                + (1 - \hat\beta_{2,t})\, \mathrm{mean}_{\text{rows}}(G_t^2) \quad (1 \times m) \\
            \hat V_t &\leftarrow R_t C_t / \max(\mathrm{mean}(R_t), \epsilon_1) \\
        \text{0 or 1 dim: } \hat V_t &\leftarrow \hat\beta_{2,t} \hat V_{t-1} + (1 - \hat\beta_{2,t})\, G_t^2 \\
        U_t &\leftarrow G_t / \sqrt{\max(\hat V_t, \epsilon_1^2)}, \qquad
            \hat U_t \leftarrow U_t / \max(1, \mathrm{RMS}(U_t)/d) \\
        \theta_t &\leftarrow \theta_{t-1} - \alpha_t \hat U_t

    :math:`\hat V_t` is the rank-1 matrix closest to the average of :math:`G^2` (in the paper's I-divergence),
    so an :math:`n \times m` weight costs :math:`n + m` numbers of state instead of :math:`nm`; tensors of more
    dimensions keep a pair per leading index. :math:`\epsilon_1` = ``None`` (the default) is the machine
    epsilon of the tensor's dtype (1.19e-7 in float32, 2.22e-16 in float64).

    What ``lr`` means. A step moves a tensor by :math:`\alpha_t \hat U_t`, whose RMS is at most
    :math:`d\,\alpha_t`: with the default ``lr=1e-2`` about 1% of the tensor's own RMS per step, and
    :math:`\epsilon_2 \gamma = 10^{-5}` per step for a tensor still at zero (biases) until it grows. ``lr``
    caps the relative step :math:`\rho_t = \min(\gamma, 1/\sqrt t)`: it is :math:`\gamma` for the first
    :math:`1/\gamma^2` steps (10,000 at 1e-2), then :math:`1/\sqrt t` whatever ``lr`` is, so a learning-rate
    schedule acts only while it stays below :math:`1/\sqrt t`. It also scales weight decay, by
    :math:`\gamma\lambda` per step (``lr`` itself, not :math:`\rho_t` or :math:`\alpha_t`).

    State: ``step`` :math:`t`; ``row_var`` :math:`R` (shape ``(..., n, 1)``) and ``col_var`` :math:`C`
    (``(..., 1, m)``) for a tensor of 2 or more dimensions, ``variance`` :math:`\hat V` (its shape) otherwise.

    Paper: Shazeer & Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory Cost" (ICML 2018),
    Algorithms 4 and 5 with Section 9's choices :math:`\rho_t = \min(10^{-2}, 1/\sqrt t)`,
    :math:`\hat\beta_{2,t} = 1 - t^{-0.8}`, :math:`d = 1`, :math:`\epsilon_1 = 10^{-30}`,
    :math:`\epsilon_2 = 10^{-3}`, no momentum.

    Conventions:
        * Learning rate. The paper has none: :math:`10^{-2}` in :math:`\rho_t` is a constant. Torch (and this
          class) make it ``lr``, so the default ``lr=1e-2`` is the paper's schedule.
        * :math:`\epsilon_1`. The paper, Hugging Face and Keras add :math:`\epsilon_1 = 10^{-30}` to
          :math:`G_t^2`; torch (and this class) leave :math:`R, C, \hat V` alone and clamp
          :math:`\mathrm{mean}(R_t)` at :math:`\epsilon_1` and :math:`\hat V_t` at :math:`\epsilon_1^2`. A
          coordinate with :math:`|g| = 10^{-10}` (first step, float32, 1-D) gets :math:`U = \pm 1` in the paper
          (:math:`g/\sqrt{g^2 + 10^{-30}}`) but :math:`10^{-10}/1.19\cdot10^{-7} = 8.4\cdot10^{-4}` here:
          gradients below :math:`\epsilon_1` in size are damped, not normalised. Torch also averages where the
          paper sums; :math:`\hat V_t` is the same.
        * Hugging Face (``transformers.Adafactor``): its defaults ``lr=None, relative_step=True`` are the paper's
          :math:`\rho_t`; a given ``lr`` needs ``relative_step=False`` and is then a constant :math:`\rho` (no
          :math:`1/\sqrt t`), still times :math:`\max(\epsilon_2, \mathrm{RMS}(\theta))` while
          ``scale_parameter=True`` (its default); ``eps=(1e-30, 1e-3)`` added as the paper;
          ``clip_threshold=1.0, decay_rate=-0.8``; an optional momentum ``beta1`` (torch has none); weight decay
          scaled by :math:`\alpha_t`, not ``lr``: :math:`\theta \leftarrow (1 - \lambda\alpha_t)\theta`.
        * tf.keras (``keras.optimizers.Adafactor``): ``learning_rate=1e-3`` caps :math:`\rho_t` at
          :math:`10^{-3}`, so its steps are 10 times smaller than torch's and the paper's for the first
          :math:`10^4` steps, and the gap closes until both are :math:`1/\sqrt t` from step :math:`10^6`;
          ``epsilon_1=1e-30`` added to :math:`G_t^2` as the paper; ``epsilon_2=1e-3,
          clip_threshold=1.0, beta_2_decay=-0.8`` as torch; no weight decay by default, and when set it is
          :math:`\theta \leftarrow \theta - \lambda\gamma\theta` with Keras' own ``learning_rate``.
        * ``foreach=None`` takes the multi-tensor path on the CPU and CUDA, as for every optimizer here; torch's
          Adafactor takes its single-tensor path for ``None``, because the multi-tensor one holds a
          parameter-sized update for every tensor of a group at once. The results are the same; pass
          ``foreach=False`` for torch's peak memory.
        * :math:`\epsilon_1` = ``None`` in a group that mixes dtypes: torch takes the machine epsilon of the
          group's first tensor for all of them; this class takes each tensor's own.

    Args:
        {_params_doc}
        lr: :math:`\gamma \ge 0`, the cap on the relative step size :math:`\rho_t` (and the weight decay's
            factor), not an absolute step.
        beta2_decay: :math:`\tau \le 0`; the second moment's average gives the new :math:`G^2` the weight
            :math:`t^{\tau}` (1 at the first step, then :math:`t^{-0.8}` by default).
        eps: :math:`(\epsilon_1, \epsilon_2)`: :math:`\epsilon_1 \ge 0` (or ``None``, the dtype's machine
            epsilon) floors :math:`\sqrt{\hat V}`; :math:`\epsilon_2 \ge 0` floors the tensor's RMS in the
            step size.
        d: clipping threshold :math:`d \ge 1` on the RMS of the update :math:`U_t`.
        weight_decay: :math:`\lambda \ge 0`, decoupled: the weights shrink by :math:`\gamma\lambda` per step.
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        check_number("lr", lr)
        check_number("beta2_decay", beta2_decay, low=-math.inf, high=0.0)
        _check_eps(eps)
        check_number("d", d, low=1.0)
        check_number("weight_decay", weight_decay)
        check_flag("maximize", maximize)
        check_flag("foreach", foreach, allow_none=True)
        defaults = {
            "lr": lr,
            "beta2_decay": beta2_decay,
            "eps": (eps[0], eps[1]),
            "d": d,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
        }
        super().__init__(params, defaults)

    def _hyperparameters(self, group: dict[str, Any]) -> AdafactorHyperparameters:
        eps1, eps2 = group["eps"]
        return read_group(group, AdafactorHyperparameters, eps1=eps1, eps2=eps2)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        if param.dim() >= 2:
            return {
                "step": scalar_state(),
                "row_var": param.new_zeros((*param.shape[:-1], 1)),
                "col_var": param.new_zeros((*param.shape[:-2], 1, param.shape[-1])),
            }
        return {"step": scalar_state(), "variance": zeros_like(param)}

    def _update(
        self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: AdafactorHyperparameters
    ) -> None:
        adafactor(
            param,
            grad,
            state.get("row_var"),
            state.get("col_var"),
            state.get("variance"),
            step=count_step(state["step"]),
            **hyperparameters,
        )

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: AdafactorHyperparameters,
    ) -> None:
        adafactor_foreach(
            params,
            grads,
            [state.get("row_var") for state in states],
            [state.get("col_var") for state in states],
            [state.get("variance") for state in states],
            steps=count_steps([state["step"] for state in states]),
            **hyperparameters,
        )


def adafactor(
    param: Tensor,
    grad: Tensor,
    row_var: Tensor | None,
    col_var: Tensor | None,
    variance: Tensor | None,
    *,
    step: float,
    lr: float,
    beta2_decay: float,
    eps1: float | None,
    eps2: float,
    d: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """Step ``step`` (1-based) of Adafactor on ``param`` in place: factored (``row_var`` and ``col_var`` given)
    for 2 or more dimensions, else on the full ``variance`` (torch's single-tensor arithmetic, op for op)."""
    grad = signed(grad, maximize)
    eps1 = resolve_eps1(eps1, param.dtype)
    new_weight = step**beta2_decay  # 1 - beta2_t, the weight of this step's G^2
    alpha = step_size(torch.linalg.vector_norm(param).item(), param.numel(), lr=lr, eps2=eps2, step=step)
    decay_weights_(param, lr, weight_decay)
    if variance is None:
        assert row_var is not None and col_var is not None, "a tensor of 2 or more dimensions has row_var, col_var"
        row_mean = torch.linalg.vector_norm(grad, dim=-1, keepdim=True).square_().div_(grad.size(-1))
        row_var.lerp_(row_mean, new_weight)
        col_mean = torch.linalg.vector_norm(grad, dim=-2, keepdim=True).square_().div_(grad.size(-2))
        col_var.lerp_(col_mean, new_weight)
        var_estimate = (row_var @ col_var).div_(row_var.mean(dim=-2, keepdim=True).clamp_min_(eps1))
    else:
        variance.lerp_(grad * grad, new_weight)
        var_estimate = variance.clone()
    update = var_estimate.clamp_min_(eps1 * eps1).rsqrt_().mul_(grad)
    param.add_(update, alpha=-alpha / clip_divisor(torch.linalg.vector_norm(update).item(), update.numel(), d))


def adafactor_foreach(
    params: Tensors,
    grads: Tensors,
    row_vars: Sequence[Tensor | None],
    col_vars: Sequence[Tensor | None],
    variances: Sequence[Tensor | None],
    *,
    steps: list[float],
    lr: float,
    beta2_decay: float,
    eps1: float | None,
    eps2: float,
    d: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    r""":func:`adafactor` on lists of tensors (one device and dtype; matrices and vectors may mix), ``steps[i]``
    being ``params[i]``'s count.

    No ``torch._foreach_*`` op reduces along one dimension, multiplies matrices, averages along a dimension or
    adds with a different ``alpha`` per tensor, so the row and column means of :math:`G^2`, the product
    :math:`R_t C_t`, the mean of :math:`R_t` and the final ``add_`` loop over the tensors (as does the copy of
    :math:`\hat V_t` that the update is built in); every other equation is one ``_foreach`` call for the whole
    list, the 2-norms of parameters and updates included. (Torch's own multi-tensor path multiplies the updates
    by their step sizes and then adds them: one rounding more than its single-tensor path, which this follows.)
    """
    if not params:
        return
    grads = signed_foreach(grads, maximize)
    eps1 = resolve_eps1(eps1, params[0].dtype)
    new_weights = [step**beta2_decay for step in steps]
    alphas = [
        step_size(norm.item(), param.numel(), lr=lr, eps2=eps2, step=step)
        for norm, param, step in zip(torch._foreach_norm(params), params, steps, strict=True)
    ]
    decay_weights_foreach_(params, lr, weight_decay)
    factored = [i for i, variance in enumerate(variances) if variance is None]
    full = [i for i, variance in enumerate(variances) if variance is not None]
    var_estimates: dict[int, Tensor] = {}
    if factored:
        factored_grads = [grads[i] for i in factored]
        factored_weights = [new_weights[i] for i in factored]
        factored_rows = _present([row_vars[i] for i in factored], "row_var")
        factored_cols = _present([col_vars[i] for i in factored], "col_var")
        row_means = [torch.linalg.vector_norm(grad, dim=-1, keepdim=True) for grad in factored_grads]
        torch._foreach_pow_(row_means, 2)
        torch._foreach_div_(row_means, [grad.size(-1) for grad in factored_grads])
        torch._foreach_lerp_(factored_rows, row_means, factored_weights)
        col_means = [torch.linalg.vector_norm(grad, dim=-2, keepdim=True) for grad in factored_grads]
        torch._foreach_pow_(col_means, 2)
        torch._foreach_div_(col_means, [grad.size(-2) for grad in factored_grads])
        torch._foreach_lerp_(factored_cols, col_means, factored_weights)
        products = [row_var @ col_var for row_var, col_var in zip(factored_rows, factored_cols, strict=True)]
        row_var_means = [row_var.mean(dim=-2, keepdim=True) for row_var in factored_rows]
        torch._foreach_clamp_min_(row_var_means, eps1)
        torch._foreach_div_(products, row_var_means)
        var_estimates.update(zip(factored, products, strict=True))
    if full:
        full_grads = [grads[i] for i in full]
        full_variances = _present([variances[i] for i in full], "variance")
        torch._foreach_lerp_(full_variances, torch._foreach_mul(full_grads, full_grads), [new_weights[i] for i in full])
        var_estimates.update(zip(full, [variance.clone() for variance in full_variances], strict=True))
    updates = [var_estimates[i] for i in range(len(params))]
    torch._foreach_clamp_min_(updates, eps1 * eps1)
    torch._foreach_rsqrt_(updates)
    torch._foreach_mul_(updates, grads)
    norms = torch._foreach_norm(updates)
    for param, update, alpha, norm in zip(params, updates, alphas, norms, strict=True):
        param.add_(update, alpha=-alpha / clip_divisor(norm.item(), update.numel(), d))


def resolve_eps1(eps1: float | None, dtype: torch.dtype) -> float:
    r""":math:`\epsilon_1`: the value given, or for ``None`` the machine epsilon of ``dtype`` (torch's default)."""
    return torch.finfo(dtype).eps if eps1 is None else eps1


def step_size(param_norm: float, numel: int, *, lr: float, eps2: float, step: float) -> float:
    r"""The step size :math:`\alpha_t = \max(\epsilon_2, \mathrm{RMS}(\theta))\,\min(\gamma, 1/\sqrt t)` of a
    tensor of ``numel`` entries and 2-norm ``param_norm``."""
    return float(max(eps2, param_norm / (numel**0.5)) * min(lr, 1 / (step**0.5)))


def clip_divisor(update_norm: float, numel: int, d: float) -> float:
    r"""Update clipping's divisor :math:`\max(1, \mathrm{RMS}(U)/d)` for an update of ``numel`` entries and
    2-norm ``update_norm``."""
    return float(max(1.0, update_norm / ((numel**0.5) * d)))


def _check_eps(eps: object) -> None:
    """Raise ``ValueError`` unless ``eps`` is a pair ``(eps1, eps2)``, ``eps1`` ``None`` or a number ``>= 0``."""
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        raise ValueError(f"Invalid eps value: {eps!r} (expected a pair (eps1, eps2), eps1 a number or None)")
    if eps[0] is not None:
        check_number("eps[0]", eps[0])
    check_number("eps[1]", eps[1])


def _present(tensors: list[Tensor | None], name: str) -> list[Tensor]:
    """``tensors`` typed as present: the state that a tensor's number of dimensions gives it."""
    missing = [index for index, tensor in enumerate(tensors) if tensor is None]
    assert not missing, f"{name} missing for tensors {missing}"
    return [tensor for tensor in tensors if tensor is not None]
