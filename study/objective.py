"""One Optuna trial: a thin adapter from the trial to ``train()``, recording it in both stores.

The configuration comes from the search space (sampled, or read back from the queue), the training from
``study.train``; this module only decides what is written where: the MLflow child run with its parameters,
one batch of metrics per epoch and the final metrics; Optuna's intermediate values, pruning decisions and the
few user attributes in ``study.schema``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna

from models.cnn import article_cnn_parameters
from study.environment import environment_tags
from study.schema import (
    BATCH_SIZE,
    COMPLETE,
    EPOCHS,
    FAIL,
    FINAL_ROLE,
    FIT_SECONDS,
    LR,
    OPTIMIZER,
    OPTIMIZER_PARAM_PREFIX,
    PRUNED,
    ROLE,
    RUN_ID_ATTR,
    SEARCH_ROLE,
    SEED,
    STATE_REASON,
    TEST_ACC,
    TEST_ACC_METRIC,
    TEST_LOSS,
    TEST_LOSS_METRIC,
    WORKER,
)
from study.search_space import Choice, choose
from study.train import EpochRecord, TrialResult, TrialSpec, train

if TYPE_CHECKING:
    from models.data import ImageDataModule
    from study.config import StudyConfig
    from study.tracking import StudyTracker

__all__ = ["Objective"]

INTERRUPTED = "interrupted (Ctrl-C or SIGTERM)"


class Objective:
    """Callable for ``study.optimize``; returns the trial's best validation accuracy."""

    def __init__(
        self,
        config: StudyConfig,
        data: ImageDataModule,
        tracker: StudyTracker,
        device: str,
        on_trial_start: Callable[[int, Choice], None] | None = None,
        on_epoch: Callable[[int, EpochRecord], None] | None = None,
    ) -> None:
        self.config = config
        self.data = data
        self.tracker = tracker
        self.device = device
        self.on_trial_start = on_trial_start
        self.on_epoch = on_epoch
        self.environment = environment_tags(device)

    def spec(self, trial: optuna.Trial) -> TrialSpec:
        """The trial's configuration: searched (or enqueued) choices, its seed and the study's settings."""
        c = self.config
        choice = choose(trial, c)
        seed = int(trial.user_attrs.get(SEED, c.seed + trial.number))
        trial.set_user_attr(SEED, seed)
        trial.set_user_attr(WORKER, f"{socket.gethostname()}:{os.getpid()}")
        if self.on_trial_start:
            self.on_trial_start(trial.number, choice)
        return TrialSpec(
            optimizer=choice.optimizer,
            hyperparameters=choice.hyperparameters,
            batch_size=choice.batch_size,
            seed=seed,
            max_epochs=c.max_epochs,
            device=self.device,
            precision=c.precision,
            test=trial.user_attrs.get(ROLE) == FINAL_ROLE,
            progress_bar=c.progress_bar,
        )

    def run_params(self, spec: TrialSpec, role: str) -> dict[str, Any]:
        """The child run's parameters: each value once (the lr as ``lr``, the other constructor values as opt.*)."""
        c = self.config
        channels, height, _ = self.data.input_shape
        others = {k: v for k, v in spec.hyperparameters.items() if k != LR}
        return {
            OPTIMIZER: spec.optimizer,
            LR: spec.lr,
            BATCH_SIZE: spec.batch_size,
            **{OPTIMIZER_PARAM_PREFIX + k: v for k, v in others.items()},
            "defaults": c.defaults,
            "dataset": c.dataset,
            "train_size": c.train_size if c.train_size is not None else "all",
            "train_samples": self.data.num_train_samples,
            "validate_on_test": c.validate_on_test,
            "normalize": c.normalize,
            "model": "ArticleCNN",
            "model_parameters": article_cnn_parameters(channels, height, self.data.num_classes),
            "max_epochs": spec.max_epochs,
            SEED: spec.seed,
            "device": spec.device,
            "precision": spec.precision,
            ROLE: role,
        }

    def __call__(self, trial: optuna.Trial) -> float:
        spec = self.spec(trial)
        role = str(trial.user_attrs.get(ROLE, SEARCH_ROLE))
        run_id = self.tracker.start_trial(
            trial.study.study_name, trial.number, spec.optimizer, self.run_params(spec, role), self.environment
        )
        trial.set_user_attr(RUN_ID_ATTR, run_id)
        try:
            result = train(spec, self.data, on_epoch=self._epoch_hook(trial, run_id))
        except BaseException as err:  # a crash or Ctrl-C: the run must not stay RUNNING or read FINISHED
            interrupted = isinstance(err, KeyboardInterrupt)
            reason = INTERRUPTED if interrupted else f"{type(err).__name__}: {err}".strip()
            trial.set_user_attr(STATE_REASON, reason[:1000])
            self.tracker.end_trial(run_id, FAIL, reason=reason)
            raise
        return self._record(trial, run_id, result)

    def _epoch_hook(self, trial: optuna.Trial, run_id: str) -> Callable[[EpochRecord], str | None]:
        def hook(record: EpochRecord) -> str | None:
            self.tracker.log_epoch(run_id, record.epoch, record.metrics)
            if self.on_epoch:
                self.on_epoch(trial.number, record)
            trial.report(record.val_acc, step=record.epoch)
            if trial.should_prune():
                return f"pruned at epoch {record.epoch} (val/acc {record.val_acc:.4f})"
            return None

        return hook

    def _record(self, trial: optuna.Trial, run_id: str, result: TrialResult) -> float:
        final = result.final_metrics()
        step = len(result.history)
        trial.set_user_attr(FIT_SECONDS, result.fit_seconds)
        trial.set_user_attr(EPOCHS, step)
        if result.stop_reason:
            trial.set_user_attr(STATE_REASON, result.stop_reason)
            self.tracker.end_trial(run_id, PRUNED, final, result.stop_reason, step=step)
            raise optuna.TrialPruned(result.stop_reason)
        if result.test_acc is not None and result.test_loss is not None:
            trial.set_user_attr(TEST_ACC, result.test_acc)
            trial.set_user_attr(TEST_LOSS, result.test_loss)
            final.update({TEST_ACC_METRIC: result.test_acc, TEST_LOSS_METRIC: result.test_loss})
        self.tracker.end_trial(run_id, COMPLETE, final, step=step)
        return result.best_val_acc
