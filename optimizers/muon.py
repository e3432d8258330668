"""Muon: momentum whose update matrix is orthogonalised by a Newton–Schulz iteration; and its hybrid with AdamW
for the parameters Muon is not made for (biases, the output layer)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict

import torch
from torch import Tensor

from ._base import ScratchOptimizer, check_betas, check_flag, check_number, read_group
from ._primitives import (
    Tensors,
    count_step,
    count_steps,
    decay_weights_,
    decay_weights_foreach_,
    ema_,
    ema_foreach_,
    scalar_state,
    signed,
    signed_foreach,
    zeros_like,
)
from .adam import AdamHyperparameters, adam, adam_foreach

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

__all__ = [
    "LR_ADJUSTMENTS",
    "NS_COEFFICIENTS",
    "Muon",
    "MuonHyperparameters",
    "MuonOrAdamW",
    "MuonSplit",
    "MuonWithAdamW",
    "adjusted_lr",
    "muon",
    "muon_adamw_param_groups",
    "muon_foreach",
    "newton_schulz",
]

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
"""Keller Jordan's quintic Newton–Schulz coefficients :math:`(a, b, c)`, torch 2.14's defaults."""

_MAX_NS_STEPS = 100  # torch refuses 100 Newton–Schulz steps or more ("for computational efficiency")

LR_ADJUSTMENTS: Mapping[str, Callable[[int, int], float]] = {
    "original": lambda rows, cols: math.sqrt(max(1, rows / cols)),
    "match_rms_adamw": lambda rows, cols: 0.2 * math.sqrt(max(rows, cols)),
    "spectral_unclamped": lambda rows, cols: math.sqrt(rows / cols),
}
"""The factor on ``lr`` for an update matrix of shape ``(rows, cols)``, by ``adjust_lr_fn`` (``None`` is
``"original"``), as torch 2.14 computes it: Keller Jordan's, Liu et al.'s (update RMS 0.2, as AdamW's), and
Bernstein's (``"original"`` without the floor at 1)."""


class MuonHyperparameters(TypedDict):
    """The keywords of :func:`muon` and :func:`muon_foreach` that a param group holds, read once per step."""

    lr: float
    weight_decay: float
    momentum: float
    nesterov: bool
    ns_coefficients: tuple[float, float, float]
    eps: float
    ns_steps: int
    adjust_lr_fn: str | None
    maximize: bool


class Muon(ScratchOptimizer[MuonHyperparameters]):
    r"""Muon (MomentUm Orthogonalized by Newton–Schulz): SGD-momentum whose update matrix is replaced by
    (approximately) the nearest semi-orthogonal matrix, for the hidden weight matrices of a network.

    With learning rate :math:`\gamma` (``lr``), weight decay :math:`\lambda`, momentum :math:`\mu`,
    Newton–Schulz coefficients :math:`(a, b, c)` (``ns_coefficients``), :math:`k` steps (``ns_steps``) and
    :math:`\epsilon` (``eps``), each step on a parameter whose update is viewed as an :math:`m \times n`
    matrix is

    .. math::
        g_t &\leftarrow \pm\nabla f(\theta_{t-1}) \qquad (- \text{ when } \textit{maximize}) \\
        B_t &\leftarrow \mu B_{t-1} + (1 - \mu) g_t \\
        U_t &\leftarrow (1 - \mu) g_t + \mu B_t \ \text{(nesterov)}, \quad B_t \ \text{(otherwise)} \\
        O_t &\leftarrow \mathrm{NS}^{(a,b,c)}_k(U_t) \qquad \text{(in bfloat16)} \\
        \theta_t &\leftarrow (1 - \gamma\lambda)\,\theta_{t-1} - \gamma\, s(m, n)\, O_t

    where :math:`s(m, n)` is ``adjust_lr_fn``'s factor (:data:`LR_ADJUSTMENTS`): :math:`\sqrt{\max(1, m/n)}`
    (``None`` or ``"original"``), :math:`0.2\sqrt{\max(m, n)}` (``"match_rms_adamw"``) or
    :math:`\sqrt{m/n}` (``"spectral_unclamped"``). :math:`\mathrm{NS}` maps a matrix :math:`USV^\top` to
    about :math:`US'V^\top` with :math:`S'_{ii}` near 1 (:func:`newton_schulz`): every direction of the
    update gets a similar step, whatever the gradient's spectrum.

    Shapes: a matrix (2-D) is updated as itself, exactly as ``torch.optim.Muon``. A convolution kernel
    :math:`(\mathit{out}, \mathit{in}, k_h, k_w)` (any parameter of 3 or more dimensions) is orthogonalised
    as its :math:`\mathit{out} \times (\mathit{in}\,k_h k_w)` matrix and reshaped back, as Keller Jordan's
    Muon does; :math:`s(m, n)` uses that matrix's shape. A 1-D or 0-D parameter (a bias, a norm's gain) is
    refused with ``ValueError``: give those, and the output layer, to AdamW (:class:`MuonWithAdamW` holds
    both, :func:`muon_adamw_param_groups` splits a model's parameters between them).

    State: ``momentum_buffer`` :math:`B` (torch's name; no step count).

    Papers: Keller Jordan, Yuchen Jin, Vlado Boza, Jiacheng You, Franz Cesista, Laker Newhouse & Jeremy
    Bernstein, "Muon: An optimizer for hidden layers in neural networks" (blog post, 2024); Liu, Su, et al.,
    "Muon is Scalable for LLM Training" (2025), the ``match_rms_adamw`` adjustment and decoupled weight decay.

    Conventions:
        * Momentum. torch's docstring writes :math:`B_t = \mu B_{t-1} + g_t`; its code (and Keller Jordan's,
          and this class) keeps the average :math:`\mu B_{t-1} + (1-\mu) g_t`. The two give updates
          proportional to each other by :math:`1-\mu` (with or without Nesterov), which the normalisation
          in :math:`\mathrm{NS}` removes: they differ only through :math:`\epsilon` and rounding.
        * Precision. :math:`\mathrm{NS}` runs in bfloat16 (8 significant bits, relative rounding up to
          :math:`2^{-9} \approx 0.2\%`) whatever the parameter's dtype, float64 included, as in torch: the
          update carries about 3 significant digits.
        * Learning rate. :math:`s(m, n)` for the project's CNN: the conv kernel (32, 1·3·3) gets
          :math:`\sqrt{32/9} = 1.89` (``original`` and ``spectral_unclamped``) or
          :math:`0.2\sqrt{32} = 1.13` (``match_rms_adamw``); fc1 (256, 5408) gets 1, 0.218 and 14.7. Weight
          decay uses the unadjusted :math:`\gamma`: the shrink is :math:`1 - \gamma\lambda` for every shape.
        * Defaults: torch (and this class) ``lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True``,
          5 steps, :math:`\epsilon = 10^{-7}`; Keller Jordan's ``Muon`` ``lr=0.02, weight_decay=0,
          momentum=0.95`` (Nesterov), with the same coefficients and steps, and :math:`\epsilon` added to
          the norm instead of bounding it (:math:`\|G\| + 10^{-7}`).
        * Deviations from ``torch.optim.Muon``: torch refuses parameters that are not 2-D; it accepts any
          ``momentum >= 0`` (here :math:`[0, 1)`: at 1 the buffer never takes a gradient) and checks
          ``ns_steps`` and ``ns_coefficients`` only when stepping. For a bfloat16 parameter without
          Nesterov, torch 2.14 divides the momentum buffer itself by its norm (its ``.bfloat16()`` copy is
          then the buffer); here the buffer is left intact. torch's param groups have no ``maximize``: a
          torch state dict loads here with ``maximize=False``.

    Args:
        {_params_doc}
        lr: learning rate :math:`\gamma \ge 0`, before the shape adjustment.
        weight_decay: decoupled decay :math:`\lambda \ge 0`; each step multiplies the weights by
            :math:`1 - \gamma\lambda`.
        momentum: :math:`\mu \in [0, 1)`, the decay of the momentum buffer.
        nesterov: orthogonalise the look-ahead :math:`(1-\mu) g_t + \mu B_t` instead of :math:`B_t`.
        ns_coefficients: :math:`(a, b, c)`, the Newton–Schulz polynomial's coefficients.
        eps: :math:`\epsilon \ge 0`, the least norm a matrix is divided by before Newton–Schulz.
        ns_steps: :math:`k`, Newton–Schulz iterations, an integer in :math:`[0, 100)`.
        adjust_lr_fn: the shape adjustment :math:`s(m, n)`: ``None`` (same as ``"original"``),
            ``"original"``, ``"match_rms_adamw"`` or ``"spectral_unclamped"``.
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": ns_coefficients,
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
            "maximize": maximize,
            "foreach": foreach,
        }
        _check_muon(defaults)
        defaults["ns_coefficients"] = tuple(ns_coefficients)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's, refusing a parameter of fewer than 2 dimensions and invalid values before the group is added."""
        _check_matrices(param_group)
        _check_muon({**self.defaults, **param_group})
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:  # torch.optim.Muon's groups have no maximize
            group.setdefault("maximize", False)

    def _hyperparameters(self, group: dict[str, Any]) -> MuonHyperparameters:
        return read_group(group, MuonHyperparameters)

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        return {"momentum_buffer": zeros_like(param)}

    def _update(self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: MuonHyperparameters) -> None:
        muon(param, grad, state["momentum_buffer"], **hyperparameters)

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: MuonHyperparameters,
    ) -> None:
        muon_foreach(params, grads, [state["momentum_buffer"] for state in states], **hyperparameters)


