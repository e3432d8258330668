"""The Keras arm runs under TensorFlow's interpreter on the study's own split, with nothing of the study or torch."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import numpy as np

from models.data import ImageDataModule
from study.bench import keras_arm
from study.bench.runner import KERAS_SCRIPT, write_split


def test_the_keras_arm_imports_only_numpy_and_tensorflow() -> None:
    tree = ast.parse(KERAS_SCRIPT.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    tops = {name.split(".")[0] for name in imported} - set(sys.stdlib_module_names) - {"__future__"}
    assert tops == {"numpy", "tensorflow"}


def test_the_keras_arm_trains_and_validates_on_the_study_split(mnist_data_dir: Path, tmp_path: Path) -> None:
    """Split seed 0 written from the torch side and read back without torch: the same images, in the same order."""
    x, y, x_val, y_val = keras_arm.load_split(str(mnist_data_dir), str(write_split(tmp_path / "split.npz")))
    data = ImageDataModule("mnist", data_dir=mnist_data_dir, seed=0, train_size=512, batch_size=512, shuffle=False)
    data.prepare_data()
    data.setup("fit")
    ((images, labels),) = list(data.train_dataloader())  # --train-size 512: the first 512 of the split
    assert np.array_equal(images.numpy().transpose(0, 2, 3, 1), x[:512]) and np.array_equal(labels, y[:512].argmax(1))
    val_images = np.concatenate([b[0].numpy() for b in data.val_dataloader()]).transpose(0, 2, 3, 1)
    val_labels = np.concatenate([b[1].numpy() for b in data.val_dataloader()])
    assert len(x) == 55_000 and np.array_equal(val_images, x_val) and np.array_equal(val_labels, y_val.argmax(1))
