"""K copies of the article's CNN trained as one program: stacked parameters, one forward, one backward.

``StackedCNN`` holds the K networks' parameters stacked along dimension 0 (``torch.func.stack_module_state``
of K seeded ``ArticleCNN``, so slot k starts from exactly the weights an unfused run with that seed starts
from). Its forward computes all K networks at once: the K convolutions as one grouped convolution (each slot
its own 32 filters), the dense layers as batched matrix products (``baddbmm``), and dropout masks drawn over
the whole stack, so every slot gets its own masks. On this project's CPU this explicit form ran 1.9x faster
than ``vmap(functional_call(...))`` over the same stack (which also cannot take the channels-last layout or
``BitDropout``'s masks), and gives the same outputs: with dropout off the logits of each slot equal the
unfused network's (``tests/study/test_fused.py`` checks whole trainings in float64).

``FusedClassifier`` is the LightningModule: per slot, the mean cross-entropy of that slot's batch; the step
returns their sum, so each slot's parameters receive exactly their own gradient (the other terms do not depend
on them). A frozen slot (pruned, diverged) contributes nothing and its optimizer slot stops
(``stop_slot``, ``optimizers.stacked.StackedOptimizer.freeze``): the others train on, and a NaN in one slot stays in it.
Metrics are kept per slot on the device and read once per epoch (``slot_metrics``).

``StackedBatches`` gives each slot its own data order: K shuffled loaders over the same resident images (one
per trial seed), their batches stacked to ``(K, B, C, H, W)``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import stack_module_state

from models.classifier import ImageClassifier, OptimizerFactory
from models.cnn import ArticleCNN
from models.device_batches import DeviceBatches
from models.dropout import bit_mask
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

__all__ = ["FusedClassifier", "StackedBatches", "StackedCNN"]


def _key(name: str) -> str:
    return name.replace(".", "__")  # a ParameterDict key may not hold a dot


class StackedCNN(nn.Module):
    """``len(nets)`` copies of :class:`ArticleCNN` (same shape), parameters stacked slot-first.

    ``forward(x)`` takes per-slot images ``(K, B, C, H, W)`` or one batch for all slots ``(B, C, H, W)`` and
    returns logits ``(K, B, classes)``.
    """

    def __init__(self, nets: Sequence[ArticleCNN]) -> None:
        super().__init__()
        if not nets:
            raise ValueError("a stack needs at least one network")
        first = nets[0]
        shapes = {(n.in_channels, n.image_size, n.num_classes) for n in nets}
        if len(shapes) != 1:
            raise ValueError(f"the networks of a stack must have one shape, got {sorted(shapes)}")
        self.slots = len(nets)
        self.in_channels, self.image_size, self.num_classes = first.in_channels, first.image_size, first.num_classes
        self.pooled = (first.image_size - 2) // 2
        self.filters = first.conv.out_channels
        self.drop_rates = (first.dropout1.p, first.dropout2.p)
        params, _ = stack_module_state(list(nets))
        self.stacked = nn.ParameterDict({_key(k): nn.Parameter(v.detach().clone()) for k, v in params.items()})

    def weight(self, name: str) -> torch.Tensor:
        stacked: torch.Tensor = self.stacked[_key(name)]
        return stacked

    def _dropout(self, x: torch.Tensor, rate: float) -> torch.Tensor:
        if not self.training or rate == 0.0:
            return x
        return x * bit_mask(x.numel(), 1.0 - rate, device=x.device).view_as(x).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, channels = self.slots, self.in_channels
        conv_weight = self.weight("conv.weight").reshape(k * self.filters, channels, 3, 3)
        if x.ndim == 5:  # one batch per slot: slot k's images meet slot k's filters only
            batch = x.shape[1]
            x = x.transpose(0, 1).reshape(batch, k * channels, *x.shape[3:])
            groups = k
        else:  # one batch for every slot (evaluation): every filter sees it
            batch, groups = x.shape[0], 1
        if x.is_cpu:  # as ArticleCNN: max-pooling a channels-last conv output is ~10x faster (.to restrides
            x = x.to(memory_format=torch.channels_last)  # even one channel, where .contiguous would not)
        z = F.conv2d(x, conv_weight, self.weight("conv.bias").reshape(-1), groups=groups)
        z = F.relu(F.max_pool2d(z, 2), inplace=True)
        # (B, K*32, p, p) -> (K, B, 32*p*p): each slot's features in the NCHW order ArticleCNN flattens them in
        z = z.reshape(batch, k, self.filters * self.pooled * self.pooled).transpose(0, 1)
        z = self._dropout(z, self.drop_rates[0])
        h = torch.baddbmm(self.weight("fc1.bias").unsqueeze(1), z, self.weight("fc1.weight").transpose(1, 2))
        h = self._dropout(F.relu(h, inplace=True), self.drop_rates[1])
        return torch.baddbmm(self.weight("fc2.bias").unsqueeze(1), h, self.weight("fc2.weight").transpose(1, 2))


class _SlotSums:
    """Per-slot loss sums, correct counts and predicted-class counts of one stage's epoch, on the device."""

    def __init__(self, slots: int, classes: int, device: torch.device, count_predictions: bool) -> None:
        self.count_predictions = count_predictions  # evaluation stages only, as ImageClassifier counts them
        dtype = torch.float32 if device.type == "mps" else torch.float64
        self.loss_sum = torch.zeros(slots, dtype=dtype, device=device)
        self.correct = torch.zeros(slots, dtype=torch.int64, device=device)
        self.predicted = torch.zeros(slots, classes, dtype=torch.int64, device=device)
        self.count = 0  # per slot: every slot sees batches of the same size

    def add(self, losses: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> None:
        n = logits.shape[1]
        predictions = logits.detach().argmax(dim=2)  # (K, B)
        self.loss_sum += losses.detach().to(self.loss_sum.dtype) * n
        self.correct += (predictions == target).sum(dim=1)
        if self.count_predictions:
            self.predicted.scatter_add_(1, predictions, torch.ones_like(predictions))
        self.count += n

    def means(self) -> list[tuple[float, float, int]]:
        """Per slot ``(mean loss, accuracy, classes predicted)``: one device-to-host transfer."""
        if self.count == 0:
            return [(float("nan"), float("nan"), 0)] * len(self.correct)
        rows = torch.stack(
            [self.loss_sum, self.correct.to(self.loss_sum.dtype), (self.predicted > 0).sum(1).to(self.loss_sum.dtype)]
        ).T.tolist()
        return [(loss / self.count, correct / self.count, int(classes)) for loss, correct, classes in rows]


class FusedClassifier(ImageClassifier):
    """Cross-entropy classification by K stacked networks; ``optimizer_factory`` gets the stacked parameters.

    ``slot_metrics()`` returns, after each validation, one dict per slot with the keys ``ImageClassifier``
    logs (``train/loss``, ``val/acc``, ``time/epoch_seconds``, ...). The epoch time is the whole stack's: the K
    slots train together.
    """

    def __init__(self, net: StackedCNN, optimizer_factory: OptimizerFactory, hparams: dict[str, Any] | None = None):
        super().__init__(net, optimizer_factory, hparams=hparams)
        self.net: StackedCNN = net
        self.active: torch.Tensor
        self.register_buffer("active", torch.ones(net.slots, dtype=torch.bool), persistent=False)
        self._slot_sums: dict[str, _SlotSums] = {}

    @property
    def slots(self) -> int:
        return self.net.slots

    def stop_slot(self, slot: int) -> None:
        """Slot ``slot`` stops training: no loss, no update (its optimizer slot is frozen too)."""
        self.active[slot] = False
        for optimizer in self.trainer.optimizers if self._trainer is not None else []:
            freeze = getattr(optimizer, "freeze", None)
            if freeze is not None:
                freeze(slot)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self.net(x)  # (K, B, classes)
        k, b = logits.shape[:2]
        target = y if y.ndim == 2 else y.expand(k, b)
        losses = F.cross_entropy(logits.reshape(k * b, -1), target.reshape(-1), reduction="none").view(k, b).mean(1)
        sums = self._slot_sums.get(stage)
        if sums is None:
            sums = self._slot_sums[stage] = _SlotSums(
                k, logits.shape[2], logits.device, count_predictions=stage != "train"
            )
        sums.add(losses, logits, target)
        # a frozen slot adds nothing, not even 0 * NaN
        return torch.where(self.active, losses, torch.zeros((), dtype=losses.dtype, device=losses.device)).sum()

    def on_train_epoch_start(self) -> None:
        self._slot_sums.pop("train", None)
        super().on_train_epoch_start()

    def on_train_epoch_end(self) -> None:
        self._stop_clock()
        self._elapsed_seconds += self._epoch_seconds
        self._slot_sums.pop("train", None)

    def _train_rows(self) -> list[dict[str, float]]:
        """Per slot, the training epoch's metrics so far (validation at an epoch's end runs before
        ``on_train_epoch_end``, as ``ImageClassifier.train_epoch_metrics`` explains)."""
        sums = self._slot_sums.get("train")
        if sums is None:
            return [{} for _ in range(self.slots)]
        seconds = self._epoch_seconds
        if self._clock_start is not None:
            seconds += time.perf_counter() - self._clock_start
        timing = {
            EPOCH_SECONDS: seconds,
            SAMPLES_PER_SECOND: sums.count / seconds if seconds > 0 else float("nan"),
            ELAPSED_SECONDS: self._elapsed_seconds + seconds,
        }
        return [{TRAIN_LOSS: loss, TRAIN_ACC: acc, **timing} for loss, acc, _ in sums.means()]

    def train_epoch_metrics(self) -> dict[str, float]:
        raise TypeError("a fused module has one set of metrics per slot: read slot_metrics()")

    def on_validation_epoch_start(self) -> None:
        self._slot_sums.pop("val", None)

    def on_validation_epoch_end(self) -> None:
        pass  # read by slot_metrics() at the end of validation

    def on_test_epoch_start(self) -> None:
        self._slot_sums.pop("test", None)

    def on_test_epoch_end(self) -> None:
        pass  # read by stage_metrics("test")

    def stage_metrics(self, stage: str) -> list[dict[str, float]]:
        """Per slot, ``{stage}/loss``, ``{stage}/acc`` and the classes predicted over the stage's last epoch."""
        sums = self._slot_sums.get(stage)
        if sums is None:
            return [{} for _ in range(self.slots)]
        return [
            {loss_key(stage): loss, acc_key(stage): acc, classes_key(stage): float(classes)}
            for loss, acc, classes in sums.means()
        ]

    def slot_metrics(self) -> list[dict[str, float]]:
        """Per slot: the training epoch's metrics (once it ended) and the validation's."""
        return [{**t, **v} for t, v in zip(self._train_rows(), self.stage_metrics("val"), strict=True)]


class _EpochForAll:
    """A sampler-like object: Lightning's ``set_epoch`` reaches every slot's shuffle."""

    def __init__(self, loaders: Sequence[DeviceBatches]) -> None:
        self.loaders = loaders

    def set_epoch(self, epoch: int) -> None:
        for loader in self.loaders:
            if loader.sampler is not None:
                loader.sampler.set_epoch(epoch)


class StackedBatches:
    """Batches ``(images (K, B, C, H, W), labels (K, B))``, slot k's drawn from ``loaders[k]`` (same size)."""

    def __init__(self, loaders: Sequence[DeviceBatches]) -> None:
        if len({len(loader) for loader in loaders}) != 1 or len({lo.batch_size for lo in loaders}) != 1:
            raise ValueError("the loaders of a stack must share their batch size and length")
        self.loaders = list(loaders)
        self.sampler = _EpochForAll(self.loaders)
        self.batch_sampler = None
        self.batch_size = loaders[0].batch_size

    def __len__(self) -> int:
        return len(self.loaders[0])

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batches in zip(*self.loaders, strict=True):
            yield torch.stack([x for x, _ in batches]), torch.stack([y for _, y in batches])