def newton_schulz(matrix: Tensor, *, ns_coefficients: tuple[float, float, float], ns_steps: int, eps: float) -> Tensor:
    r"""``matrix`` (2-D) orthogonalised: about :math:`US'V^\top` for :math:`USV^\top` = ``matrix``, in bfloat16.

    .. math::
        X_0 = G / \max(\|G\|_F, \epsilon), \qquad
        A = X_j X_j^\top, \quad X_{j+1} = a X_j + (b A + c A^2) X_j \quad (j < k)

    The Frobenius norm bounds the spectral norm, so :math:`X_0`'s singular values lie in :math:`[0, 1]`; the
    odd polynomial :math:`a\sigma + b\sigma^3 + c\sigma^5` then pushes each towards 1 without touching the
    singular vectors. Keller Jordan's coefficients maximise the slope at 0 (:math:`a = 3.4445`), so five
    steps suffice, at the price of not converging to 1: in exact arithmetic every singular value above 1% of
    :math:`\|G\|_F` ends between 0.68 and 1.20 (Keller Jordan's docstring says roughly 0.5 to 1.5). A tall matrix is
    transposed first so that :math:`A` is the smaller Gram matrix. The same operations as torch 2.14's
    ``_zeropower_via_newtonschulz``, in the same order and dtype.
    """
    a, b, c = ns_coefficients
    tall = matrix.size(0) > matrix.size(1)
    x = matrix.bfloat16()
    if tall:
        x = x.T
    # out of place: for a bfloat16 matrix, .bfloat16() is the matrix itself (the caller's momentum buffer)
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


