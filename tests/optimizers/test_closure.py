"""The closure contract, and a real Lightning loop, which only ever calls ``step(closure=...)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import torch
from torch import nn

from optimizers import OPTIMIZER_NAMES
from optimizers._base import ScratchOptimizer
from optimizers.train_eval import to_eval

if TYPE_CHECKING:
    from optimizers.conftest import Problem

# (name, shape of the weight stepped): muon's hybrid gives a vector to its AdamW side and a matrix to its Muon side
# (conftest.registry_params), so it runs each test on a single weight twice, once on each side
CASES = [pytest.param(name, (3,), id=name) for name in OPTIMIZER_NAMES] + [
    pytest.param("muon", (3, 2), id="muon-matrix")
]
Build = Callable[..., torch.optim.Optimizer]  # the ready_optimizer fixture


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_closure_called_once_per_step_and_its_loss_returned(
    name: str, problem_factory: Callable[..., Problem], ready_optimizer: Build
) -> None:
    problem = problem_factory(torch.float64)
    optimizer = ready_optimizer(name, problem.groups_for(name))
    assert isinstance(optimizer, ScratchOptimizer)
    losses: list[torch.Tensor] = []
    grad_enabled: list[bool] = []
    for step in range(3):

        def closure(step: int = step) -> torch.Tensor:
            grad_enabled.append(torch.is_grad_enabled())
            optimizer.zero_grad()
            loss = problem.loss(step)
            loss.backward()  # type: ignore[no-untyped-call]
            losses.append(loss)
            return loss

        before = problem.params[0].detach().clone()
        returned = optimizer.step(closure)
        assert len(losses) == step + 1, "the closure must run exactly once per step"
        assert returned is losses[-1], "step must return the closure's loss"
        assert not torch.equal(before, problem.params[0]), "step must use the closure's gradients"
    assert all(grad_enabled), "the closure must run with gradients enabled"


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_returns_the_closure_object(name: str, shape: tuple[int, ...], ready_optimizer: Build) -> None:
    weight = torch.ones(shape, requires_grad=True)
    optimizer = ready_optimizer(name, [weight])
    assert isinstance(optimizer, ScratchOptimizer)
    sentinel = torch.tensor(1.5)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        weight.pow(2).sum().backward()  # type: ignore[no-untyped-call]
        return sentinel

    assert optimizer.step(closure) is sentinel
    assert torch.is_grad_enabled(), "step must restore the caller's grad mode"


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_step_without_closure(name: str, shape: tuple[int, ...], ready_optimizer: Build) -> None:
    weight = torch.ones(shape, requires_grad=True)
    optimizer = ready_optimizer(name, [weight])
    weight.pow(2).sum().backward()  # type: ignore[no-untyped-call]
    assert optimizer.step() is None
    assert not torch.equal(weight, torch.ones(shape))
    assert weight.grad_fn is None, "the update must not be recorded by autograd"


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_closure_gets_grad_even_inside_no_grad(name: str, shape: tuple[int, ...], ready_optimizer: Build) -> None:
    weight = torch.ones(shape, requires_grad=True)
    optimizer = ready_optimizer(name, [weight])
    assert isinstance(optimizer, ScratchOptimizer)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    with torch.no_grad():
        loss = optimizer.step(closure)
    assert loss.item() == weight.numel()  # the loss of the weight before the step: a sum of ones
    assert not torch.equal(weight, torch.ones(shape))


@pytest.mark.parametrize(("name", "shape"), CASES)
def test_torch_step_hooks_fire(name: str, shape: tuple[int, ...], ready_optimizer: Build) -> None:
    weight = torch.ones(shape, requires_grad=True)
    optimizer = ready_optimizer(name, [weight])
    fired: list[str] = []
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: fired.append("pre"))
    optimizer.register_step_post_hook(lambda opt, args, kwargs: fired.append("post"))
    weight.sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()
    assert fired == ["pre", "post"]


@pytest.mark.filterwarnings("ignore::UserWarning")  # Lightning's num_workers / logging hints
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")  # lightning 2.6 vs newer torch pytree
@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_lightning_trainer_changes_weights(name: str, ready_optimizer: Build) -> None:
    pytest.importorskip("lightning")
    import lightning

    torch.manual_seed(0)

    class TinyModule(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = nn.Linear(6, 2)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            inputs, targets = batch
            return nn.functional.mse_loss(self.layer(inputs), targets)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            # muon: the weight matrix to Muon, the bias to AdamW; schedulefree_adamw: in train mode
            return ready_optimizer(name, self.parameters())

    data = torch.utils.data.TensorDataset(torch.randn(40, 6), torch.randn(40, 2))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    module = TinyModule()
    before = [p.detach().clone() for p in module.parameters()]
    trainer = lightning.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_steps=5,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(module, loader)
    assert trainer.global_step == 5
    to_eval(trainer.optimizers)  # schedulefree_adamw: the weights to evaluate are its average x
    for old, new in zip(before, module.parameters(), strict=True):
        assert not torch.equal(old, new.detach()), f"{name}: Lightning training left the weights unchanged"
