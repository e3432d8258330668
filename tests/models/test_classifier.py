"""ImageClassifier: exact epoch metrics, timing, hyperparameters, optimizer and scheduler wiring."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.classifier import ImageClassifier
from models.cnn import ArticleCNN
from models.device_batches import DeviceBatches

if TYPE_CHECKING:
    from models.conftest import MemoryLogger


def tiny_batches(n: int, batch_size: int, seed: int) -> DeviceBatches:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 4, 4), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    return DeviceBatches(images, labels, None, batch_size)


def frozen_sgd(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=0.0)  # the model stays fixed: metrics are a function of the data


def hand_metrics(net: nn.Module, batches: DeviceBatches) -> tuple[float, float, float]:
    """(sample-weighted loss, accuracy, naive mean of per-batch losses)."""
    with torch.no_grad():
        x = batches.normalize(batches.images)
        logits = net(x)
        loss = F.cross_entropy(logits, batches.labels).item()
        acc = (logits.argmax(1) == batches.labels).float().mean().item()
        naive = torch.stack([F.cross_entropy(net(bx), by) for bx, by in batches]).mean().item()
    return loss, acc, naive


def test_logged_epoch_metrics_are_exact_sample_weighted_means(
    make_trainer: Callable[..., L.Trainer], memory_logger: MemoryLogger
) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    train = tiny_batches(10, 4, seed=1)  # batches of 4, 4, 2
    val = tiny_batches(7, 3, seed=2)  # batches of 3, 3, 1
    model = ImageClassifier(net, frozen_sgd, hparams={"optimizer": "sgd", "lr": 0.0})
    trainer = make_trainer(max_epochs=2, logger=memory_logger, log_every_n_steps=1, num_sanity_val_steps=0)
    trainer.fit(model, train_dataloaders=train, val_dataloaders=val)

    net.eval()
    train_loss, train_acc, train_naive = hand_metrics(net, train)
    val_loss, val_acc, val_naive = hand_metrics(net, val)
    assert abs(train_naive - train_loss) > 1e-3 and abs(val_naive - val_loss) > 1e-3  # weighting matters
    for key, expected in [
        ("train/loss", train_loss),
        ("train/acc", train_acc),
        ("val/loss", val_loss),
        ("val/acc", val_acc),
    ]:
        assert memory_logger.series(key) == pytest.approx([expected] * 2, rel=1e-6), key

    # once per epoch, nothing per step
    keys = {key for _, metrics in memory_logger.records for key in metrics}
    assert keys == {
        "train/loss",
        "train/acc",
        "val/loss",
        "val/acc",
        "val/predicted_classes",
        "time/epoch_seconds",
        "time/samples_per_second",
        "time/elapsed_seconds",
        "epoch",
    }
    with torch.no_grad():
        predicted = net(val.normalize(val.images)).argmax(1).unique().numel()
    assert memory_logger.series("val/predicted_classes") == [predicted] * 2
    seconds = memory_logger.series("time/epoch_seconds")
    assert len(seconds) == 2 and all(s > 0 for s in seconds)
    assert memory_logger.series("time/elapsed_seconds") == pytest.approx([seconds[0], seconds[0] + seconds[1]])
    assert memory_logger.series("time/samples_per_second") == pytest.approx([10 / s for s in seconds], rel=1e-5)

    # hyperparameters: the given mapping plus a description of the net
    assert memory_logger.hparams == {
        "optimizer": "sgd",
        "lr": 0.0,
        "net": "Sequential",
        "net_parameters": 51,
        "lr_scheduler": False,
    }

    results = trainer.test(model, dataloaders=tiny_batches(5, 2, seed=3), verbose=False)
    test_loss, test_acc, _ = hand_metrics(net, tiny_batches(5, 2, seed=3))
    assert results[0]["test/loss"] == pytest.approx(test_loss, rel=1e-6)
    assert results[0]["test/acc"] == pytest.approx(test_acc, rel=1e-6)


def test_optimizer_factory_and_a_scheduler_stepped_per_optimizer_step(make_trainer: Callable[..., L.Trainer]) -> None:
    seen: list[list[nn.Parameter]] = []

    def factory(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        listed = list(params)
        seen.append(listed)
        return torch.optim.SGD(listed, lr=0.1)

    def scheduler(optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)

    net = ArticleCNN(in_channels=1, image_size=4, num_classes=3)
    model = ImageClassifier(net, factory, scheduler)
    trainer = make_trainer(max_epochs=3, limit_val_batches=0)
    trainer.fit(model, train_dataloaders=tiny_batches(8, 4, seed=0))
    assert len(seen) == 1 and {id(p) for p in seen[0]} == {id(p) for p in net.parameters()}
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**6)  # per step: 2 an epoch
    assert model.hparams["lr_scheduler"] is True
    assert trainer.global_step == 6


class _Clock:
    """A stand-in for ``time.perf_counter`` that moves only when a step says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_validation_time_is_not_training_time(
    make_trainer: Callable[..., L.Trainer], memory_logger: MemoryLogger, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _Clock()
    monkeypatch.setattr("models.classifier.time.perf_counter", clock)

    class TimedSteps(ImageClassifier):
        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            clock.now += 1.0  # each training step "takes" a second
            return super().training_step(batch, batch_idx)

        def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
            clock.now += 50.0  # and validation far longer
            return super().validation_step(batch, batch_idx)

    model = TimedSteps(nn.Sequential(nn.Flatten(), nn.Linear(16, 3)), frozen_sgd)
    trainer = make_trainer(max_epochs=2, logger=memory_logger, num_sanity_val_steps=0, log_every_n_steps=1)
    trainer.fit(model, train_dataloaders=tiny_batches(8, 4, seed=0), val_dataloaders=tiny_batches(3, 3, seed=1))
    assert memory_logger.series("time/epoch_seconds") == [2.0, 2.0]  # two steps an epoch; validation left out
    assert memory_logger.series("time/elapsed_seconds") == [2.0, 4.0]
    assert memory_logger.series("time/samples_per_second") == [4.0, 4.0]
