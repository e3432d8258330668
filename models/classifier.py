"""``ImageClassifier``: a LightningModule around any image network and an optimizer factory.

The module never names a concrete optimizer: it receives ``optimizer_factory(params) -> Optimizer``
(and optionally ``scheduler_factory(optimizer) -> LRScheduler``, stepped after every optimizer step), so the
search space lives in ``study`` and the arithmetic in ``optimizers``.

Metrics are built for speed: a study trains this module hundreds of times, so nothing is logged
or synchronised per step. Each step adds its summed loss and correct count into on-device
accumulators; ``on_*_epoch_end`` logs exact sample-weighted epoch means once (a smaller last
batch weighs what it holds):

========================  ==========================================================================
``train/loss``, ``/acc``  mean cross-entropy and accuracy over the epoch's training samples
``val/loss``, ``/acc``    same over the validation set (``test/...`` in ``trainer.test``)
``time/epoch_seconds``    wall seconds of the training epoch, validation excluded (CUDA synchronised)
``time/samples_per_second``  training samples / ``time/epoch_seconds``
``time/elapsed_seconds``  training seconds summed over the epochs since fit start
========================  ==========================================================================

Training metrics are dropout-mode metrics of a moving model (as Keras reports them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from models.cnn import count_parameters
from models.metric_names import (
    ELAPSED_SECONDS,
    EPOCH_SECONDS,
    SAMPLES_PER_SECOND,
    TRAIN_ACC,
    TRAIN_LOSS,
    acc_key,
    classes_key,
    loss_key,
)

__all__ = ["ImageClassifier", "OptimizerFactory", "SchedulerFactory"]

OptimizerFactory = Callable[[Iterable[nn.Parameter]], Optimizer]
SchedulerFactory = Callable[[Optimizer], LRScheduler]

_STAGES = ("train", "val", "test")


class _EpochSums:
    """Loss sum, correct count and sample count of one stage's epoch, kept on the device; for evaluation
    stages also how often each class was predicted (a network that predicts one class for everything has
    collapsed, whatever its loss says)."""

    def __init__(self, device: torch.device, count_predictions: bool) -> None:
        # float64 keeps the 60k-term loss sum exact to ~1e-12 (MPS has no float64)
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.loss_sum = torch.zeros((), dtype=dtype, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.predicted: torch.Tensor | None = None  # per class, created at the first batch
        self.count_predictions = count_predictions
        self.count = 0  # a Python int: batch sizes are known without a device sync

    def add(self, loss: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> None:
        n = target.shape[0]
        predictions = logits.detach().argmax(dim=1)
        self.loss_sum += loss.detach().to(self.loss_sum.dtype) * n
        self.correct += (predictions == target).sum()
        if self.count_predictions:
            counts = torch.bincount(predictions, minlength=logits.shape[1])
            self.predicted = counts if self.predicted is None else self.predicted + counts
        self.count += n

    def predicted_classes(self) -> int:
        """How many classes were predicted at least once (one host sync)."""
        return 0 if self.predicted is None else int((self.predicted > 0).sum())

    def means(self) -> tuple[float, float]:
        """``(mean loss, accuracy)``: one device-to-host transfer."""
        if self.count == 0:
            return float("nan"), float("nan")
        loss_sum, correct = torch.stack([self.loss_sum, self.correct.to(self.loss_sum.dtype)]).tolist()
        return loss_sum / self.count, correct / self.count


class ImageClassifier(L.LightningModule):
    """Cross-entropy classification of ``net``'s logits, with epoch-level metrics and timing.

    Args:
        net: maps images ``(B, C, H, W)`` to logits ``(B, num_classes)``.
        optimizer_factory: builds the optimizer from the parameters, e.g.
            ``lambda params: build_optimizer("adam", params, lr=1e-3)``.
        scheduler_factory: optional; builds an LR scheduler from the optimizer, stepped after every optimizer step.
        hparams: extra values to record with the hyperparameters (optimizer name, lr, ...).
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer_factory: OptimizerFactory,
        scheduler_factory: SchedulerFactory | None = None,
        hparams: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer_factory
        self.scheduler_factory = scheduler_factory
        self.save_hyperparameters(
            {
                **dict(hparams or {}),
                "net": type(net).__name__,
                "net_parameters": count_parameters(net),
                "lr_scheduler": scheduler_factory is not None,
            }
        )
        self._sums: dict[str, _EpochSums] = {}
        self._clock_start: float | None = None  # perf_counter() while the training clock runs
        self._paused_for_validation = False
        self._epoch_seconds = 0.0
        self._elapsed_seconds = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(x)
        return logits

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.net.parameters())
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # ------------------------------------------------------------------ the shared step

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        sums = self._sums.get(stage)
        if sums is None:
            sums = self._sums[stage] = _EpochSums(loss.device, count_predictions=stage != "train")
        sums.add(loss, logits, y)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "test")

    def _log_epoch(self, stage: str) -> None:
        """Log ``{stage}/loss`` and ``{stage}/acc`` of the epoch that just ended (one host sync)."""
        sums = self._sums.pop(stage, None)
        if sums is None or sums.count == 0:
            return
        loss, acc = sums.means()
        metrics = {loss_key(stage): loss, acc_key(stage): acc, classes_key(stage): float(sums.predicted_classes())}
        self.log_dict(metrics, on_step=False, on_epoch=True)

    # ------------------------------------------------------------------ timing

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _start_clock(self) -> None:
        self._sync()
        self._clock_start = time.perf_counter()

    def _stop_clock(self) -> None:
        if self._clock_start is not None:
            self._sync()
            self._epoch_seconds += time.perf_counter() - self._clock_start
            self._clock_start = None

    def on_fit_start(self) -> None:
        self._elapsed_seconds = 0.0

    def on_train_epoch_start(self) -> None:
        self._sums.pop("train", None)
        self._epoch_seconds = 0.0
        self._start_clock()

    def on_validation_start(self) -> None:
        # validation inside a training epoch is not training time
        self._paused_for_validation = self._clock_start is not None
        self._stop_clock()

    def on_validation_end(self) -> None:
        if self._paused_for_validation:
            self._paused_for_validation = False
            self._start_clock()

    def train_epoch_metrics(self) -> dict[str, float]:
        """The training epoch's metrics so far: its loss, accuracy and timing (validation time excluded).

        Complete once the epoch's last batch ran, so a callback's ``on_validation_end`` at the end of an
        epoch sees the same values ``on_train_epoch_end`` logs. One host sync.
        """
        sums = self._sums.get("train")
        samples = 0 if sums is None else sums.count
        seconds = self._epoch_seconds
        if self._clock_start is not None:  # still running: count up to now
            seconds += time.perf_counter() - self._clock_start
        metrics: dict[str, float] = {}
        if sums is not None and samples:
            metrics[TRAIN_LOSS], metrics[TRAIN_ACC] = sums.means()
        metrics[EPOCH_SECONDS] = seconds
        metrics[SAMPLES_PER_SECOND] = samples / seconds if seconds > 0 else float("nan")
        metrics[ELAPSED_SECONDS] = self._elapsed_seconds + seconds
        return metrics

    def on_train_epoch_end(self) -> None:
        self._stop_clock()
        metrics = self.train_epoch_metrics()
        self._elapsed_seconds = metrics[ELAPSED_SECONDS]
        self._sums.pop("train", None)
        self.log_dict(metrics, on_step=False, on_epoch=True)

    def on_validation_epoch_start(self) -> None:
        self._sums.pop("val", None)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("val")

    def on_test_epoch_start(self) -> None:
        self._sums.pop("test", None)

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")
