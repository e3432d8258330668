"""Stacked optimizers: one optimizer that updates K models at once, each slot with its own hyperparameters.

K copies of a network trained as one program (``models.fused``) hold every parameter as one tensor whose
dimension 0 is the slot: ``weight[k]`` is model k's weight. ``torch.optim`` keeps one learning rate per param
group, so it could only train K models with one learning rate; here every per-slot value (the learning rate,
weight decay, betas, eps, ...) is a tensor of K values in the param group, broadcast along dimension 0, and the
arithmetic is the unfused optimizer's, operation for operation, so that slot k follows exactly the trajectory
the unfused optimizer would give model k (``tests/optimizers/test_stacked.py`` checks it in float64, slot by
slot).

As in ``torch.optim``, the hyperparameters live in ``param_groups`` only and the step count in each parameter's
``state`` (a float32 scalar tensor), so ``state_dict()`` and ``load_state_dict()`` resume a stack exactly, and a
value written into a group (``group["lr"][k] = 0.01``, ``group["lr"].mul_(0.5)``) holds from the next step on.
torch's LR schedulers (2.x) write a tensor learning rate with ``fill_`` of one number, so they refuse K of them:
schedule a stack by writing its groups' ``lr`` tensors.

Each step reads a group's per-slot values once, as Python floats; the per-step scalars (bias corrections,
NAdam's momentum schedule, Adagrad's decayed rate) are computed per slot with the unfused optimizers' own
helpers, then applied as one tensor.

A slot can be frozen (``freeze``): its gradient is zeroed and its rates set to 0, so its parameters stop
changing while the other slots train on; a trial that was pruned or diverged stops that way. Which slots
train is each group's ``active`` (K booleans), saved with the rest of the state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from ._base import Closure
from ._primitives import bias_correction, count_step, scalar_dtype, scalar_state
from .adagrad import _decayed_lr
from .nadam import _momentum_schedule
from .registry import REGISTRY, build_optimizer, get_spec

if TYPE_CHECKING:
    from torch.optim.optimizer import ParamsT

__all__ = ["STACKED_NAMES", "StackedOptimizer"]

# The hyperparameters that may differ between slots, by algorithm (a class of the registry). Everything else
# (momentum, flags, the initial accumulator) shapes the state and the code path, so it is shared by the stack.
_PER_SLOT: Mapping[str, frozenset[str]] = {
    "SGD": frozenset({"lr", "weight_decay"}),
    "Adagrad": frozenset({"lr", "lr_decay", "weight_decay", "eps"}),
    "RMSprop": frozenset({"lr", "alpha", "eps", "weight_decay"}),
    "Adadelta": frozenset({"lr", "rho", "eps", "weight_decay"}),
    "Adam": frozenset({"lr", "betas", "eps", "weight_decay"}),
    "AdamW": frozenset({"lr", "betas", "eps", "weight_decay"}),
    "NAdam": frozenset({"lr", "betas", "eps", "weight_decay", "momentum_decay"}),
}

STACKED_NAMES: tuple[str, ...] = tuple(name for name, spec in REGISTRY.items() if spec.cls.__name__ in _PER_SLOT)


class StackedOptimizer(torch.optim.Optimizer):
    """Updates parameters stacked along dimension 0 (one slot per model) with the registry optimizer ``name``.

    Each param group holds the shared values as the unfused optimizer's group does, and every per-slot value
    as a float64 CPU tensor of K values: ``lr``, ``eps``, ... of shape ``(K,)``, ``betas`` of shape ``(K, 2)``
    (row k is slot k's ``(beta1, beta2)``); ``active`` (K booleans) says which slots train. A group passed in
    ``params`` (or to ``add_param_group``) may set a per-slot value as one number for every slot or K of them.

    Args:
        params: the stacked parameters, or param groups of them; dimension 0 of each has one entry per slot.
        name: a registry name (``optimizers.registry``), e.g. ``"adam"`` or ``"momentum"``.
        slots: one mapping of hyperparameters per slot, as ``build_optimizer(name, ..., **slot)`` takes them
            (the registry's defaults fill the rest). Each slot's values are checked exactly as the unfused
            optimizer checks them; values outside the per-slot set must agree across slots.
    """

    def __init__(self, params: ParamsT, name: str, slots: Sequence[Mapping[str, Any]]) -> None:
        if not slots:
            raise ValueError("a stacked optimizer needs at least one slot")
        kind = get_spec(name).cls.__name__
        if kind not in _PER_SLOT:
            raise ValueError(f"optimizer {name!r} has no stacked form; stacked: {', '.join(STACKED_NAMES)}")
        # the unfused optimizer checks each slot and fills in its defaults (AdamW's decoupled decay included)
        values = [build_optimizer(name, [torch.zeros(1)], **slot).defaults for slot in slots]
        shared = {k: v for k, v in values[0].items() if k not in _PER_SLOT[kind]}
        for index, slot_values in enumerate(values[1:], start=1):
            for key, value in shared.items():
                if slot_values[key] != value:
                    raise ValueError(
                        f"{name}: {key} differs between slots (slot 0: {value!r}, slot {index}: {slot_values[key]!r}); "
                        f"per-slot values: {', '.join(sorted(_PER_SLOT[kind]))}"
                    )
        per_slot = {key: _as_slot_tensor(key, [v[key] for v in values], len(slots)) for key in _PER_SLOT[kind]}
        self.kind = kind  # the algorithm, a registry class name: what this optimizer is, not a hyperparameter
        super().__init__(params, {**shared, **per_slot, "active": _as_slot_tensor("active", True, len(slots))})

    @property
    def num_slots(self) -> int:
        return int(self.defaults["active"].numel())

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """``torch.optim.Optimizer``'s, then each per-slot value made a K-value tensor of the group's own (never
        shared with ``defaults`` or another group), and every parameter's dimension 0 checked against K."""
        super().add_param_group(param_group)
        group, slots = self.param_groups[-1], self.num_slots
        for key in (*sorted(_PER_SLOT[self.kind]), "active"):
            group[key] = _as_slot_tensor(key, group[key], slots)
        for param in group["params"]:
            if param.ndim == 0 or param.shape[0] != slots:
                raise ValueError(f"a stacked parameter's dimension 0 must be the {slots} slots: {param.shape}")

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        # torch's load_state_dict casts every state tensor but ``step`` to its parameter's dtype and device;
        # NAdam's per-slot products stay float32 CPU tensors, as they were saved (like ``step``)
        for param_state in self.state.values():
            if "mu_product" in param_state:
                param_state["mu_product"] = param_state["mu_product"].to("cpu", scalar_dtype())

    def freeze(self, slot: int) -> None:
        """Stops updating ``slot`` in every param group: from the next step on its parameters keep their values."""
        for group in self.param_groups:
            group["active"][slot] = False

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        update = _UPDATES[self.kind]
        for group in self.param_groups:
            slots = _Slots.read(group, _PER_SLOT[self.kind])
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if grad.is_sparse:
                    raise RuntimeError("StackedOptimizer does not support sparse gradients")
                if not all(slots.active):
                    mask = group["active"].to(grad.device).view(-1, *[1] * (grad.ndim - 1))
                    grad = torch.where(mask, grad, torch.zeros((), dtype=grad.dtype, device=grad.device))
                state = self.state[param]
                if len(state) == 0:
                    state["step"] = scalar_state()
                update(param, grad, state, slots, count_step(state["step"]))
        return loss


def _as_slot_tensor(key: str, value: object, slots: int) -> Tensor:
    """A group's per-slot ``value`` (one for every slot, or one per slot) as a new CPU tensor of ``slots`` values:
    float64, booleans for ``active``, pairs for ``betas``."""
    dtype = torch.bool if key == "active" else torch.float64
    shape = (slots, 2) if key == "betas" else (slots,)
    try:
        tensor = torch.as_tensor(value, dtype=dtype, device="cpu").broadcast_to(shape)
    except (RuntimeError, TypeError, ValueError):
        per_slot = "a pair (beta1, beta2)" if key == "betas" else "a number"
        raise ValueError(f"a stacked group's {key} must be {per_slot} or {slots} of them: {value!r}") from None
    return tensor.clone(memory_format=torch.contiguous_format)


@dataclass(frozen=True)
class _Slots:
    """One param group's hyperparameters for one step, read once: the shared ones as the group holds them, the
    per-slot ones as lists of Python floats (``betas`` as ``beta1`` and ``beta2``), and which slots train."""

    shared: Mapping[str, Any]
    values: Mapping[str, list[float]]
    active: list[bool]

    @classmethod
    def read(cls, group: Mapping[str, Any], per_slot: frozenset[str]) -> _Slots:
        values = {key: group[key].tolist() for key in per_slot - {"betas"}}
        if "betas" in per_slot:
            values["beta1"], values["beta2"] = group["betas"].T.tolist()
        return cls(group, values, group["active"].tolist())

    def __getitem__(self, key: str) -> list[float]:
        return self.values[key]

    def scaled(self, values: Sequence[float], like: Tensor) -> Tensor:
        """A per-slot step scale: frozen slots take 0."""
        return _per_slot([v if on else 0.0 for v, on in zip(values, self.active, strict=True)], like)


def _per_slot(values: Sequence[float], like: Tensor) -> Tensor:
    """``values`` (one per slot) as a tensor shaped to broadcast against ``like`` along dimension 0."""
    return torch.tensor(values, dtype=torch.float64).to(like.device, like.dtype).view(-1, *[1] * (like.ndim - 1))


# ---------------------------------------------------------------------- the algorithms, as in the unfused files


def _signed(grad: Tensor, slots: _Slots) -> Tensor:
    return -grad if slots.shared.get("maximize") else grad


def _l2(grad: Tensor, param: Tensor, slots: _Slots) -> Tensor:
    decays = slots["weight_decay"]
    return grad + param * _per_slot(decays, param) if any(decays) else grad


def _sgd(param: Tensor, grad: Tensor, state: dict[str, Any], slots: _Slots, step: float) -> None:
    grad = _l2(_signed(grad, slots), param, slots)
    momentum, dampening = float(slots.shared["momentum"]), float(slots.shared["dampening"])
    if momentum != 0:
        buffer = state.get("momentum_buffer")
        if buffer is None:
            buffer = state["momentum_buffer"] = grad.detach().clone()
        else:
            buffer.mul_(momentum).add_(grad, alpha=1 - dampening)
        grad = grad.add(buffer, alpha=momentum) if slots.shared["nesterov"] else buffer
    param.add_(grad * slots.scaled([-lr for lr in slots["lr"]], param))


def _adagrad(param: Tensor, grad: Tensor, state: dict[str, Any], slots: _Slots, step: float) -> None:
    grad = _l2(_signed(grad, slots), param, slots)
    if "sum" not in state:
        state["sum"] = torch.full_like(param, float(slots.shared["initial_accumulator_value"]))
    rates = [-_decayed_lr(lr, decay, step) for lr, decay in zip(slots["lr"], slots["lr_decay"], strict=True)]
    state["sum"].addcmul_(grad, grad, value=1)
    denom = state["sum"].sqrt().add_(_per_slot(slots["eps"], param))
    param.addcdiv_(grad * slots.scaled(rates, param), denom)


def _rmsprop(param: Tensor, grad: Tensor, state: dict[str, Any], slots: _Slots, step: float) -> None:
    grad = _l2(_signed(grad, slots), param, slots)
    alpha = _per_slot(slots["alpha"], param)
    keep = _per_slot([1 - a for a in slots["alpha"]], param)
    if "square_avg" not in state:
        state["square_avg"] = torch.zeros_like(param)
    square_avg = state["square_avg"]
    _ema_square_(square_avg, grad, alpha, keep)
    eps = _per_slot(slots["eps"], param)
    if slots.shared["centered"]:
        grad_avg = state.setdefault("grad_avg", torch.zeros_like(param))
        grad_avg.lerp_(grad, keep)
        denom = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_().add_(eps)
    else:
        denom = square_avg.sqrt().add_(eps)
    rates = slots.scaled([-lr for lr in slots["lr"]], param)
    momentum = float(slots.shared["momentum"])
    if momentum > 0:
        buffer = state.setdefault("momentum_buffer", torch.zeros_like(param))
        buffer.mul_(momentum).addcdiv_(grad, denom)
        param.add_(buffer * rates)
    else:
        param.addcdiv_(grad * rates, denom)


def _adadelta(param: Tensor, grad: Tensor, state: dict[str, Any], slots: _Slots, step: float) -> None:
    grad = _l2(_signed(grad, slots), param, slots)
    if "square_avg" not in state:
        state["square_avg"] = torch.zeros_like(param)
        state["acc_delta"] = torch.zeros_like(param)
    rho = _per_slot(slots["rho"], param)
    keep = _per_slot([1 - r for r in slots["rho"]], param)
    eps = _per_slot(slots["eps"], param)
    _ema_square_(state["square_avg"], grad, rho, keep)
    delta = state["acc_delta"].add(eps).sqrt_().div_(state["square_avg"].add(eps).sqrt_()).mul_(grad)
    _ema_square_(state["acc_delta"], delta, rho, keep)
    param.add_(delta * slots.scaled([-lr for lr in slots["lr"]], param))


def _decay_or_l2(param: Tensor, grad: Tensor, slots: _Slots) -> Tensor:
    """Decoupled weight decay applied to ``param`` (AdamW), or the L2 term added to the gradient."""
    if not slots.shared["decoupled_weight_decay"]:
        return _l2(grad, param, slots)
    if any(slots["weight_decay"]):
        shrink = [1 - lr * decay for lr, decay in zip(slots["lr"], slots["weight_decay"], strict=True)]
        param.mul_(_per_slot([v if on else 1.0 for v, on in zip(shrink, slots.active, strict=True)], param))
    return grad


def _moments(param: Tensor, grad: Tensor, state: dict[str, Any], slots: _Slots) -> tuple[Tensor, Tensor]:
    if "exp_avg" not in state:
        state["exp_avg"] = torch.zeros_like(param)
        state["exp_avg_sq"] = torch.zeros_like(param)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg.lerp_(grad, _per_slot([1 - b for b in slots["beta1"]], param))
    beta2 = _per_slot(slots["beta2"], param)
    _ema_square_(exp_avg_sq, grad, beta2, _per_slot([1 - b for b in slots["beta2"]], param))
    return exp_avg, exp_avg_sq


def _adam(param: Tensor, grad: Tensor, state: dict[str, Any], slots: _Slots, step: float) -> None:
    grad = _decay_or_l2(param, _signed(grad, slots), slots)
    exp_avg, exp_avg_sq = _moments(param, grad, state, slots)
    if slots.shared["amsgrad"]:
        maximum = state.setdefault("max_exp_avg_sq", torch.zeros_like(param))
        exp_avg_sq = torch.maximum(maximum, exp_avg_sq, out=maximum)
    sizes = [-(lr / bias_correction(b1, step)) for lr, b1 in zip(slots["lr"], slots["beta1"], strict=True)]
    roots = _per_slot([bias_correction(b2, step) ** 0.5 for b2 in slots["beta2"]], param)
    denom = exp_avg_sq.sqrt().div_(roots).add_(_per_slot(slots["eps"], param))
    param.addcdiv_(exp_avg * slots.scaled(sizes, param), denom)


def _nadam(param: Tensor, grad: Tensor, state: dict[str, Any], slots: _Slots, step: float) -> None:
    grad = _decay_or_l2(param, _signed(grad, slots), slots)
    decays = list(zip(slots["beta1"], slots["momentum_decay"], strict=True))
    mus = [_momentum_schedule(b1, psi, step) for b1, psi in decays]
    nexts = [_momentum_schedule(b1, psi, step + 1) for b1, psi in decays]
    if "mu_product" not in state:
        state["mu_product"] = torch.ones(len(slots.active), dtype=scalar_dtype())
    state["mu_product"] *= torch.tensor(mus, dtype=torch.float64).to(scalar_dtype())
    products = state["mu_product"].tolist()
    exp_avg, exp_avg_sq = _moments(param, grad, state, slots)
    corrections = _per_slot([bias_correction(b2, step) for b2 in slots["beta2"]], param)
    denom = exp_avg_sq.div(corrections).sqrt().add_(_per_slot(slots["eps"], param))
    lrs = slots["lr"]
    now = [-lr * (1.0 - mu) / (1.0 - p) for lr, mu, p in zip(lrs, mus, products, strict=True)]
    later = [-lr * m / (1.0 - p * m) for lr, m, p in zip(lrs, nexts, products, strict=True)]
    param.addcdiv_(grad * slots.scaled(now, param), denom)
    param.addcdiv_(exp_avg * slots.scaled(later, param), denom)


def _ema_square_(average: Tensor, value: Tensor, decay: Tensor, keep: Tensor) -> None:
    r""":math:`v \leftarrow \beta v + (1 - \beta) x^2` with per-slot :math:`\beta` (``decay``) and
    :math:`1 - \beta` (``keep``), in ``addcmul_``'s order of operations."""
    average.mul_(decay).addcmul_(value * keep, value)  # avg + 1 * (x * (1 - beta)) * x


_UPDATES: Mapping[str, Callable[[Tensor, Tensor, dict[str, Any], _Slots, float], None]] = {
    "SGD": _sgd,
    "Adagrad": _adagrad,
    "RMSprop": _rmsprop,
    "Adadelta": _adadelta,
    "Adam": _adam,
    "AdamW": _adam,
    "NAdam": _nadam,
}
