"""The CUDA path: uint8 data resident in GPU memory, batches born on the GPU (skipped without CUDA)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import lightning as L
import pytest
import torch

from models.classifier import ImageClassifier
from models.cnn import ArticleCNN
from models.data import ImageDataModule
from optimizers.registry import build_optimizer

if TYPE_CHECKING:
    from models.conftest import TinyData

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_batches_live_on_the_gpu(make_tiny_mnist: Callable[..., TinyData]) -> None:
    tiny = make_tiny_mnist()
    dm = ImageDataModule("mnist", data_dir=tiny.root, val_size=10, batch_size=8, device="cuda", normalize="standard")
    dm.prepare_data()
    dm.setup("fit")
    cpu = ImageDataModule("mnist", data_dir=tiny.root, val_size=10, batch_size=8, normalize="standard")
    cpu.setup("fit")
    for (x, y), (x_cpu, y_cpu) in zip(dm.train_dataloader(), cpu.train_dataloader(), strict=True):
        assert x.is_cuda and y.is_cuda
        assert torch.equal(y.cpu(), y_cpu)  # same permutation on either device
        torch.testing.assert_close(x.cpu(), x_cpu)


def test_fit_on_gpu_logs_metrics(
    make_tiny_mnist: Callable[..., TinyData], make_trainer: Callable[..., L.Trainer]
) -> None:
    tiny = make_tiny_mnist()
    dm = ImageDataModule("mnist", data_dir=tiny.root, val_size=10, batch_size=8, device="cuda")
    model = ImageClassifier(ArticleCNN(), lambda params: build_optimizer("adam", params))
    trainer = make_trainer(max_epochs=2, accelerator="gpu")
    trainer.fit(model, datamodule=dm)
    metrics = trainer.callback_metrics
    assert {"train/loss", "val/acc", "time/epoch_seconds", "time/samples_per_second"} <= set(metrics)
    assert metrics["time/elapsed_seconds"] >= metrics["time/epoch_seconds"] > 0