def adjusted_lr(lr: float, adjust_lr_fn: str | None, rows: int, cols: int) -> float:
    """``lr`` times :data:`LR_ADJUSTMENTS`' factor for an update matrix of ``rows`` x ``cols``."""
    return lr * LR_ADJUSTMENTS[adjust_lr_fn or "original"](rows, cols)


def _step_orthogonalized(
    param: Tensor,
    update: Tensor,
    *,
    lr: float,
    ns_coefficients: tuple[float, float, float],
    ns_steps: int,
    eps: float,
    adjust_lr_fn: str | None,
) -> None:
    r""":math:`\theta \leftarrow \theta - \gamma s(m, n) \mathrm{NS}(U)`, with ``update`` :math:`U` seen as the matrix
    ``(len(update), -1)``: itself if 2-D, a kernel ``(out, in, kh, kw)`` as ``(out, in*kh*kw)``."""
    matrix = update.reshape(len(update), -1)
    orthogonal = newton_schulz(matrix, ns_coefficients=ns_coefficients, ns_steps=ns_steps, eps=eps)
    param.add_(orthogonal.reshape(param.shape), alpha=-adjusted_lr(lr, adjust_lr_fn, *matrix.shape))


def muon(
    param: Tensor,
    grad: Tensor,
    momentum_buffer: Tensor,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    ns_coefficients: tuple[float, float, float],
    eps: float,
    ns_steps: int,
    adjust_lr_fn: str | None,
    maximize: bool,
) -> None:
    """One Muon step on ``param`` (2 or more dimensions) in place, updating ``momentum_buffer``."""
    grad = signed(grad, maximize)
    ema_(momentum_buffer, grad, momentum)
    update = grad.lerp(momentum_buffer, momentum) if nesterov else momentum_buffer
    decay_weights_(param, lr, weight_decay)
    _step_orthogonalized(
        param, update, lr=lr, ns_coefficients=ns_coefficients, ns_steps=ns_steps, eps=eps, adjust_lr_fn=adjust_lr_fn
    )


