"""One training run of the article's CNN, with no Optuna or MLflow inside: ``train(spec, data) -> TrialResult``.

The study's trial runner, the benchmark and the fused trainer all call this. It builds the network and the
optimizer from a resolved :class:`TrialSpec`, runs a lean Lightning Trainer, and returns the per-epoch history,
the fit time (one clock) and why training stopped early, if it did. Whoever calls it decides what to record
where: an ``on_epoch`` hook sees every epoch's metrics and may return a reason to stop (pruning).

Training stops by itself when it diverges or collapses, checked at the end of every epoch:

- the validation or the training loss is non-finite or ``DIVERGENCE_FACTOR`` times the chance-level loss
  ln(classes) (a diverged network rarely reaches NaN within an epoch: its loss explodes to 1e3..1e25 and stays
  finite; with SGD at lr 50-100 the training loss reached 1e4 while the validation loss stayed near 30);
- the network predicts one class for every validation image: accuracy stuck at that class's frequency (chance).
"""

from __future__ import annotations

import functools
import logging
import math
import signal
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
from torch import nn

from models.classifier import ImageClassifier
from models.cnn import ArticleCNN
from models.data import ImageDataModule
from optimizers.registry import build_optimizer
from study.schema import (
    CUMULATIVE_SECONDS,
    FINAL_BEST_VAL_ACC,
    FINAL_EPOCHS,
    FINAL_FIT_SECONDS,
    FINAL_TEST_ACC,
    FINAL_TEST_LOSS,
    INTERRUPTED,
    LR,
    MILESTONES,
    OPTIMIZER,
    SEED,
    TEST_ACC_METRIC,
    TEST_LOSS_METRIC,
    TRAIN_LOSS,
    VAL_ACC,
    VAL_LOSS,
    VAL_PREDICTED_CLASSES,
    epochs_to_key,
    seconds_to_key,
)

__all__ = [
    "DIVERGENCE_FACTOR",
    "FitClock",
    "EpochRecord",
    "TrialResult",
    "TrialSpec",
    "interrupts_as_keyboard_interrupt",
    "lean_trainer",
    "quiet_lightning",
    "stop_reason",
    "train",
]

DIVERGENCE_FACTOR = 100.0


@dataclass(frozen=True)
class TrialSpec:
    """Everything that decides one training run."""

    optimizer: str  # registry name
    hyperparameters: Mapping[str, Any]  # every constructor keyword of the optimizer, lr included
    batch_size: int
    seed: int  # initial weights, dropout masks and the order of the training data in every epoch
    max_epochs: int
    device: str = "cpu"
    precision: str = "32-true"
    test: bool = False  # evaluate once on the held-out test set after training (unless stopped early)
    progress_bar: bool = False
    compile: str = "none"  # a torch.compile mode for the network, or "none"

    @property
    def lr(self) -> float:
        return float(self.hyperparameters[LR])


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based: epochs completed
    seconds: float  # wall seconds since fit start, validation included
    metrics: Mapping[str, float] = field(default_factory=dict)  # train/*, val/*, time/* of this epoch

    @property
    def val_acc(self) -> float:
        return self.metrics[VAL_ACC]

    @property
    def val_loss(self) -> float:
        return self.metrics[VAL_LOSS]


@dataclass(frozen=True)
class TrialResult:
    history: tuple[EpochRecord, ...]
    fit_seconds: float  # wall seconds of the whole fit, validation included
    stop_reason: str | None  # why training stopped before max_epochs (pruned, diverged); None if it did not
    test_acc: float | None = None  # spec.test only
    test_loss: float | None = None
    network: nn.Module | None = field(default=None, compare=False, repr=False)  # kept when a checkpoint was asked

    @property
    def best_val_acc(self) -> float:
        return max((r.val_acc for r in self.history), default=float("nan"))

    def final_metrics(self) -> dict[str, float]:
        """Best accuracy, fit time, epochs, the test set, and when each accuracy milestone was first reached."""
        out = {FINAL_BEST_VAL_ACC: self.best_val_acc, FINAL_FIT_SECONDS: self.fit_seconds}
        out[FINAL_EPOCHS] = float(len(self.history))
        for threshold in MILESTONES:
            reached = next((r for r in self.history if r.val_acc >= threshold), None)
            if reached:
                out[seconds_to_key(threshold)] = reached.seconds
                out[epochs_to_key(threshold)] = float(reached.epoch)
        if self.test_acc is not None and self.test_loss is not None:
            out[FINAL_TEST_ACC], out[FINAL_TEST_LOSS] = self.test_acc, self.test_loss
        return {k: v for k, v in out.items() if math.isfinite(v)}


EpochHook = Callable[[EpochRecord], str | None]  # sees each epoch; returns a reason to stop, or None


