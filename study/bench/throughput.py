"""BM-3: the same enqueued trials through ``study.run``'s worker and through a peer pipeline.

The peer is built the way Optuna's own Lightning example (``optuna-examples/pytorch/pytorch_lightning_simple.py``)
builds a study: a LightningModule that logs its loss every step and its accuracy every epoch, a LightningDataModule
over ``torchvision``'s MNIST with ``ToTensor()``, a default Trainer (checkpointing, progress bar off) with Lightning's
own MLflow logger, a callback that reports each epoch to Optuna and prunes, ``study.optimize``. Both run the same
configurations (optimizer, learning rate, batch size) for the same epochs on the same training and validation
images; each returns trials per minute and every trial's best validation accuracy.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import optuna
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import MLFlowLogger
from torch.utils.data import DataLoader, Subset
from torchvision.transforms import ToTensor

from models.data import split_indices
from models.datasets import get_dataset_spec, resolve_data_dir, torchvision_dataset
from study.bench.overhead import study_worker
from study.bench.runner import fresh_study_args
from study.bench.steps import article_layout_cnn
from study.records.stores import open_storage
from study.schema import BATCH_SIZE, LR, OBJECTIVE_NAME, OPTIMIZER, lr_param

__all__ = ["peer_set", "study_set"]

_TORCH = {"adam": ("Adam", {}), "sgd": ("SGD", {}), "rmsprop": ("RMSprop", {}), "momentum": ("SGD", {"momentum": 0.9})}


def study_set(
    data_dir: str | None, configs: Sequence[tuple[str, float, int]], train_size: int, epochs: int
) -> dict[str, Any]:
    """The configurations enqueued in a fresh study and run by one of its workers: trials per minute, and every
    trial's best validation accuracy."""
    with tempfile.TemporaryDirectory(prefix="bench-study-", ignore_cleanup_errors=True) as folder:
        names = sorted({c[0] for c in configs})
        args = ["--study-name", "bench", "--n-trials", str(len(configs)), "--optimizers", ",".join(names)]
        args += ["--batch-sizes", ",".join(str(s) for s in sorted({c[2] for c in configs}))]
        study = optuna.create_study(study_name="bench", storage=open_storage(f"{folder}/journal.log"))
        for name, lr, batch_size in configs:  # queued before joining: the budget is then already met
            study.enqueue_trial({OPTIMIZER: name, lr_param(name): lr, BATCH_SIZE: batch_size})
        session, worker = study_worker(args + fresh_study_args(folder, train_size, epochs, data_dir))
        started = time.perf_counter()
        worker.run()
        minutes = (time.perf_counter() - started) / 60
        trials = sorted(session.studies["bench"].get_trials(deepcopy=False), key=lambda t: t.number)
    return {"value": len(configs) / minutes, "extra": [t.value for t in trials]}


class _PeerNet(L.LightningModule):
    def __init__(self, optimizer: str, lr: float) -> None:
        super().__init__()
        self.net = article_layout_cnn()
        self.optimizer_name, self.lr = optimizer, lr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.net(x)
        return logits

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss)  # every step, as the example does
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        accuracy = (self(x).argmax(dim=1) == y).float().mean()
        self.log(OBJECTIVE_NAME, accuracy)
        self.log("hp_metric", accuracy, on_step=False, on_epoch=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        name, extra = _TORCH[self.optimizer_name]
        optimizer: torch.optim.Optimizer = getattr(torch.optim, name)(self.parameters(), lr=self.lr, **extra)
        return optimizer


class _PeerData(L.LightningDataModule):
    def __init__(self, data_dir: str | None, batch_size: int, train_size: int) -> None:
        super().__init__()
        self.root, self.batch_size, self.train_size = Path(resolve_data_dir(data_dir)), batch_size, train_size

    def setup(self, stage: str) -> None:
        mnist = torchvision_dataset(get_dataset_spec("mnist"), self.root, train=True, transform=ToTensor())
        train, val = split_indices(len(mnist), 5000, 0, self.train_size)  # the study's own split
        self.train, self.val = Subset(mnist, train.tolist()), Subset(mnist, val.tolist())

    def train_dataloader(self) -> DataLoader[Any]:
        return DataLoader(self.train, batch_size=self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader[Any]:
        return DataLoader(self.val, batch_size=self.batch_size)


class _PruneCallback(L.Callback):
    """What ``PyTorchLightningPruningCallback`` does: report the monitored metric each epoch, prune if told."""

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        self.trial, self.monitor = trial, monitor

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.trial.report(float(trainer.callback_metrics[self.monitor]), step=trainer.current_epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned()


def peer_set(
    data_dir: str | None, configs: Sequence[tuple[str, float, int]], train_size: int, epochs: int
) -> dict[str, Any]:
    """The configurations enqueued in a study run the way Optuna's Lightning example runs one: trials per minute,
    and every trial's best validation accuracy."""
    with tempfile.TemporaryDirectory(prefix="bench-peer-", ignore_cleanup_errors=True) as folder:
        return _peer_set(folder, data_dir, configs, train_size, epochs)


def _peer_set(
    folder: str, data_dir: str | None, configs: Sequence[tuple[str, float, int]], train_size: int, epochs: int
) -> dict[str, Any]:
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{folder}/optuna.db")
    for name, lr, batch_size in configs:
        study.enqueue_trial({OPTIMIZER: name, LR: lr, BATCH_SIZE: batch_size})

    def objective(trial: optuna.Trial) -> float:
        name = trial.suggest_categorical("optimizer", sorted(_TORCH))
        lr = trial.suggest_float(LR, 1e-5, 1.0, log=True)
        batch_size = trial.suggest_categorical("batch_size", [32, 64, 128, 256])
        logger = MLFlowLogger(experiment_name="peer", tracking_uri=f"sqlite:///{folder}/mlflow.db")
        trainer = L.Trainer(
            logger=logger,
            max_epochs=epochs,
            accelerator="cpu",
            devices=1,
            enable_progress_bar=False,
            default_root_dir=folder,
            callbacks=[_PruneCallback(trial, OBJECTIVE_NAME)],
        )
        logger.log_hyperparams({OPTIMIZER: name, LR: lr, BATCH_SIZE: batch_size})
        trainer.fit(_PeerNet(name, lr), datamodule=_PeerData(data_dir, batch_size, train_size))
        return float(trainer.callback_metrics[OBJECTIVE_NAME])

    started = time.perf_counter()
    study.optimize(objective, n_trials=len(configs))
    minutes = (time.perf_counter() - started) / 60
    return {"value": len(configs) / minutes, "extra": [t.value for t in study.trials]}
