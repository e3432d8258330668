"""The Keras arms: the article's own model and ``model.fit`` on TensorFlow's CPU build, as its users run it.

Runs under TensorFlow's Python (``.venv-keras/bin/python study/bench/keras_arm.py``), never under the study's: it
imports only NumPy and TensorFlow, reads the MNIST files itself and trains on the study's own split, whose indices
the benchmark writes to a ``.npz`` (``train``, ``val``) from the torch side. Two commands:

- ``serve``: BM-1's long-lived arm. It answers requests on its standard input, one JSON object a line, like
  ``study.bench.server``: ``{"batch_size": 64, "train_size": 32000, "epochs": 2, "bf16": false}`` builds and
  compiles the model once, fits it for ``epochs`` epochs of the first ``train_size`` training images, and replies
  with the training samples per second of epochs 2 and later, timed per batch (the first epoch, which traces the
  graph and pays every first call, is excluded, as are the gaps between epochs).
- ``tta``: one BM-6 run in a fresh process: trains for up to ``--epochs`` epochs with a validation after each (until
  ``--target`` is reached), and prints one JSON line with the wall-clock time (``time.time()``) of the first training
  step and of each epoch's end with its validation accuracy. The benchmark reads them against the moment it started
  the process.

TensorFlow gets the threads the torch arms get as ``--threads`` intra-op threads; ``--inter-op`` sets its inter-op
pool (0: TensorFlow's own default), which the benchmark picks by measuring (``study.bench.suite``). ``--bf16``
(``"bf16": true``) sets Keras' ``mixed_bfloat16`` policy, the bf16 counterpart of Lightning's ``bf16-mixed``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

STARTED = time.time()  # as near to the process's start as this script can see


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(data_dir: str, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The study's training and validation images (x/255, the article's preprocessing) and one-hot labels."""
    raw = Path(data_dir) / "MNIST" / "raw"
    images = _idx(raw / "train-images-idx3-ubyte.gz")
    labels = np.eye(10, dtype="float32")[_idx(raw / "train-labels-idx1-ubyte.gz")]  # keras.utils.to_categorical
    indices = np.load(split)
    train, val = indices["train"], indices["val"]

    def scaled(at: np.ndarray) -> np.ndarray:
        out: np.ndarray = images[at].astype("float32")[..., None] / 255.0
        return out

    return scaled(train), labels[train], scaled(val), labels[val]


def _keras(threads: int, inter_op: int, bf16: bool = False) -> Any:
    """TensorFlow imported, its thread pools set (before any operation runs), and Keras' precision policy."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    from tensorflow import keras

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op)  # 0: TensorFlow's own choice
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if bf16 else "float32")
    return keras


def article_model(keras: Any, seed: int, lr: float = 1e-3) -> Any:
    """The article's model, compiled as it compiles it (Adam at Keras' defaults, categorical cross-entropy)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, (3, 3), activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Dropout(0.25),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def _batch_clock(keras: Any) -> Any:
    class BatchClock(keras.callbacks.Callback):  # type: ignore[misc]
        """Per epoch: when its first batch began and its last batch ended, and how many batches ran."""

        def __init__(self) -> None:
            super().__init__()
            self.windows: list[list[float]] = []  # [first begin, last end, batches]

        def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
            self.windows.append([0.0, 0.0, 0.0])

        def on_train_batch_begin(self, batch: int, logs: object = None) -> None:
            if batch == 0:
                self.windows[-1][0] = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: object = None) -> None:
            window = self.windows[-1]
            window[1] = time.perf_counter()
            window[2] += 1

    return BatchClock()


