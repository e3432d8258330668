"""What each benchmark measures, at full size and in the smoke run (``--smoke``, what CI runs). No torch here."""

from __future__ import annotations

import math
from typing import Any

from models.dataset_files import DATASET_FILES, VAL_SIZE

__all__ = ["BENCHMARKS", "CONFIGS", "FULL", "SMOKE", "SPLIT_TRAIN", "warm_and_timed"]

BENCHMARKS = ("BM-1", "BM-2", "BM-3", "BM-4", "BM-5", "BM-6")
SPLIT_TRAIN = DATASET_FILES["mnist"].train_samples - VAL_SIZE  # MNIST's 55k/5k split: no epoch can be longer

# BM-3's configurations (optimizer, lr, batch size): one of each family, at sensible learning rates
CONFIGS: tuple[tuple[str, float, int], ...] = (
    ("adam", 1e-3, 64),
    ("sgd", 0.05, 64),
    ("rmsprop", 1e-3, 128),
    ("momentum", 0.02, 128),
)


def warm_and_timed(batch_size: int, timed_steps: int) -> tuple[int, int]:
    """``(train_size, epochs)`` of a BM-1 throughput measurement: epochs of ``batch_size × timed_steps`` training
    images (at most the split), one to warm up and as many more as it takes to time ``timed_steps`` steps."""
    train_size = min(batch_size * timed_steps, SPLIT_TRAIN)
    return train_size, 1 + math.ceil(timed_steps / math.ceil(train_size / batch_size))


FULL: dict[str, Any] = {
    "rounds": 5,
    "batch_sizes": (64, 128, 256),
    "timed_steps": 500,  # BM-1: training steps timed per arm and measurement, after a warm-up epoch
    "plain_warmup": 100,  # BM-1: the plain PyTorch loop's untimed steps (it then times timed_steps steps)
    "cross_checks": None,  # BM-1: the arms measured once more alone in a fresh process (None: every training arm)
    "calibration_rounds": 2,  # measurements of each TensorFlow inter-op pool tried (suite.KERAS_INTER_OP)
    "trial": dict(batch_size=64, train_size=20000, epochs=1),  # BM-2
    "set": dict(train_size=10000, epochs=2, configs=CONFIGS),  # BM-3
    "workers_args": [  # BM-4
        *("--study-name", "bench", "--n-trials", "8", "--max-epochs", "1", "--train-size", "8000"),
        *("--optimizers", "adam,sgd,rmsprop,momentum", "--batch-sizes", "64,128", "--pruner", "none"),
        *("--timeout", "none", "--device", "cpu"),
    ],
    "workers_trials": 8,
    "fused": dict(slots=(1, 2, 4, 8), batch_size=64, train_size=8000, epochs=1),  # BM-5
    # BM-6: from process start to 98.5 % validation accuracy on the whole 55k/5k split, Adam at Keras' lr 1e-3, up to
    # 10 epochs (a study runs them all; Keras stops at the target); bf16: the bf16 arms too, where the CPU has native
    # bf16 (the smoke run leaves them to BM-1)
    "tta": dict(rounds=3, batch_size=128, train_size=None, epochs=10, target=0.985, lr=1e-3, seed=0, bf16=True),
}
SMOKE: dict[str, Any] = {
    "rounds": 1,
    "batch_sizes": (64,),
    "timed_steps": 8,
    "plain_warmup": 2,
    "cross_checks": ("ours f32", "keras f32"),  # the path once, not every arm
    "calibration_rounds": 1,
    "trial": dict(batch_size=64, train_size=512, epochs=1),
    "set": dict(train_size=512, epochs=1, configs=CONFIGS[:2]),
    "workers_args": [
        *("--study-name", "bench", "--n-trials", "2", "--max-epochs", "1", "--train-size", "256"),
        *("--optimizers", "adam,sgd", "--batch-sizes", "64", "--pruner", "none", "--timeout", "none"),
        *("--device", "cpu"),
    ],
    "workers_trials": 2,
    "fused": dict(slots=(1, 2), batch_size=64, train_size=512, epochs=1),
    "tta": dict(rounds=1, batch_size=128, train_size=512, epochs=1, target=0.985, lr=1e-3, seed=0, bf16=False),
}
