"""Which gradients are used: none (skip), sparse and complex (refused with a clear error)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from optimizers import OPTIMIZER_NAMES, get_spec

# (name, shape of the tensors stepped): muon's hybrid gives vectors to its AdamW side and matrices to its Muon side
# (conftest.registry_params), so it runs each test twice, once on each side
CASES = [pytest.param(name, (3,), id=name) for name in OPTIMIZER_NAMES] + [
    pytest.param("muon", (3, 2), id="muon-matrices")
]
Build = Callable[..., torch.optim.Optimizer]  # the ready_optimizer fixture


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_param_without_grad_is_untouched_and_stateless(
    name: str, shape: tuple[int, ...], ready_optimizer: Build
) -> None:
    used = torch.ones(shape, requires_grad=True)
    unused = torch.full(shape, 2.0, requires_grad=True)
    frozen = torch.full(shape, 3.0, requires_grad=False)
    # weight decay would move a parameter even with a zero gradient: it must not touch a None one
    weight_decay = {"weight_decay": 0.1} if "weight_decay" in get_spec(name).defaults() else {}
    optimizer = ready_optimizer(name, [used, unused, frozen], **weight_decay)
    for _ in range(3):
        optimizer.zero_grad()
        used.pow(2).sum().backward()  # type: ignore[no-untyped-call]
        optimizer.step()
    assert unused.grad is None
    assert torch.equal(unused, torch.full(shape, 2.0))
    assert torch.equal(frozen, torch.full(shape, 3.0))
    assert len(optimizer.state[unused]) == 0 and len(optimizer.state[frozen]) == 0
    assert not torch.equal(used, torch.ones(shape))


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_zeroed_grad_set_to_none_skips_the_param(name: str, shape: tuple[int, ...], ready_optimizer: Build) -> None:
    weight = torch.ones(shape, requires_grad=True)
    optimizer = ready_optimizer(name, [weight])
    weight.pow(2).sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    after_one = weight.detach().clone()
    optimizer.zero_grad(set_to_none=True)
    optimizer.step()
    assert torch.equal(weight, after_one)


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_sparse_gradient_raises(name: str, shape: tuple[int, ...], ready_optimizer: Build) -> None:
    dense = torch.ones((2, *shape[1:]), requires_grad=True)  # listed first: must not be stepped either
    embedding = torch.nn.Embedding(5, 2, sparse=True)
    before = embedding.weight.detach().clone()
    optimizer = ready_optimizer(name, [dense, embedding.weight])
    (embedding(torch.tensor([0, 3])).sum() + dense.sum()).backward()
    assert embedding.weight.grad is not None
    assert embedding.weight.grad.is_sparse
    with pytest.raises(RuntimeError, match=f"{get_spec(name).cls.__name__} does not support sparse gradients"):
        optimizer.step()
    assert torch.equal(embedding.weight.detach(), before)
    assert torch.equal(dense.detach(), torch.ones((2, *shape[1:])))


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_complex_parameter_raises(name: str, shape: tuple[int, ...], ready_optimizer: Build) -> None:
    weight = torch.ones((2, *shape[1:]), dtype=torch.complex64, requires_grad=True)
    optimizer = ready_optimizer(name, [weight])
    weight.abs().sum().backward()  # type: ignore[no-untyped-call]
    with pytest.raises(RuntimeError, match="does not support complex parameters"):
        optimizer.step()