def throughput(
    keras: Any, x: np.ndarray, y: np.ndarray, batch_size: int, train_size: int, epochs: int, seed: int = 0
) -> dict[str, Any]:
    """Training samples per second over epochs 2..``epochs`` of one model built and compiled for this request."""
    if epochs < 2:
        raise ValueError(f"epochs: got {epochs}; accepted: 2 or more (the first one warms up)")
    model = article_model(keras, seed)
    clock = _batch_clock(keras)
    model.fit(
        x[:train_size], y[:train_size], batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True, callbacks=[clock]
    )
    timed = clock.windows[1:]
    seconds = sum(end - begin for begin, end, _ in timed)
    per_epoch = [train_size / (end - begin) for begin, end, _ in timed]
    steps = int(sum(batches for *_, batches in timed))
    return {"value": train_size * len(timed) / seconds, "extra": {"timed_steps": steps, "epochs": per_epoch}}


def serve(args: argparse.Namespace, replies: TextIO) -> int:
    keras = _keras(args.threads, args.inter_op)
    import tensorflow as tf

    x, y, _, _ = load_split(args.data_dir, args.split)
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
    print(json.dumps({"ready": True, "versions": versions}), file=replies, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            keras.mixed_precision.set_global_policy("mixed_bfloat16" if request.pop("bf16", False) else "float32")
            reply = throughput(keras, x, y, **request)
        except Exception as err:  # noqa: BLE001 - the runner reports it
            reply = {"error": f"{type(err).__name__}: {err}"}
        print(json.dumps(reply), file=replies, flush=True)
    return 0


def _epoch_ends(keras: Any, target: float | None) -> Any:
    class EpochEnds(keras.callbacks.Callback):  # type: ignore[misc]
        """The wall clock of the first training step, and of each epoch's end with its validation accuracy; training
        stops once the accuracy reached ``target`` (when given), as a user after that accuracy would stop it."""

        def __init__(self) -> None:
            super().__init__()
            self.first_step: float | None = None
            self.epochs: list[dict[str, float]] = []

        def on_train_batch_begin(self, batch: int, logs: object = None) -> None:
            if self.first_step is None:
                self.first_step = time.time()

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            accuracy = float((logs or {})["val_accuracy"])
            self.epochs.append({"epoch": epoch + 1, "time": time.time(), "val_acc": accuracy})
            if target is not None and accuracy >= target:
                self.model.stop_training = True

    return EpochEnds()


def time_to_accuracy(args: argparse.Namespace, replies: TextIO) -> int:
    keras = _keras(args.threads, args.inter_op, args.bf16)
    x, y, x_val, y_val = load_split(args.data_dir, args.split)
    x, y = x[: args.train_size], y[: args.train_size]  # the study's --train-size: the first N of the split
    model = article_model(keras, args.seed, args.lr)
    ends = _epoch_ends(keras, args.target)
    model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        validation_data=(x_val, y_val),
        verbose=0,
        shuffle=True,
        callbacks=[ends],
    )
    print(json.dumps({"started": STARTED, "first_step": ends.first_step, "epochs": ends.epochs}), file=replies)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="keras_arm.py")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "tta"):
        command = commands.add_parser(name)
        command.add_argument("--threads", type=int, required=True, help="intra-op threads")
        command.add_argument("--inter-op", type=int, default=0, help="inter-op threads (0: TensorFlow's default)")
        command.add_argument("--data-dir", required=True)
        command.add_argument("--split", required=True, help=".npz of the study's split indices (train, val)")
    tta = commands.choices["tta"]
    tta.add_argument("--batch-size", type=int, required=True)
    tta.add_argument("--epochs", type=int, required=True)
    tta.add_argument("--seed", type=int, default=0)
    tta.add_argument("--train-size", type=int, help="train on the first N images of the split (default all)")
    tta.add_argument("--lr", type=float, default=1e-3)
    tta.add_argument("--target", type=float, help="stop after the epoch whose validation accuracy reaches it")
    tta.add_argument("--bf16", action="store_true", help="Keras' mixed_bfloat16 policy")
    args = parser.parse_args()
    replies, sys.stdout = sys.stdout, sys.stderr  # whatever TensorFlow prints must not corrupt the replies
    return serve(args, replies) if args.command == "serve" else time_to_accuracy(args, replies)


if __name__ == "__main__":
    raise SystemExit(main())
