"""Shared fixtures: a small random regression problem and the torch.optim reference classes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor

import optimizers

REFERENCE: dict[type[torch.optim.Optimizer], type[torch.optim.Optimizer]] = {
    optimizers.SGD: torch.optim.SGD,
    optimizers.Adagrad: torch.optim.Adagrad,
    optimizers.RMSprop: torch.optim.RMSprop,
    optimizers.Adadelta: torch.optim.Adadelta,
    optimizers.Adam: torch.optim.Adam,
    optimizers.AdamW: torch.optim.AdamW,
    optimizers.NAdam: torch.optim.NAdam,
}


@dataclass
class Problem:
    """A two-layer tanh regression on fixed random mini-batches, plus one parameter the loss ignores.

    ``params`` are ``[w1, b1, w2, unused]``; ``unused`` never gets a gradient. ``sign=-1`` negates
    the objective, so runs with ``maximize=True`` see the same tame dynamics as descent runs. With
    ``bias_skips_every=k``, ``b1`` gets no gradient on every k-th step, so it counts fewer steps than ``w1``.
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
    dtype: torch.dtype = torch.float64, seed: int = 0, sign: float = 1.0, bias_skips_every: int = 0, device: str = "cpu"
) -> Problem:
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype).to(device)

    params = [randn(5, 4), randn(4) * 0.1, randn(4, 2), randn(3)]
    batches = [(randn(8, 5), randn(8, 2)) for _ in range(7)]
    return Problem([p.requires_grad_() for p in params], batches, sign, bias_skips_every)


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
            torch.testing.assert_close(
                value, reference_state[key], rtol=rtol, atol=atol, msg=_prefixed(f"state {key!r}")
            )


@pytest.fixture
def problem_factory() -> Callable[..., Problem]:
    return make_problem


@pytest.fixture
def reference_class() -> Callable[[type[torch.optim.Optimizer]], type[torch.optim.Optimizer]]:
    return REFERENCE.__getitem__


@pytest.fixture
def check_same_run() -> Callable[..., None]:
    return assert_same_run
