"""Shared fixtures: a small random regression problem, the reference classes, the two test functions of the
convergence tests, and what each registry name needs beyond a list of tensors.

Three registry names cannot take what the shared tests give every other one:

* ``muon`` builds ``MuonWithAdamW``, whose param groups must each say which rule updates them (``use_muon``):
  :func:`registry_params` and :meth:`Problem.groups_for` make them with ``muon_adamw_param_groups``.
* ``schedulefree_adamw`` starts in eval mode, where ``step`` raises: :func:`build_ready` puts it in train mode
  (``optimizers.train_eval.to_train``, a no-op for every other optimizer), and tests that look at the weights
  after training switch it back with ``to_eval`` first, so they see the point it is meant to be evaluated at.
* ``prodigy`` shares one step-size estimate between its groups, so each group's ``lr`` must be the largest or 0:
  :func:`second_group_lr` gives it 0 where a test wants a second group at another rate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import lion_pytorch
import prodigyopt
import pytest
import schedulefree
import torch
from torch import Tensor

import optimizers
from optimizers import build_optimizer
from optimizers.adafactor import Adafactor
from optimizers.adamax import Adamax
from optimizers.lion import Lion
from optimizers.muon import Muon, MuonWithAdamW, muon_adamw_param_groups
from optimizers.prodigy import Prodigy
from optimizers.radam import RAdam
from optimizers.schedulefree_adamw import AdamWScheduleFree
from optimizers.train_eval import to_train

HYBRID = "muon"  # the registry name of MuonWithAdamW, whose groups must be marked
SHARED_LR = "prodigy"  # the registry name whose groups must share the largest lr (or be frozen at 0)


class _TorchFlags(torch.optim.Optimizer):
    """For a reference that lacks torch's flags: ``foreach`` is accepted and ignored (it has one code path), and
    ``maximize`` steps on the negated gradients, which is what torch's ``maximize`` means."""

    maximize: bool = False

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if self.maximize:
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        param.grad.neg_()
        super().step()
        return loss