def divergence(metrics: Mapping[str, float], num_classes: int) -> str | None:
    """Why an epoch's metrics show a diverged or collapsed network, or None."""
    limit = DIVERGENCE_FACTOR * math.log(num_classes)
    for key in (VAL_LOSS, TRAIN_LOSS):
        value = metrics.get(key)
        if value is not None and not (math.isfinite(value) and value <= limit):
            return f"diverged: {key} {value:.4g} (limit {limit:.4g}, {DIVERGENCE_FACTOR:g}x chance level)"
    if num_classes > 1 and metrics.get(VAL_PREDICTED_CLASSES) == 1:
        accuracy = metrics.get(VAL_ACC, float("nan"))
        return f"collapsed: predicts one class for every validation image ({VAL_ACC} {accuracy:.4f}, chance)"
    return None


def stop_reason(record: EpochRecord, num_classes: int, hook: EpochHook | None) -> str | None:
    """Why training stops after this epoch: divergence or collapse, else what the hook asks (it always runs)."""
    diverged = divergence(record.metrics, num_classes)
    asked = hook(record) if hook else None
    return f"{diverged} at epoch {record.epoch}" if diverged else asked


class FitClock(L.Callback):
    """Wall seconds since the fit started (validation included): the one clock a run's records use."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = time.perf_counter()


class _EpochWatch(FitClock):
    """Collects each epoch's metrics at the end of its validation, stops on divergence or when the hook asks."""

    def __init__(self, num_classes: int, on_epoch: EpochHook | None) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.on_epoch = on_epoch
        self.history: list[EpochRecord] = []
        self.stop_reason: str | None = None

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        seconds = self.elapsed()
        logged = trainer.callback_metrics
        metrics = {k: float(logged[k]) for k in (VAL_ACC, VAL_LOSS, VAL_PREDICTED_CLASSES) if k in logged}
        if isinstance(pl_module, ImageClassifier):
            metrics.update(pl_module.train_epoch_metrics())
        metrics[CUMULATIVE_SECONDS] = seconds
        record = EpochRecord(trainer.current_epoch + 1, seconds, metrics)
        self.history.append(record)
        self.stop_reason = stop_reason(record, self.num_classes, self.on_epoch)
        if self.stop_reason:
            trainer.should_stop = True


def quiet_lightning() -> None:
    """A study builds hundreds of Trainers: drop Lightning's per-Trainer banners and hints."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


def lean_trainer(spec: TrialSpec, callbacks: list[L.Callback]) -> L.Trainer:
    """The Trainer of one training run: no logger, checkpoints, summary or sanity check (a study builds
    hundreds); the callbacks collect what the caller records."""
    return L.Trainer(
        max_epochs=spec.max_epochs,
        accelerator="gpu" if spec.device == "cuda" else "cpu",
        devices=1,
        precision=spec.precision,  # type: ignore[arg-type]
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=spec.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
    )


@contextmanager
def interrupts_as_keyboard_interrupt() -> Iterator[None]:
    """Ctrl-C and SIGTERM inside a fit come out as ``KeyboardInterrupt``, and Ctrl-C's handler is put back."""
    sigint = signal.getsignal(signal.SIGINT)
    try:
        yield
    except SystemExit as err:  # Lightning turns Ctrl-C into sys.exit(1): give the caller the interrupt back
        raise KeyboardInterrupt(INTERRUPTED) from err
    finally:
        signal.signal(signal.SIGINT, sigint)  # Lightning leaves Ctrl-C ignored after an interrupt


def train(
    spec: TrialSpec, data: ImageDataModule, *, on_epoch: EpochHook | None = None, checkpoint: Path | None = None
) -> TrialResult:
    """Trains the article's CNN as ``spec`` says on ``data`` (set up once, shared); see the module docstring.

    With ``checkpoint``, the trained module is saved there as a Lightning checkpoint and the result keeps the
    network. Ctrl-C and SIGTERM arrive as ``KeyboardInterrupt``; any other failure propagates as raised.
    """
    L.seed_everything(spec.seed, verbose=False)
    channels, height, _ = data.input_shape
    net = ArticleCNN(in_channels=channels, image_size=height, num_classes=data.num_classes)
    if spec.compile != "none":
        net.compile(mode=spec.compile)  # in place: the state dict keeps its names, so checkpoints stay portable
    factory = functools.partial(build_optimizer, spec.optimizer, **spec.hyperparameters)
    module = ImageClassifier(net, factory, hparams={OPTIMIZER: spec.optimizer, SEED: spec.seed})
    batches = data.with_batch_size(spec.batch_size, shuffle_seed=spec.seed)  # the trial's seed orders its data
    watch = _EpochWatch(data.num_classes, on_epoch)
    trainer = lean_trainer(spec, [watch])
    with interrupts_as_keyboard_interrupt():
        trainer.fit(module, datamodule=batches)
        fit_seconds = watch.elapsed()
        test: Mapping[str, float] = {}
        if spec.test and watch.stop_reason is None:
            (test,) = trainer.test(module, datamodule=batches, verbose=False)
        if checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            trainer.save_checkpoint(checkpoint, weights_only=True)
    return TrialResult(
        history=tuple(watch.history),
        fit_seconds=fit_seconds,
        stop_reason=watch.stop_reason,
        test_acc=float(test[TEST_ACC_METRIC]) if test else None,
        test_loss=float(test[TEST_LOSS_METRIC]) if test else None,
        network=net if checkpoint is not None else None,
    )
