"""BM-1's Keras arm: the article's own model and ``model.fit`` on TensorFlow's CPU build.

Runs under TensorFlow's Python (``.venv-keras/bin/python study/bench/keras_arm.py``), never under the study's:
it imports only NumPy and TensorFlow, reads the MNIST files itself, and answers the benchmark's requests on
its standard input, one JSON object a line, like ``study.bench.server``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def _epoch_timer(keras: Any) -> Any:
    class EpochTimer(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: object = None) -> None:
            self.seconds.append(time.perf_counter())

        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            self.seconds[-1] = time.perf_counter() - self.seconds[-1]

    return EpochTimer()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--data-dir", required=True)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    replies, sys.stdout = sys.stdout, sys.stderr  # whatever TensorFlow prints must not corrupt the replies
    import tensorflow as tf
    from tensorflow import keras

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    raw = Path(args.data_dir) / "MNIST" / "raw"
    images = _idx(raw / "train-images-idx3-ubyte.gz").astype("float32")[..., None] / 255.0  # the article's x/255
    labels = keras.utils.to_categorical(_idx(raw / "train-labels-idx1-ubyte.gz"), 10)
    versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
    print(json.dumps({"ready": True, "versions": versions}), file=replies, flush=True)

    for line in sys.stdin:
        request = json.loads(line)
        batch_size, steps = int(request["batch_size"]), int(request["steps"])
        keras.utils.set_random_seed(0)
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
        model.compile(optimizer=keras.optimizers.Adam(), loss="categorical_crossentropy", metrics=["accuracy"])
        n = batch_size * steps
        timer = _epoch_timer(keras)
        # two epochs of `steps` steps: the first pays for tracing the graph, the second is timed
        model.fit(images[:n], labels[:n], batch_size=batch_size, epochs=2, verbose=0, shuffle=True, callbacks=[timer])
        print(json.dumps({"value": n / timer.seconds[-1]}), file=replies, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