class LionReference(_TorchFlags, lion_pytorch.Lion):  # type: ignore[misc]
    """``lion_pytorch.Lion`` (the package's export, not its Triton or foreach variants) with torch's flags."""

    def __init__(self, params: Any, *, foreach: bool | None = None, maximize: bool = False, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.maximize = maximize


class MuonReference(_TorchFlags, torch.optim.Muon):
    """``torch.optim.Muon``, which has neither flag, with them."""

    def __init__(self, params: Any, *, foreach: bool | None = None, maximize: bool = False, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.maximize = maximize


class MuonWithAdamWReference(torch.optim.Optimizer):
    """No library has the hybrid: ``torch.optim.Muon`` (:class:`MuonReference`) over the groups marked ``use_muon``
    and ``torch.optim.AdamW`` over the others, with ``MuonWithAdamW``'s constructor keywords, stepped together.
    ``param_groups`` are theirs, the same dicts (a scheduler reaches both), and ``state`` theirs merged after each
    step."""

    def __init__(
        self,
        params: Iterable[dict[str, Any]],
        *,
        adamw_lr: float,
        adamw_betas: tuple[float, float],
        adamw_eps: float,
        adamw_weight_decay: float,
        maximize: bool = False,
        foreach: bool | None = None,
        **muon: Any,
    ) -> None:
        groups = list(params)
        sides = {
            flag: [{k: v for k, v in group.items() if k != "use_muon"} for group in groups if group["use_muon"] is flag]
            for flag in (True, False)
        }
        self.muon = MuonReference(sides[True], maximize=maximize, **muon)
        self.adamw = torch.optim.AdamW(
            sides[False],
            lr=adamw_lr,
            betas=adamw_betas,
            eps=adamw_eps,
            weight_decay=adamw_weight_decay,
            maximize=maximize,
            foreach=foreach,
        )
        super().__init__([param for group in groups for param in group["params"]], {})
        self.param_groups = [*self.muon.param_groups, *self.adamw.param_groups]

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.muon.step()
        self.adamw.step()
        self.state = defaultdict(dict, {**self.muon.state, **self.adamw.state})
        return loss


class ScheduleFreeReference(_TorchFlags, schedulefree.AdamWScheduleFree):  # type: ignore[misc]
    """``schedulefree.AdamWScheduleFree`` with torch's ``maximize`` (its ``foreach`` is its own)."""

    def __init__(self, params: Any, *, maximize: bool = False, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.maximize = maximize


class ProdigyReference(_TorchFlags, prodigyopt.Prodigy):  # type: ignore[misc]
    """``prodigyopt.Prodigy`` with torch's flags."""

    def __init__(self, params: Any, *, foreach: bool | None = None, maximize: bool = False, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.maximize = maximize


REFERENCE: dict[type[torch.optim.Optimizer], type[torch.optim.Optimizer]] = {
    optimizers.SGD: torch.optim.SGD,
    optimizers.Adagrad: torch.optim.Adagrad,
    optimizers.RMSprop: torch.optim.RMSprop,
    optimizers.Adadelta: torch.optim.Adadelta,
    optimizers.Adam: torch.optim.Adam,
    optimizers.AdamW: torch.optim.AdamW,
    optimizers.NAdam: torch.optim.NAdam,
    Lion: LionReference,
    Muon: MuonReference,
    RAdam: torch.optim.RAdam,
    Adamax: torch.optim.Adamax,
    Adafactor: torch.optim.Adafactor,
    MuonWithAdamW: MuonWithAdamWReference,
    AdamWScheduleFree: ScheduleFreeReference,
    Prodigy: ProdigyReference,
}


@dataclass
class Problem:
    """A two-layer tanh regression on fixed random mini-batches, plus one parameter the loss ignores.

    ``params`` are ``[w1, b1, w2, unused]``; ``unused`` never gets a gradient. ``sign=-1`` negates
    the objective, so runs with ``maximize=True`` see the same tame dynamics as descent runs. With
    ``bias_skips_every=k``, ``b1`` gets no gradient on every k-th step, so it counts fewer steps than ``w1``.
    With ``matrices_only`` (for optimizers that refuse 1-D parameters, such as Muon) ``b1`` is a ``(1, 4)`` row
    and ``unused`` a ``(3, 1)`` column.
    """

    params: list[Tensor]
    batches: list[tuple[Tensor, Tensor]]
    sign: float = 1.0
    bias_skips_every: int = 0

    def clone(self) -> Problem:
        params = [p.detach().clone().requires_grad_() for p in self.params]
        return Problem(params, self.batches, self.sign, self.bias_skips_every)

    def loss(self, step: int) -> Tensor:
        w1, b1, w2, _ = self.params
        if self.bias_skips_every and step % self.bias_skips_every == self.bias_skips_every - 1:
            b1 = b1.detach()
        x, y = self.batches[step % len(self.batches)]
        return self.sign * (torch.tanh(x @ w1 + b1) @ w2 - y).pow(2).mean()

    def groups(self, second: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Two param groups: ``[w1, b1, unused]`` with the optimizer's defaults, ``[w2]`` with ``second``."""
        w1, b1, w2, unused = self.params
        return [{"params": [w1, b1, unused]}, {"params": [w2], **(second or {})}]

    def named_parameters(self) -> list[tuple[str, Tensor]]:
        return list(zip(("w1", "b1", "w2", "unused"), self.params, strict=True))

    def groups_for(self, name: str, second: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The two param groups registry name ``name`` takes: :meth:`groups`, except for ``muon``, whose groups must
        be marked: ``muon_adamw_param_groups``' split of this network with ``w2`` its output layer, ``[w1]`` (the
        hidden matrix) to Muon with the optimizer's values and ``[b1, w2, unused]`` to AdamW with ``second``."""
        if name != HYBRID:
            return self.groups(second)
        muon_group, adamw_group = muon_adamw_param_groups(self.named_parameters(), ["w2"])[0]
        return [muon_group, {**adamw_group, **(second or {})}]

    def run(self, optimizer: torch.optim.Optimizer, steps: int, start: int = 0) -> list[Any]:
        """Take ``steps`` steps through closures; returns the losses ``step`` handed back."""
        losses = []
        for step in range(start, start + steps):

            def closure(step: int = step) -> Tensor:
                optimizer.zero_grad()
                loss = self.loss(step)
                loss.backward()  # type: ignore[no-untyped-call]
                return loss

            # torch types a closure as returning float; it returns the loss tensor, as torch's docs show
            losses.append(optimizer.step(closure))  # type: ignore[arg-type]
        return losses


def make_problem(
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    sign: float = 1.0,
    bias_skips_every: int = 0,
    device: str = "cpu",
    matrices_only: bool = False,
) -> Problem:
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype).to(device)

    params = [randn(5, 4), randn(4) * 0.1, randn(4, 2), randn(3)]
    if matrices_only:
        params[1], params[3] = params[1].reshape(1, 4), params[3].reshape(3, 1)
    batches = [(randn(8, 5), randn(8, 2)) for _ in range(7)]
    return Problem([p.requires_grad_() for p in params], batches, sign, bias_skips_every)


def registry_params(name: str, params: Iterable[Tensor]) -> list[Tensor] | list[dict[str, Any]]:
    """``params`` as registry name ``name`` takes them: the tensors themselves, or for ``muon`` the groups
    ``muon_adamw_param_groups`` makes of them, no output layer named: tensors of 2 or more dimensions to Muon,
    the others to AdamW."""
    if name != HYBRID:
        return list(params)
    groups, _ = muon_adamw_param_groups([(str(index), param) for index, param in enumerate(params)], [])
    return groups


def build_ready(
    name: str, params: Iterable[Tensor] | Iterable[dict[str, Any]], **overrides: Any
) -> torch.optim.Optimizer:
    """``build_optimizer(name, params, **overrides)``, ready to step: plain tensors made into what ``name`` takes
    (:func:`registry_params`; groups are taken as they are), and a train/eval optimizer (``schedulefree_adamw``)
    put in train mode."""
    items: list[Any] = list(params)
    if all(isinstance(item, Tensor) for item in items):
        items = registry_params(name, items)
    optimizer = build_optimizer(name, items, **overrides)
    to_train([optimizer])
    return optimizer


def second_group_lr(name: str, lr: float) -> float:
    """The ``lr`` of a second param group meant to run at another rate than the first: ``lr``, except for
    ``prodigy``, whose groups share one estimate of the step size and so each take the largest ``lr`` or 0: its
    second group is frozen at 0, the only other rate it accepts."""
    return 0.0 if name == SHARED_LR else lr


def quadratic(x: Tensor) -> Tensor:
    """0.5 * (x0^2 + 10 x1^2) of ``x``'s two entries (any shape): condition number 10, minimum 0 at the origin."""
    x = x.reshape(-1)
    return 0.5 * (torch.tensor([1.0, 10.0], dtype=x.dtype) * x * x).sum()


def rosenbrock(x: Tensor) -> Tensor:
    """(1 - x0)^2 + 100 (x1 - x0^2)^2 of ``x``'s two entries (any shape): a curved valley, minimum 0 at (1, 1)."""
    x = x.reshape(-1)
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


OBJECTIVES: Mapping[str, Callable[[Tensor], Tensor]] = MappingProxyType(
    {"quadratic": quadratic, "rosenbrock": rosenbrock}
)


def _prefixed(prefix: str) -> Callable[[str], str]:
    """An ``assert_close`` message that puts ``prefix`` before torch's own."""
    return lambda message: f"{prefix}: {message}"


def assert_same_run(
    ours: torch.optim.Optimizer,
    ours_params: Sequence[Tensor],
    reference: torch.optim.Optimizer,
    reference_params: Sequence[Tensor],
    *,
    rtol: float,
    atol: float = 0.0,
) -> None:
    """Parameters agree, and every state tensor of ours agrees with the reference's under the same key."""
    for index, (mine, theirs) in enumerate(zip(ours_params, reference_params, strict=True)):
        torch.testing.assert_close(mine, theirs, rtol=rtol, atol=atol, msg=_prefixed(f"param {index}"))
        state = ours.state.get(mine, {})
        if mine.grad is None:
            assert len(state) == 0, f"param {index} has no gradient but got state {sorted(state)}"
            continue
        reference_state = reference.state[theirs]
        assert sorted(state) == sorted(reference_state), f"param {index}: state keys differ"
        for key, value in state.items():
            expected = reference_state[key]
            if not isinstance(expected, Tensor):  # prodigyopt counts steps in Python ints, ours in float32 tensors
                assert value.item() == expected, f"param {index}: state {key!r} is {value.item()}, not {expected}"
                continue
            torch.testing.assert_close(value, expected, rtol=rtol, atol=atol, msg=_prefixed(f"state {key!r}"))


@pytest.fixture
def problem_factory() -> Callable[..., Problem]:
    return make_problem


@pytest.fixture
def reference_class() -> Callable[[type[torch.optim.Optimizer]], type[torch.optim.Optimizer]]:
    return REFERENCE.__getitem__


@pytest.fixture
def check_same_run() -> Callable[..., None]:
    return assert_same_run


@pytest.fixture
def ready_optimizer() -> Callable[..., torch.optim.Optimizer]:
    return build_ready


@pytest.fixture
def other_lr() -> Callable[[str, float], float]:
    return second_group_lr


@pytest.fixture
def objectives() -> Mapping[str, Callable[[Tensor], Tensor]]:
    return OBJECTIVES
