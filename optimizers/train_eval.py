"""Optimizers with a train/eval switch, and where a training loop must flip it.

Schedule-Free AdamW (:class:`~optimizers.schedulefree_adamw.AdamWScheduleFree`, and ``schedulefree``'s
optimizers alike) takes its gradients at a point :math:`y` but its result is the average :math:`x`. The
parameters hold one or the other: ``optimizer.train()`` moves them to :math:`y`, ``optimizer.eval()`` to
:math:`x`, each a no-op when already there, and ``step()`` raises in eval mode, the mode a new optimizer
starts in. Nothing else in a training loop knows this, so the loop calls them where it calls
``model.train()`` and ``model.eval()``, and before the weights leave the process. The helpers below take
any optimizers (``trainer.optimizers``) and act on those that have the switch, so a hook need not know
which optimizer a trial uses.

Where, with Lightning 2.x (as ``lightning/pytorch/loops`` and ``trainer/connectors/checkpoint_connector.py``
order the hooks), in a ``Callback``: the one place that covers ``models.classifier.ImageClassifier`` and a
user's own ``LightningModule`` alike (``study.training.train.plugged`` keeps the latter's hooks). With
``optimizers = trainer.optimizers``:

* ``on_train_start``: ``to_train(optimizers)``. The first step needs train mode; after a resume Lightning has
  restored the optimizer (its mode included) before this hook.
* ``on_train_batch_start``: ``to_train(optimizers)``. Back to :math:`y` after a validation; a no-op on the
  other batches.
* ``on_validation_start``: ``to_eval(optimizers)``. Validate at :math:`x` (in a fresh run's sanity check the
  optimizer has no state yet: nothing moves).
* ``on_test_start`` and ``on_predict_start``: ``to_eval(optimizers)``. Test and predict at :math:`x`.
* ``on_fit_end``: ``to_eval(optimizers)``. A fit leaves :math:`x` in the weights, so ``trainer.test``,
  ``trainer.save_checkpoint(..., weights_only=True)`` and the export of ``TrialResult.network`` in
  ``study.training`` see :math:`x`, also after an early stop or without a test.

Why not ``on_validation_end`` for the way back: callbacks run in list order and Lightning puts
``ModelCheckpoint`` last, so switching back there would let a checkpoint taken at validation end save
:math:`y`. In the ``LightningModule``'s own hooks (they run after every callback's), ``on_validation_end``
with ``to_train(switched)`` (``switched`` what ``on_validation_start``'s ``to_eval`` returned) is equivalent.

Checkpoints and exports must be taken in eval mode. ``on_save_checkpoint`` is too late to switch:
``dump_checkpoint`` gathers the module's state dict (tensors sharing the parameters' storage) before it calls
the hook, so the file would hold a mix. Saves made outside the hooks above, and exports during training, go
inside ``with evaluating(trainer.optimizers): ...``. A ``ModelCheckpoint`` saving at the end of a training
epoch that no validation closed (``save_on_train_epoch_end=True`` with ``check_val_every_n_epoch > 1``, or no
validation loop) saves :math:`y`. A full checkpoint (optimizer state included) resumes correctly in either
mode: the mode is saved with the optimizer's param groups, and ``to_train`` at ``on_train_start`` puts the
weights back at :math:`y`.

BatchNorm layers keep statistics gathered at :math:`y`; a network with them needs them recomputed at
:math:`x` before evaluating (``model.train()``, ``optimizer.eval()``, a few dozen training batches forward
under ``torch.no_grad()``, ``model.eval()``; ``schedulefree``'s README). The article's CNN has none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

__all__ = ["TrainEvalSwitch", "evaluating", "in_train_mode", "to_eval", "to_train", "with_switch"]


@runtime_checkable
class TrainEvalSwitch(Protocol):
    """An optimizer whose parameters hold a training point in train mode and the point to evaluate in eval
    mode (each method a no-op in its own mode)."""

    def train(self) -> None: ...

    def eval(self) -> None: ...


def with_switch(optimizers: Iterable[object]) -> list[TrainEvalSwitch]:
    """Those of ``optimizers`` that have a train/eval switch, in order."""
    return [optimizer for optimizer in optimizers if isinstance(optimizer, TrainEvalSwitch)]


def in_train_mode(optimizer: TrainEvalSwitch) -> bool:
    """Whether ``optimizer`` is in train mode: its ``train_mode`` attribute (ours), else a group's
    ``train_mode`` flag (``schedulefree``'s keep only that); True when neither says."""
    mode = getattr(optimizer, "train_mode", None)
    if isinstance(mode, bool):
        return mode
    return any(group.get("train_mode", True) for group in getattr(optimizer, "param_groups", [{}]))


def to_eval(optimizers: Iterable[object]) -> list[TrainEvalSwitch]:
    """Put each optimizer with a switch into eval mode; returns those that were in train mode (to hand back to
    :func:`to_train`)."""
    switched = [optimizer for optimizer in with_switch(optimizers) if in_train_mode(optimizer)]
    for optimizer in switched:
        optimizer.eval()
    return switched


def to_train(optimizers: Iterable[object]) -> None:
    """Put each optimizer with a switch into train mode."""
    for optimizer in with_switch(optimizers):
        optimizer.train()


@contextmanager
def evaluating(optimizers: Iterable[object]) -> Iterator[None]:
    """The block runs with every switchable optimizer in eval mode; those that were in train mode return to it
    afterwards (also when the block raises)."""
    switched = to_eval(optimizers)
    try:
        yield
    finally:
        to_train(switched)
