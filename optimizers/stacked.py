"""Stacked optimizers: one optimizer that updates K models at once, each slot with its own hyperparameters.

K copies of a network trained as one program (``models.fused``) hold every parameter as one tensor whose
dimension 0 is the slot: ``weight[k]`` is model k's weight. ``torch.optim`` keeps one learning rate per param
group, so it could only train K models with one learning rate; here every per-slot value (the learning rate,
weight decay, betas, eps, ...) is a tensor of K values broadcast along dimension 0, and the arithmetic is the
unfused optimizer's, operation for operation, so that slot k follows exactly the trajectory the unfused
optimizer would give model k (``tests/optimizers/test_stacked.py`` checks it in float64, slot by slot).

The per-step scalars (bias corrections, NAdam's momentum schedule, Adagrad's decayed rate) are computed per
slot with the unfused optimizers' own helpers, in Python floats, then applied as one tensor.

A slot can be frozen (``freeze``): its gradient is zeroed and its rates set to 0, so its parameters stop
changing while the other slots train on; a trial that was pruned or diverged stops that way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from ._base import Closure
from ._primitives import bias_correction, scalar_dtype
from .adagrad import _decayed_lr
from .nadam import _momentum_schedule
from .registry import REGISTRY, build_optimizer, get_spec

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

    Args:
        params: the stacked parameters; dimension 0 of each has one entry per slot.
        name: a registry name (``optimizers.registry``), e.g. ``"adam"`` or ``"momentum"``.
        slots: one mapping of hyperparameters per slot, as ``build_optimizer(name, ..., **slot)`` takes them
            (the registry's defaults fill the rest). Each slot's values are checked exactly as the unfused
            optimizer checks them; values outside the per-slot set must agree across slots.
    """

    def __init__(self, params: Iterable[Tensor], name: str, slots: Sequence[Mapping[str, Any]]) -> None:
        if not slots:
            raise ValueError("a stacked optimizer needs at least one slot")
        spec = get_spec(name)
        kind = spec.cls.__name__
        if kind not in _PER_SLOT:
            raise ValueError(f"optimizer {name!r} has no stacked form; stacked: {', '.join(STACKED_NAMES)}")
        values = []
        for slot in slots:
            build_optimizer(name, [torch.zeros(1)], **slot)  # the unfused checks, one slot at a time
            values.append({**spec.defaults(), **slot})
        shared = {k: v for k, v in values[0].items() if k not in _PER_SLOT[kind]}
        for index, slot_values in enumerate(values[1:], start=1):
            for key, value in shared.items():
                if slot_values[key] != value:
                    raise ValueError(
                        f"{name}: {key} differs between slots (slot 0: {value!r}, slot {index}: {slot_values[key]!r}); "
                        f"per-slot values: {', '.join(sorted(_PER_SLOT[kind]))}"
                    )
        self.kind = kind
        self.slots = [dict(v) for v in values]
        self.shared = shared
        self.active = torch.ones(len(slots), dtype=torch.bool)
        super().__init__(params, {})
        for group in self.param_groups:
            for param in group["params"]:
                if param.ndim == 0 or param.shape[0] != len(slots):
                    raise ValueError(f"a stacked parameter's dimension 0 must be the {len(slots)} slots: {param.shape}")

    @property
    def num_slots(self) -> int:
        return len(self.slots)

    def freeze(self, slot: int) -> None:
        """Stops updating ``slot``: from the next step on its parameters keep their values."""
        self.active[slot] = False

    def _per_slot(self, values: Sequence[float], like: Tensor) -> Tensor:
        """``values`` (one per slot) as a tensor shaped to broadcast against ``like`` along dimension 0."""
        return torch.tensor(values, dtype=torch.float64).to(like.device, like.dtype).view(-1, *[1] * (like.ndim - 1))

    def _each(self, like: Tensor, value: str | Callable[[dict[str, Any]], float]) -> Tensor:
        """A per-slot value, ``slot[value]`` or ``value(slot)``, broadcast against ``like``."""
        values = [float(s[value]) if isinstance(value, str) else value(s) for s in self.slots]
        return self._per_slot(values, like)

    def _scaled(self, values: Sequence[float], like: Tensor) -> Tensor:
        """A per-slot step scale: frozen slots take 0."""
        active = self.active.tolist()
        return self._per_slot([v if on else 0.0 for v, on in zip(values, active, strict=True)], like)

    @torch.no_grad()
    def step(self, closure: Closure | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        all_active = bool(self.active.all())
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                if grad.is_sparse:
                    raise RuntimeError("StackedOptimizer does not support sparse gradients")
                if not all_active:
                    mask = self.active.to(grad.device).view(-1, *[1] * (grad.ndim - 1))
                    grad = torch.where(mask, grad, torch.zeros((), dtype=grad.dtype, device=grad.device))
                state = self.state[param]
                if not state:
                    state["step"] = 0
                state["step"] += 1
                _UPDATES[self.kind](self, param, grad, state, state["step"])
        return loss

    # ------------------------------------------------------------------ the algorithms, as in the unfused files

    def _signed(self, grad: Tensor) -> Tensor:
        return -grad if self.shared.get("maximize") else grad

    def _l2(self, grad: Tensor, param: Tensor) -> Tensor:
        decays = [float(s["weight_decay"]) for s in self.slots]
        return grad + param * self._per_slot(decays, param) if any(decays) else grad

    def _sgd(self, param: Tensor, grad: Tensor, state: dict[str, Any], step: int) -> None:
        grad = self._l2(self._signed(grad), param)
        momentum, dampening = float(self.shared["momentum"]), float(self.shared["dampening"])
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = state["momentum_buffer"] = grad.detach().clone()
            else:
                buffer.mul_(momentum).add_(grad, alpha=1 - dampening)
            grad = grad.add(buffer, alpha=momentum) if self.shared["nesterov"] else buffer
        param.add_(grad * self._scaled([-float(s["lr"]) for s in self.slots], param))

    def _adagrad(self, param: Tensor, grad: Tensor, state: dict[str, Any], step: int) -> None:
        grad = self._l2(self._signed(grad), param)
        if "sum" not in state:
            state["sum"] = torch.full_like(param, float(self.shared["initial_accumulator_value"]))
        rates = [-_decayed_lr(float(s["lr"]), float(s["lr_decay"]), step) for s in self.slots]
        state["sum"].addcmul_(grad, grad, value=1)
        denom = state["sum"].sqrt().add_(self._each(param, "eps"))
        param.addcdiv_(grad * self._scaled(rates, param), denom)

    def _rmsprop(self, param: Tensor, grad: Tensor, state: dict[str, Any], step: int) -> None:
        grad = self._l2(self._signed(grad), param)
        alpha = self._each(param, "alpha")
        if "square_avg" not in state:
            state["square_avg"] = torch.zeros_like(param)
        square_avg = state["square_avg"]
        _ema_square_(square_avg, grad, alpha, self._each(param, lambda s: 1 - float(s["alpha"])))
        eps = self._each(param, "eps")
        if self.shared["centered"]:
            grad_avg = state.setdefault("grad_avg", torch.zeros_like(param))
            grad_avg.lerp_(grad, self._each(param, lambda s: 1 - float(s["alpha"])))
            denom = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_().add_(eps)
        else:
            denom = square_avg.sqrt().add_(eps)
        rates = self._scaled([-float(s["lr"]) for s in self.slots], param)
        momentum = float(self.shared["momentum"])
        if momentum > 0:
            buffer = state.setdefault("momentum_buffer", torch.zeros_like(param))
            buffer.mul_(momentum).addcdiv_(grad, denom)
            param.add_(buffer * rates)
        else:
            param.addcdiv_(grad * rates, denom)

    def _adadelta(self, param: Tensor, grad: Tensor, state: dict[str, Any], step: int) -> None:
        grad = self._l2(self._signed(grad), param)
        if "square_avg" not in state:
            state["square_avg"] = torch.zeros_like(param)
            state["acc_delta"] = torch.zeros_like(param)
        rho = self._each(param, "rho")
        keep = self._each(param, lambda s: 1 - float(s["rho"]))
        eps = self._each(param, "eps")
        _ema_square_(state["square_avg"], grad, rho, keep)
        delta = state["acc_delta"].add(eps).sqrt_().div_(state["square_avg"].add(eps).sqrt_()).mul_(grad)
        _ema_square_(state["acc_delta"], delta, rho, keep)
        param.add_(delta * self._scaled([-float(s["lr"]) for s in self.slots], param))

    def _decay_or_l2(self, param: Tensor, grad: Tensor) -> Tensor:
        """Decoupled weight decay applied to ``param`` (AdamW), or the L2 term added to the gradient."""
        if not self.shared.get("decoupled_weight_decay") and self.kind != "AdamW":
            return self._l2(grad, param)
        if any(float(s["weight_decay"]) for s in self.slots):
            shrink = [1 - float(s["lr"]) * float(s["weight_decay"]) for s in self.slots]
            active = self.active.tolist()
            param.mul_(self._per_slot([v if on else 1.0 for v, on in zip(shrink, active, strict=True)], param))
        return grad

    def _moments(self, param: Tensor, grad: Tensor, state: dict[str, Any]) -> tuple[Tensor, Tensor]:
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(param)
            state["exp_avg_sq"] = torch.zeros_like(param)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg.lerp_(grad, self._each(param, lambda s: 1 - float(s["betas"][0])))
        beta2 = self._each(param, lambda s: float(s["betas"][1]))
        _ema_square_(exp_avg_sq, grad, beta2, self._each(param, lambda s: 1 - float(s["betas"][1])))
        return exp_avg, exp_avg_sq

    def _adam(self, param: Tensor, grad: Tensor, state: dict[str, Any], step: int) -> None:
        grad = self._decay_or_l2(param, self._signed(grad))
        exp_avg, exp_avg_sq = self._moments(param, grad, state)
        if self.shared["amsgrad"]:
            maximum = state.setdefault("max_exp_avg_sq", torch.zeros_like(param))
            exp_avg_sq = torch.maximum(maximum, exp_avg_sq, out=maximum)
        sizes = [-(float(s["lr"]) / bias_correction(float(s["betas"][0]), step)) for s in self.slots]
        roots = self._each(param, lambda s: bias_correction(float(s["betas"][1]), step) ** 0.5)
        denom = exp_avg_sq.sqrt().div_(roots).add_(self._each(param, "eps"))
        param.addcdiv_(exp_avg * self._scaled(sizes, param), denom)

    def _nadam(self, param: Tensor, grad: Tensor, state: dict[str, Any], step: int) -> None:
        grad = self._decay_or_l2(param, self._signed(grad))
        mus = [_momentum_schedule(float(s["betas"][0]), float(s["momentum_decay"]), step) for s in self.slots]
        nexts = [_momentum_schedule(float(s["betas"][0]), float(s["momentum_decay"]), step + 1) for s in self.slots]
        if "mu_product" not in state:
            state["mu_product"] = torch.ones(self.num_slots, dtype=scalar_dtype())
        state["mu_product"] *= torch.tensor(mus, dtype=torch.float64).to(scalar_dtype())
        products = state["mu_product"].tolist()
        exp_avg, exp_avg_sq = self._moments(param, grad, state)
        corrections = self._each(param, lambda s: bias_correction(float(s["betas"][1]), step))
        denom = exp_avg_sq.div(corrections).sqrt().add_(self._each(param, "eps"))
        lrs = [float(s["lr"]) for s in self.slots]
        now = [-lr * (1.0 - mu) / (1.0 - p) for lr, mu, p in zip(lrs, mus, products, strict=True)]
        later = [-lr * m / (1.0 - p * m) for lr, m, p in zip(lrs, nexts, products, strict=True)]
        param.addcdiv_(grad * self._scaled(now, param), denom)
        param.addcdiv_(exp_avg * self._scaled(later, param), denom)


def _ema_square_(average: Tensor, value: Tensor, decay: Tensor, keep: Tensor) -> None:
    r""":math:`v \leftarrow \beta v + (1 - \beta) x^2` with per-slot :math:`\beta` (``decay``) and
    :math:`1 - \beta` (``keep``), in ``addcmul_``'s order of operations."""
    average.mul_(decay).addcmul_(value * keep, value)  # avg + 1 * (x * (1 - beta)) * x


_UPDATES: Mapping[str, Callable[[StackedOptimizer, Tensor, Tensor, dict[str, Any], int], None]] = {
    "SGD": StackedOptimizer._sgd,
    "Adagrad": StackedOptimizer._adagrad,
    "RMSprop": StackedOptimizer._rmsprop,
    "Adadelta": StackedOptimizer._adadelta,
    "Adam": StackedOptimizer._adam,
    "AdamW": StackedOptimizer._adam,
    "NAdam": StackedOptimizer._nadam,
}
