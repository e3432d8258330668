"""Schedule-Free AdamW in a Lightning fit: it steps at its training point, is validated, tested and saved at its
average, and a network's BatchNorm statistics are recomputed at the average."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from models.train_eval_switch import RECOMPUTE_BATCHES, TrainEvalSwitch
from optimizers import AdamWScheduleFree
from optimizers.train_eval import in_train_mode, with_switch

BATCH = 8


class Probe(L.Callback):
    """Records the optimizer's mode where the loop trains, validates and tests (it runs after the switch)."""

    def __init__(self) -> None:
        self.modes: dict[str, set[bool]] = {"train": set(), "validate": set(), "test": set()}

    def _record(self, stage: str, trainer: L.Trainer) -> None:
        self.modes[stage].add(in_train_mode(with_switch(trainer.optimizers)[0]))

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, index: int) -> None:
        self._record("train", trainer)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._record("validate", trainer)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._record("test", trainer)


class Normalized(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(4)  # on the inputs: its statistics do not depend on the weights
        self.out = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = self.out(self.norm(x))
        return result

    def _loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return nn.functional.cross_entropy(self(batch[0]), batch[1])

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        return self._loss(batch)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        return self._loss(batch)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], index: int) -> torch.Tensor:
        return self._loss(batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return AdamWScheduleFree(self.parameters(), lr=0.01)


def test_schedule_free_trains_at_its_point_and_is_evaluated_and_saved_at_its_average() -> None:
    torch.manual_seed(0)
    inputs = torch.randn(BATCH * (RECOMPUTE_BATCHES + 10), 4) * 3 + 1
    data = TensorDataset(inputs, (inputs.sum(dim=1) > 4).long())
    loader = DataLoader(data, batch_size=BATCH)
    module, probe = Normalized(), Probe()
    trainer = L.Trainer(
        max_epochs=2, callbacks=[TrainEvalSwitch(), probe], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, loader, loader)
    (optimizer,) = with_switch(trainer.optimizers)
    assert not in_train_mode(optimizer), "a fit leaves the average in the weights"
    averaged = {name: p.detach().clone() for name, p in module.named_parameters()}
    optimizer.train()
    assert any(not torch.equal(averaged[n], p) for n, p in module.named_parameters()), "two distinct points"
    optimizer.eval()
    trainer.test(module, loader, verbose=False)
    assert probe.modes == {"train": {True}, "validate": {False}, "test": {False}}
    # the statistics are the plain average over the first RECOMPUTE_BATCHES batches, momentum given back
    means = torch.stack([batch[0].mean(dim=0) for batch, _ in zip(loader, range(RECOMPUTE_BATCHES), strict=False)])
    norm = module.norm
    assert norm.running_mean is not None and norm.num_batches_tracked is not None
    assert torch.allclose(norm.running_mean, means.mean(dim=0), atol=1e-5)
    assert norm.momentum == 0.1 and int(norm.num_batches_tracked) == RECOMPUTE_BATCHES


def test_adam_is_left_alone() -> None:
    module = Normalized()
    module.configure_optimizers = lambda: torch.optim.Adam(module.parameters())  # type: ignore[method-assign]
    inputs = torch.randn(BATCH * 4, 4)
    loader = DataLoader(TensorDataset(inputs, torch.zeros(len(inputs), dtype=torch.long)), batch_size=BATCH)
    trainer = L.Trainer(
        max_epochs=1, callbacks=[TrainEvalSwitch()], logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(module, loader, loader)
    assert module.norm.num_batches_tracked is not None
    assert int(module.norm.num_batches_tracked) == 4  # training's own count: nothing recomputed