def muon_foreach(
    params: Tensors,
    grads: Tensors,
    momentum_buffers: Tensors,
    *,
    lr: float,
    weight_decay: float,
    momentum: float,
    nesterov: bool,
    ns_coefficients: tuple[float, float, float],
    eps: float,
    ns_steps: int,
    adjust_lr_fn: str | None,
    maximize: bool,
) -> None:
    """:func:`muon` on lists of tensors (one device and dtype)."""
    grads = signed_foreach(grads, maximize)
    ema_foreach_(momentum_buffers, grads, momentum)
    updates = torch._foreach_lerp(grads, momentum_buffers, momentum) if nesterov else momentum_buffers
    decay_weights_foreach_(params, lr, weight_decay)
    # Newton–Schulz is a chain of matrix products on each matrix's own shape, and each matrix has its own
    # learning-rate factor: no torch._foreach_* op does either, so this part loops over the matrices.
    for param, update in zip(params, updates, strict=True):
        _step_orthogonalized(
            param, update, lr=lr, ns_coefficients=ns_coefficients, ns_steps=ns_steps, eps=eps, adjust_lr_fn=adjust_lr_fn
        )


def _check_muon(values: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the first invalid Muon hyperparameter in ``values`` (a group or the defaults)."""
    check_number("lr", values["lr"])
    check_number("weight_decay", values["weight_decay"])
    check_number("momentum", values["momentum"], high=1.0, high_open=True)
    check_flag("nesterov", values["nesterov"])
    coefficients = values["ns_coefficients"]
    if not isinstance(coefficients, (tuple, list)) or len(coefficients) != 3:
        raise ValueError(f"Invalid ns_coefficients value: {coefficients!r} (expected three numbers (a, b, c))")
    for index, coefficient in enumerate(coefficients):
        check_number(f"ns_coefficients[{index}]", coefficient, low=-math.inf)
    check_number("eps", values["eps"])
    steps = values["ns_steps"]
    if not isinstance(steps, int) or isinstance(steps, bool) or not 0 <= steps < _MAX_NS_STEPS:
        raise ValueError(f"Invalid ns_steps value: {steps!r} (expected an integer in [0, {_MAX_NS_STEPS}))")
    adjust = values["adjust_lr_fn"]
    if not (adjust is None or (isinstance(adjust, str) and adjust in LR_ADJUSTMENTS)):
        accepted = ", ".join(["None", *map(repr, LR_ADJUSTMENTS)])
        raise ValueError(f"Invalid adjust_lr_fn value: {adjust!r} (expected one of {accepted})")
    check_flag("maximize", values["maximize"])
    check_flag("foreach", values["foreach"], allow_none=True)


def _check_matrices(param_group: dict[str, Any]) -> None:
    """Raise ``ValueError`` if the group holds a parameter of fewer than 2 dimensions. A one-shot iterable of
    parameters is stored back as a list (as torch's ``add_param_group`` would), so it can still be added."""
    params = param_group["params"]
    if not isinstance(params, (Tensor, set)):  # torch takes a lone tensor and refuses a set, with its own message
        params = param_group["params"] = list(params)
    for item in [params] if isinstance(params, Tensor) else params:
        param = item[1] if isinstance(item, tuple) else item  # torch also takes (name, parameter) pairs
        if isinstance(param, Tensor) and param.ndim < 2:
            raise ValueError(
                f"Muon updates matrices and convolution kernels (2 or more dimensions), not a parameter of shape "
                f"{tuple(param.shape)}: give biases and other 1-D or 0-D parameters, and the output layer, to "
                f"AdamW (muon_adamw_param_groups splits a model's parameters between the two for MuonWithAdamW)"
            )


# --- The hybrid: Muon for the hidden matrices, AdamW for the rest --------------------------------------------------


@dataclass(frozen=True)
class MuonSplit:
    """Which of a model's parameters each side of :class:`MuonWithAdamW` updates, by name, in the model's order."""

    muon: tuple[str, ...]  # hidden weight matrices and convolution kernels
    adamw: tuple[str, ...]  # biases and other 1-D or 0-D parameters, and the output layer


def muon_adamw_param_groups(
    named_parameters: Iterable[tuple[str, Tensor]], output_names: Iterable[str]
) -> tuple[list[dict[str, Any]], MuonSplit]:
    """A model's parameters as the param groups of :class:`MuonWithAdamW`, and the split by name (for the record).

    A parameter goes to Muon (``"use_muon": True``) when it has 2 or more dimensions (a weight matrix, a
    convolution kernel) and is not part of the output layer; every other one to AdamW (``"use_muon": False``):
    biases, other 1-D or 0-D parameters, and the output layer's weight and bias. The groups carry no
    hyperparameter: ``MuonWithAdamW(groups, lr=..., adamw_lr=...)`` (or a factory) gives each side its own.
    An empty side gets no group.

    Args:
        named_parameters: ``(name, parameter)`` pairs, as ``model.named_parameters()`` yields them.
        output_names: the output layer's module name (``"fc2"``) or parameter names (``"fc2.weight"``); a
            name stands for itself and everything under it (``"fc2"`` holds ``"fc2.weight"``). Other
            matrices to keep from Muon (an embedding) may be named here too. A string is one name. Each must
            match a parameter, so a misspelt name cannot send the output layer to Muon silently.
    """
    owners = (output_names,) if isinstance(output_names, str) else tuple(output_names)
    sides: dict[bool, list[tuple[str, Tensor]]] = {True: [], False: []}
    matched: set[str] = set()
    names: list[str] = []
    for name, param in named_parameters:
        names.append(name)
        owner = next((o for o in owners if name == o or name.startswith(o + ".")), None)
        if owner is not None:
            matched.add(owner)
        sides[owner is None and param.ndim >= 2].append((name, param))
    unmatched = [owner for owner in owners if owner not in matched]
    if unmatched:
        raise ValueError(f"Invalid output_names value: {unmatched} match no parameter (parameters: {names})")
    if not names:
        raise ValueError("muon_adamw_param_groups got no parameters")
    groups = [
        {"params": [param for _, param in pairs], "use_muon": use_muon} for use_muon, pairs in sides.items() if pairs
    ]
    split = MuonSplit(muon=tuple(n for n, _ in sides[True]), adamw=tuple(n for n, _ in sides[False]))
    return groups, split


class _MuonRule(TypedDict):
    use_muon: Literal[True]
    muon: MuonHyperparameters


class _AdamWRule(TypedDict):
    use_muon: Literal[False]
    adamw: AdamHyperparameters


MuonOrAdamW = _MuonRule | _AdamWRule
"""A group's hyperparameters, read once per step, tagged with the rule that takes them."""

# For each rule, the keys its param groups hold and the constructor default that fills each when a group lacks it.
_MUON_KEYS: Mapping[str, str] = {key: key for key in (*MuonHyperparameters.__annotations__, "foreach")}
_ADAMW_KEYS: Mapping[str, str] = {
    "lr": "adamw_lr",
    "betas": "adamw_betas",
    "eps": "adamw_eps",
    "weight_decay": "adamw_weight_decay",
    "maximize": "maximize",
    "foreach": "foreach",
}
_GROUP_MARKERS = ("params", "param_names", "use_muon")  # what a group holds besides its rule's hyperparameters


class MuonWithAdamW(ScratchOptimizer[MuonOrAdamW]):
    r"""Muon for a network's hidden weight matrices and convolution kernels, AdamW for everything else, as one
    optimizer: the recipe Muon is meant to be used in.

    Each param group says which rule updates it with ``"use_muon"`` (``True`` or ``False``, required);
    :func:`muon_adamw_param_groups` builds the two groups from ``model.named_parameters()``. A Muon group
    takes :class:`Muon`'s step (:func:`muon`) and holds Muon's hyperparameters; an AdamW group takes
    :class:`~optimizers.adamw.AdamW`'s step (:func:`~optimizers.adam.adam` with decoupled weight decay, no
    AMSGrad) and holds ``lr``, ``betas``, ``eps`` and ``weight_decay``, filled from the ``adamw_*`` arguments.
    So every group has its own ``lr`` (an AdamW group's starts as ``adamw_lr``) and a learning-rate scheduler
    scales both sides alike. A group may set any of its rule's keys itself; a key of the other rule is refused.

    State: a Muon parameter's is :class:`Muon`'s (``momentum_buffer``), an AdamW parameter's is
    ``torch.optim.AdamW``'s (``step``, ``exp_avg``, ``exp_avg_sq``).

    Papers: see :class:`Muon` and :class:`~optimizers.adamw.AdamW`.

    Conventions:
        * The split follows Keller Jordan: Muon for hidden matrices (convolution kernels flattened to
          :math:`\mathit{out} \times (\mathit{in}\,k_h k_w)`); AdamW for embeddings, the output layer, and
          1-D or 0-D parameters (biases, gains). The group marker is his ``MuonWithAuxAdam``'s ``use_muon``.
        * Defaults: each side takes its torch class's, ``torch.optim.Muon``'s (``lr=1e-3,
          weight_decay=0.1``) and ``torch.optim.AdamW``'s (``adamw_lr=1e-3, adamw_betas=(0.9, 0.999),
          adamw_eps=1e-8, adamw_weight_decay=1e-2``). Reference recipes set them apart: Keller Jordan's
          ``MuonWithAuxAdam`` defaults to Muon ``lr=0.02`` and Adam ``lr=3e-4, betas=(0.9, 0.95),
          eps=1e-10`` (both ``weight_decay=0``), and his modded-nanogpt example gives the output layer, the
          embeddings and the scalars Adam rates of 0.22, 0.6 and 0.04 with Muon at 0.05; torch's docs pair
          ``Muon(lr=0.02, momentum=0.95)`` with ``AdamW(lr=3e-4, weight_decay=0.01)``. With
          ``adjust_lr_fn="match_rms_adamw"`` Liu et al. reuse AdamW's learning rate and weight decay for Muon.
        * tf.keras ``Muon`` is such a hybrid in one class: it routes embeddings, ``exclude_layers`` and (in
          recent releases) every variable that is not 2-D to AdamW, whose rate is ``learning_rate *
          adam_lr_ratio`` rather than a rate of its own; its defaults have changed between Keras 3 releases.

    Args:
        {_params_doc}
            Every group needs ``"use_muon"``.
        lr: Muon's learning rate :math:`\gamma \ge 0` (see :class:`Muon`).
        weight_decay: Muon's decoupled weight decay :math:`\lambda \ge 0`.
        momentum: Muon's momentum :math:`\mu \in [0, 1)`.
        nesterov: Muon's Nesterov look-ahead.
        ns_coefficients: Muon's Newton–Schulz coefficients :math:`(a, b, c)`.
        eps: Muon's least norm before Newton–Schulz, :math:`\epsilon \ge 0`.
        ns_steps: Muon's Newton–Schulz iterations, in :math:`[0, 100)`.
        adjust_lr_fn: Muon's shape adjustment of the learning rate (see :class:`Muon`).
        adamw_lr: AdamW's learning rate, :math:`\ge 0`: the ``lr`` of every AdamW group that sets none.
        adamw_betas: AdamW's :math:`(\beta_1, \beta_2)`, each in :math:`[0, 1)`.
        adamw_eps: AdamW's :math:`\epsilon \ge 0`.
        adamw_weight_decay: AdamW's decoupled weight decay, :math:`\ge 0`.
        {_maximize_doc}
        {_foreach_doc}
    """

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
        *,
        adamw_lr: float = 1e-3,
        adamw_betas: tuple[float, float] = (0.9, 0.999),
        adamw_eps: float = 1e-8,
        adamw_weight_decay: float = 1e-2,
        maximize: bool = False,
        foreach: bool | None = None,
    ) -> None:
        defaults = {
            "lr": lr,
            "weight_decay": weight_decay,
            "momentum": momentum,
            "nesterov": nesterov,
            "ns_coefficients": ns_coefficients,
            "eps": eps,
            "ns_steps": ns_steps,
            "adjust_lr_fn": adjust_lr_fn,
            "adamw_lr": adamw_lr,
            "adamw_betas": adamw_betas,
            "adamw_eps": adamw_eps,
            "adamw_weight_decay": adamw_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
        }
        _check_muon(defaults)
        _check_adamw(defaults, prefix="adamw_")
        defaults["ns_coefficients"] = tuple(ns_coefficients)
        defaults["adamw_betas"] = (adamw_betas[0], adamw_betas[1])
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's, for a group marked ``"use_muon"``: filled from its rule's defaults, checked, and holding only
        its rule's keys (torch's own method adds every default; those of the other rule are taken out again)."""
        use_muon = param_group.get("use_muon")
        if not isinstance(use_muon, bool):
            raise ValueError(
                f"Invalid use_muon value: {use_muon!r} (expected True or False in every param group of "
                f"MuonWithAdamW; muon_adamw_param_groups builds them from a model's named parameters)"
            )
        keys = _MUON_KEYS if use_muon else _ADAMW_KEYS
        unknown = sorted(set(param_group) - {*_GROUP_MARKERS, *keys})
        if unknown:
            raise ValueError(
                f"Invalid key(s) {unknown} in a param group with use_muon={use_muon} (accepted: {', '.join(keys)})"
            )
        if use_muon:
            _check_matrices(param_group)
        group = {**param_group, **{key: param_group.get(key, self.defaults[source]) for key, source in keys.items()}}
        if use_muon:
            _check_muon(group)
        else:
            _check_adamw(group)
        super().add_param_group(group)
        for key in set(self.defaults) - set(keys):
            del group[key]

    def _hyperparameters(self, group: dict[str, Any]) -> MuonOrAdamW:
        if group["use_muon"]:
            return {"use_muon": True, "muon": read_group(group, MuonHyperparameters)}
        beta1, beta2 = group["betas"]
        adamw = read_group(
            group, AdamHyperparameters, beta1=beta1, beta2=beta2, amsgrad=False, decoupled_weight_decay=True
        )
        return {"use_muon": False, "adamw": adamw}

    def _init_state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Tensor]:
        if group["use_muon"]:
            return {"momentum_buffer": zeros_like(param)}
        return {"step": scalar_state(), "exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param)}

    def _update(self, param: Tensor, grad: Tensor, state: dict[str, Any], hyperparameters: MuonOrAdamW) -> None:
        if hyperparameters["use_muon"]:
            muon(param, grad, state["momentum_buffer"], **hyperparameters["muon"])
        else:
            step = count_step(state["step"])
            adam(param, grad, state["exp_avg"], state["exp_avg_sq"], None, step=step, **hyperparameters["adamw"])

    def _update_group(
        self,
        params: list[Tensor],
        grads: list[Tensor],
        states: list[dict[str, Any]],
        hyperparameters: MuonOrAdamW,
    ) -> None:
        if hyperparameters["use_muon"]:
            buffers = [state["momentum_buffer"] for state in states]
            muon_foreach(params, grads, buffers, **hyperparameters["muon"])
        else:
            adam_foreach(
                params,
                grads,
                [state["exp_avg"] for state in states],
                [state["exp_avg_sq"] for state in states],
                None,
                steps=count_steps([state["step"] for state in states]),
                **hyperparameters["adamw"],
            )


def _check_adamw(values: Mapping[str, Any], prefix: str = "") -> None:
    """Raise ``ValueError`` naming the first invalid AdamW hyperparameter in ``values``, whose keys carry ``prefix``
    (``"adamw_"`` in the constructor's defaults, none in an AdamW group)."""
    check_number(f"{prefix}lr", values[f"{prefix}lr"])
    check_betas(values[f"{prefix}betas"], name=f"{prefix}betas")
    check_number(f"{prefix}eps", values[f"{prefix}eps"])
    check_number(f"{prefix}weight_decay", values[f"{prefix}weight_decay"])
    check_flag("maximize", values["maximize"])
    check_flag("foreach", values["foreach"], allow_none=True)
