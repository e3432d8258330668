"""One Optuna trial: build the CNN, its optimizer and a lean Trainer, train, and record it in MLflow."""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import time
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import lightning as L
import optuna

from models.classifier import ImageClassifier
from models.cnn import ArticleCNN
from optimizers.registry import build_optimizer
from study.environment import environment_tags
from study.epoch_logger import EpochLogger
from study.search_space import TrialParams, choose
from study.tracking import RUN_ID_ATTR
from study.trial_monitor import EpochRecord, TrialMonitor

if TYPE_CHECKING:
    from models.data import ImageDataModule
    from study.config import StudyConfig
    from study.tracking import StudyTracker

__all__ = ["Objective", "quiet_lightning"]

WORKER_ATTR = "worker"  # "host:pid" of the process running the trial, to spot trials of dead processes


def quiet_lightning() -> None:
    """A study builds hundreds of Trainers: drop Lightning's per-Trainer banners and hints."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*log_every_n_steps.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")


class Objective:
    """Callable for ``study.optimize``; returns the trial's best validation accuracy."""

    def __init__(
        self,
        config: StudyConfig,
        data: ImageDataModule,
        tracker: StudyTracker,
        device: str,
        on_trial_start: Callable[[int, TrialParams], None] | None = None,
        on_epoch: Callable[[int, EpochRecord], None] | None = None,
    ) -> None:
        self.config = config
        self.data = data
        self.tracker = tracker
        self.device = device
        self.on_trial_start = on_trial_start
        self.on_epoch = on_epoch
        self.environment = environment_tags(device)

    def run_params(self, params: TrialParams, seed: int, net: ArticleCNN) -> dict[str, Any]:
        c = self.config
        return {
            "optimizer": params.optimizer,
            "lr": params.lr,
            "batch_size": params.batch_size,
            "opt": params.hyperparameters,
            "defaults": c.defaults,
            "dataset": c.dataset,
            "train_size": c.train_size if c.train_size is not None else "all",
            "train_samples": self.data.num_train_samples,
            "validate_on_test": c.validate_on_test,
            "normalize": c.normalize,
            "model": type(net).__name__,
            "model_parameters": sum(p.numel() for p in net.parameters()),
            "max_epochs": c.max_epochs,
            "seed": seed,
            "device": self.device,
            "precision": c.precision,
        }

    def __call__(self, trial: optuna.Trial) -> float:
        c = self.config
        params = choose(trial, c)
        seed = int(trial.user_attrs.get("seed", c.seed + trial.number))
        trial.set_user_attr("seed", seed)
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        if self.on_trial_start:
            self.on_trial_start(trial.number, params)

        L.seed_everything(seed, verbose=False)
        channels, height, _ = self.data.input_shape
        net = ArticleCNN(in_channels=channels, image_size=height, num_classes=self.data.num_classes)
        factory = functools.partial(build_optimizer, params.optimizer, **params.hyperparameters)
        module = ImageClassifier(net, factory, hparams={"optimizer": params.optimizer, "seed": seed})
        data = self.data.with_batch_size(params.batch_size)

        run_params = self.run_params(params, seed, net)
        run_params["role"] = trial.user_attrs.get("role", "search")
        run_id = self.tracker.start_trial(
            trial.study.study_name, trial.number, params.optimizer, run_params, self.environment
        )
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        on_epoch = functools.partial(self.on_epoch, trial.number) if self.on_epoch else None
        monitor = TrialMonitor(trial, self.data.num_classes, on_epoch)
        trainer = L.Trainer(
            max_epochs=c.max_epochs,
            accelerator="gpu" if self.device == "cuda" else "cpu",
            devices=1,
            precision=c.precision,
            logger=EpochLogger(self.tracker, run_id),
            callbacks=[monitor],
            enable_checkpointing=False,
            enable_progress_bar=c.progress_bar,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            deterministic=False,
        )
        started = time.perf_counter()
        sigint = signal.getsignal(signal.SIGINT)
        try:
            trainer.fit(module, datamodule=data)
        except BaseException as err:  # a crash or Ctrl-C: the run must not stay RUNNING or read FINISHED
            # Lightning turns Ctrl-C into sys.exit(1), which Optuna would not record: interrupt the study instead.
            interrupted = isinstance(err, KeyboardInterrupt | SystemExit)
            reason = "interrupted (Ctrl-C or SIGTERM)" if interrupted else f"{type(err).__name__}: {err}".strip()
            trial.set_user_attr("state_reason", reason[:1000])
            self.tracker.end_trial(run_id, "FAIL", monitor.final_metrics(time.perf_counter() - started), reason)
            if interrupted:
                raise KeyboardInterrupt(reason) from err
            raise
        finally:
            signal.signal(signal.SIGINT, sigint)  # Lightning leaves Ctrl-C ignored after an interrupt
        final = monitor.final_metrics(time.perf_counter() - started)
        trial.set_user_attr("fit_seconds", final["final/fit_seconds"])
        trial.set_user_attr("epochs", len(monitor.history))
        step = len(monitor.history)
        if monitor.stop_reason:
            trial.set_user_attr("state_reason", monitor.stop_reason)
            self.tracker.end_trial(run_id, "PRUNED", final, monitor.stop_reason, step=step)
            raise optuna.TrialPruned(monitor.stop_reason)
        if trial.user_attrs.get("role") == "final":
            final.update(self._test_once(trainer, module, data, trial))
        self.tracker.end_trial(run_id, "COMPLETE", final, step=step)
        return monitor.best_val_acc

    @staticmethod
    def _test_once(
        trainer: L.Trainer, module: ImageClassifier, data: ImageDataModule, trial: optuna.Trial
    ) -> dict[str, float]:
        """A final retraining is evaluated once on the held-out test set, after training ends."""
        (results,) = trainer.test(module, datamodule=data, verbose=False)
        trial.set_user_attr("test_acc", float(results["test/acc"]))
        trial.set_user_attr("test_loss", float(results["test/loss"]))
        return {"final/test_acc": float(results["test/acc"]), "final/test_loss": float(results["test/loss"])}
