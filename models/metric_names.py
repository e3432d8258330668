"""The names of the metrics ``ImageClassifier`` logs, importable without torch.

``study.schema`` re-exports them as part of the study's vocabulary; this is their one spelling.
"""

from __future__ import annotations

__all__ = [
    "ELAPSED_SECONDS",
    "EPOCH_SECONDS",
    "SAMPLES_PER_SECOND",
    "TEST_ACC",
    "TEST_LOSS",
    "TRAIN_ACC",
    "TRAIN_LOSS",
    "TRAIN_LR",
    "VAL_ACC",
    "VAL_LOSS",
    "VAL_PREDICTED_CLASSES",
    "acc_key",
    "classes_key",
    "loss_key",
]


def loss_key(stage: str) -> str:
    """Mean cross-entropy over a stage's epoch: ``train/loss``, ``val/loss`` or ``test/loss``."""
    return f"{stage}/loss"


def classes_key(stage: str) -> str:
    """How many classes an evaluation stage predicted at least once: ``val/predicted_classes``."""
    return f"{stage}/predicted_classes"


def acc_key(stage: str) -> str:
    """Accuracy over a stage's epoch: ``train/acc``, ``val/acc`` or ``test/acc``."""
    return f"{stage}/acc"


TRAIN_LOSS, TRAIN_ACC = loss_key("train"), acc_key("train")
VAL_LOSS, VAL_ACC = loss_key("val"), acc_key("val")
TEST_LOSS, TEST_ACC = loss_key("test"), acc_key("test")
VAL_PREDICTED_CLASSES = classes_key("val")
EPOCH_SECONDS = "time/epoch_seconds"  # wall seconds of the training epoch, validation excluded
SAMPLES_PER_SECOND = "time/samples_per_second"  # training samples / EPOCH_SECONDS
ELAPSED_SECONDS = "time/elapsed_seconds"  # training seconds summed over the epochs since fit start
TRAIN_LR = "train/lr"  # the learning rate at the end of the epoch (a schedule's curve)
