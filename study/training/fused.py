"""K trials of one optimizer and batch size trained as one program: ``train_fused(specs, data, hooks)``.

The fused counterpart of ``study.training.train.train``: each spec is a slot of a ``models.fused.FusedClassifier``
(its own seed: initial weights and data order; its own hyperparameters, held per slot by
``optimizers.stacked.StackedOptimizer``); each gets its own ``TrialResult`` with the same per-epoch records
``train`` gives, and its own hook, which may stop it (pruning). A stopped slot (pruned, diverged, collapsed)
is frozen while the others train on; the fit ends when every slot has stopped or reached ``max_epochs``.

Dropout masks are drawn for the whole stack at once, so with dropout on a slot's masks differ from the ones
an unfused run with the same seed draws: the same distribution, not the same numbers. With dropout off the
trajectories are the unfused ones (``tests/study/test_fused.py``, float64).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import lightning as L

from models.cnn import ArticleCNN
from models.fused import FusedClassifier, StackedBatches, StackedCNN
from optimizers.stacked import StackedOptimizer
from study.schema import CUMULATIVE_SECONDS, OPTIMIZER, STACKABLE, TEST_ACC_METRIC, TEST_LOSS_METRIC
from study.training.train import (
    EpochHook,
    EpochRecord,
    FitClock,
    TrialData,
    TrialResult,
    TrialSpec,
    interrupts_as_keyboard_interrupt,
    lean_trainer,
    stop_reason,
)

__all__ = ["fusable", "group_key", "train_fused"]


def group_key(spec: TrialSpec) -> tuple[object, ...]:
    """What the slots of one stack share: everything but the seed, the per-slot hyperparameters and ``test``."""
    return (spec.optimizer, spec.batch_size, spec.max_epochs, spec.device, spec.precision, spec.compile)


def fusable(spec: TrialSpec) -> bool:
    """Whether a trial can be a slot: an uncompiled network (the stack is its own program) at a constant learning
    rate (torch's schedulers cannot step a stack's K learning rates), with an optimizer that has a stacked form."""
    return spec.compile == "none" and not spec.scheduled and spec.optimizer in STACKABLE


class _SlotWatch(FitClock):
    """Each slot's epoch records; stops a slot on divergence or when its hook asks, and the fit when all did."""

    def __init__(self, slots: int, num_classes: int, hooks: Sequence[EpochHook | None]) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.hooks = hooks
        self.histories: list[list[EpochRecord]] = [[] for _ in range(slots)]
        self.stop_reasons: list[str | None] = [None] * slots
        self.stopped_at: list[float | None] = [None] * slots

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not isinstance(pl_module, FusedClassifier):
            return
        seconds = self.elapsed()
        for slot, metrics in enumerate(pl_module.slot_metrics()):
            if self.stop_reasons[slot] is not None:
                continue
            record = EpochRecord(trainer.current_epoch + 1, seconds, {**metrics, CUMULATIVE_SECONDS: seconds})
            self.histories[slot].append(record)
            reason = stop_reason(record, self.num_classes, self.hooks[slot])
            if reason:
                self.stop_reasons[slot] = reason
                self.stopped_at[slot] = seconds
                pl_module.stop_slot(slot)
        if all(r is not None for r in self.stop_reasons):
            trainer.should_stop = True


def train_fused(
    specs: Sequence[TrialSpec], data: TrialData, hooks: Sequence[EpochHook | None] | None = None
) -> list[TrialResult]:
    """Trains the specs (one ``group_key``) as one stack; one result per spec, in order.

    Ctrl-C and SIGTERM arrive as ``KeyboardInterrupt``; any other failure propagates as raised (it ends
    every slot of the stack).
    """
    if not specs:
        return []
    if len({group_key(s) for s in specs}) != 1 or not all(fusable(s) for s in specs):
        raise ValueError("the trials of a stack must share optimizer, batch size, epochs, device and precision")
    first = specs[0]
    hooks = list(hooks) if hooks is not None else [None] * len(specs)
    channels, height, _ = data.input_shape
    nets = []
    for spec in specs:  # each slot starts from the weights an unfused run with its seed starts from
        L.seed_everything(spec.seed, verbose=False)
        nets.append(ArticleCNN(in_channels=channels, image_size=height, num_classes=data.num_classes))
    stack = StackedCNN(nets)
    slots: list[Mapping[str, object]] = [dict(s.hyperparameters) for s in specs]
    factory = functools.partial(StackedOptimizer, name=first.optimizer, slots=slots)
    module = FusedClassifier(stack, factory, hparams={OPTIMIZER: first.optimizer, "slots": len(specs)})
    loaders = [data.with_batch_size(s.batch_size, shuffle_seed=s.seed) for s in specs]
    for loader in loaders:
        loader.setup("fit")
    train_batches = StackedBatches([loader.train_dataloader() for loader in loaders])
    watch = _SlotWatch(len(specs), data.num_classes, hooks)
    trainer = lean_trainer(first, [watch])
    tests: list[Mapping[str, float]] = [{} for _ in specs]
    with interrupts_as_keyboard_interrupt():
        trainer.fit(module, train_dataloaders=train_batches, val_dataloaders=loaders[0].val_dataloader())
        fit_seconds = watch.elapsed()
        wanted = [s.test and watch.stop_reasons[k] is None for k, s in enumerate(specs)]
        if any(wanted):
            trainer.test(module, dataloaders=loaders[0].test_dataloader(), verbose=False)
            tests = [m if w else {} for m, w in zip(module.stage_metrics("test"), wanted, strict=True)]
    return [
        TrialResult(
            history=tuple(watch.histories[k]),
            fit_seconds=watch.stopped_at[k] or fit_seconds,
            stop_reason=watch.stop_reasons[k],
            test_acc=float(tests[k][TEST_ACC_METRIC]) if tests[k] else None,
            test_loss=float(tests[k][TEST_LOSS_METRIC]) if tests[k] else None,
        )
        for k in range(len(specs))
    ]
