"""A Lightning callback that moves an optimizer with a train/eval switch (Schedule-Free AdamW) between the point
it trains at and the point it is evaluated at, at the hooks ``optimizers.train_eval`` names; it serves the article's
network and a user's own ``LightningModule`` alike."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import nn

from optimizers.train_eval import to_eval, to_train

__all__ = ["RECOMPUTE_BATCHES", "TrainEvalSwitch", "recompute_batch_norm"]

RECOMPUTE_BATCHES = 50  # as schedulefree's README: BatchNorm statistics recomputed over 50 training batches
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


class TrainEvalSwitch(L.Callback):
    """Moves an optimizer with a train/eval switch (Schedule-Free AdamW) between its training point and the point
    it evaluates, at the hooks ``optimizers.train_eval`` names: train before every batch, evaluate at validation,
    test, prediction and the end of the fit (so the test, the checkpoint and the exported network see the averaged
    weights). On moving to the averaged weights, a network's BatchNorm statistics (gathered at the training point)
    are recomputed there. A no-op for every other optimizer."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        to_train(trainer.optimizers)

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, index: int) -> None:
        to_train(trainer.optimizers)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluate(trainer, pl_module)

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluate(trainer, pl_module)

    def on_predict_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluate(trainer, pl_module)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._evaluate(trainer, pl_module)

    @staticmethod
    def _evaluate(trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if to_eval(trainer.optimizers):
            recompute_batch_norm(pl_module, trainer.train_dataloader)


def recompute_batch_norm(module: nn.Module, loader: Any, batches: int = RECOMPUTE_BATCHES) -> None:
    """Running statistics of ``module``'s BatchNorm layers recomputed at its current weights: a plain average
    over the first ``batches`` batches of ``loader`` (inputs first in each batch), run forward in training mode
    without gradients. Nothing happens without such layers or without a loader."""
    norms = [m for m in module.modules() if isinstance(m, _BATCH_NORMS) and m.track_running_stats]
    if not norms or loader is None:
        return
    momenta = [norm.momentum for norm in norms]
    was_training = module.training
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average of the batches, not an exponential one
    device = next(module.parameters()).device
    module.train()
    try:
        with torch.no_grad():
            for batch, _ in zip(loader, range(batches), strict=False):
                module(batch[0].to(device))
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum
        module.train(was_training)
