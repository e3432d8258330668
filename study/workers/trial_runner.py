"""One Optuna trial, run: a thin adapter from the trial to ``train()``.

The configuration comes from the search space (sampled, or read back from the queue), the training from
``study.training.train``; this module decides what is written while the trial trains: the MLflow child run with its
parameters, one batch of metrics per epoch, Optuna's intermediate values and pruning decisions. How the
trial ended comes back as an ``Outcome``, which ``study.records.ledger.commit`` writes to both stores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from mlflow.entities import Dataset

from study.design.search_space import Choice, SearchSpace
from study.records.environment import environment_tags
from study.records.ledger import Outcome, crashed
from study.records.optuna_internals import queued_values
from study.records.store_checks import mlflow_uri
from study.records.system_metrics import SystemMetricsAfterFirstEpoch
from study.schema import (
    ALL_SAMPLES,
    BATCH_SIZE,
    COMPILE,
    COMPLETE,
    DATASET,
    DEFAULTS,
    DEVICE,
    EPOCHS,
    FAIL,
    FINAL_ROLE,
    FIT_SECONDS,
    FUSED_SLOTS,
    INTERRUPTED,
    LR,
    MAX_EPOCHS,
    MODEL,
    MODEL_PARAMETERS,
    NORMALIZE,
    OPTIMIZER,
    OPTIMIZER_PARAM_PREFIX,
    PRECISION,
    PRUNED,
    ROLE,
    RUN_ID_ATTR,
    SCHEDULE,
    SEARCH_ROLE,
    SEED,
    SPLIT_SEED_ATTR,
    TEST_ACC,
    TEST_LOSS,
    TRAIN_SAMPLES,
    TRAIN_SIZE,
    VALIDATE_ON_TEST,
    WARMUP,
    WORKER,
)
from study.training.fused import train_fused
from study.training.train import EpochRecord, TrialResult, TrialSpec, param_split, train

if TYPE_CHECKING:
    from study.config import StudyConfig
    from study.design.tasks import Task
    from study.records.tracking import StudyTracker

__all__ = ["TrialRunner"]

SYSTEM_METRICS_SECONDS = 5.0  # MLflow's sampling interval (MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL overrides it)


class TrialRunner:
    """Runs the trials of one (sub-)study, one at a time: ``spec`` builds it, ``start`` opens its MLflow run,
    ``train`` (or ``train_stack``) trains it and returns how it ended."""

    def __init__(
        self,
        config: StudyConfig,
        task: Task,
        tracker: StudyTracker,
        device: str,
        on_trial_start: Callable[[str, int, Choice], None] | None = None,
        on_epoch: Callable[[str, int, EpochRecord], None] | None = None,
    ) -> None:
        self.config = config
        self.task = task
        self.data = task.data
        self.tracker = tracker
        self.device = device
        self.on_trial_start = on_trial_start
        self.on_epoch = on_epoch
        self.space = SearchSpace.of(config)
        self.environment = environment_tags(device)
        self._datasets: dict[str, Dataset] | None = None

    def datasets(self) -> dict[str, Dataset]:
        """What every trial trains and validates on, as MLflow datasets (computed once: it hashes the images)."""
        if self._datasets is None:
            c, data, task = self.config, self.data, self.task
            source = json.dumps({DATASET: task.dataset_name, "data_dir": task.data_source})
            sizes = {"training": data.num_train_samples, "validation": data.num_val_samples}
            self._datasets = {
                role: Dataset(
                    name=f"{task.dataset_name}-{role}",
                    digest=digest,
                    source_type="local",
                    source=source,
                    profile=json.dumps({"num_samples": sizes[role], SPLIT_SEED_ATTR: c.split_seed}),
                )
                for role, digest in data.digests().items()
            }
        return self._datasets

    def spec(self, trial: optuna.Trial) -> TrialSpec:
        """The trial's configuration: searched (or enqueued) choices, its seed and the study's settings."""
        choice = self.space.choose(trial, queued_values(trial))
        seed = int(trial.user_attrs.get(SEED, self.config.seed + trial.number))
        trial.set_user_attr(SEED, seed)
        trial.set_user_attr(WORKER, f"{socket.gethostname()}:{os.getpid()}")
        if self.on_trial_start:
            self.on_trial_start(trial.study.study_name, trial.number, choice)
        return self._spec(choice, seed, trial.user_attrs.get(ROLE) == FINAL_ROLE)

    def spec_of(self, trial: optuna.trial.FrozenTrial) -> TrialSpec:
        """The configuration a finished trial trained with: the same spec, so training it again is the same run."""
        choice = self.space.choose(optuna.trial.FixedTrial(trial.params, number=trial.number), {})
        return self._spec(choice, int(trial.user_attrs[SEED]), trial.user_attrs.get(ROLE) == FINAL_ROLE)

    def _spec(self, choice: Choice, seed: int, test: bool) -> TrialSpec:
        c = self.config
        return TrialSpec(
            optimizer=choice.optimizer,
            hyperparameters=choice.hyperparameters,
            batch_size=choice.batch_size,
            seed=seed,
            max_epochs=c.max_epochs,
            device=self.device,
            precision=c.precision,
            compile=c.compile,
            test=test,
            progress_bar=c.progress_bar,
            schedule=choice.schedule,
            warmup=choice.warmup,
        )

    def run_params(self, spec: TrialSpec, role: str) -> dict[str, Any]:
        """The child run's parameters: each value once (the lr as ``lr``, the other constructor values as opt.*)."""
        c = self.config
        others = {k: v for k, v in spec.hyperparameters.items() if k != LR}
        return {
            OPTIMIZER: spec.optimizer,
            LR: spec.lr,
            BATCH_SIZE: spec.batch_size,
            **{OPTIMIZER_PARAM_PREFIX + k: v for k, v in others.items()},
            DEFAULTS: c.defaults,
            DATASET: self.task.dataset_name,
            TRAIN_SIZE: c.train_size if c.train_size is not None else ALL_SAMPLES,
            TRAIN_SAMPLES: self.data.num_train_samples,
            VALIDATE_ON_TEST: c.validate_on_test,
            NORMALIZE: c.normalize,
            MODEL: self.task.model_name,
            MODEL_PARAMETERS: self.task.model_parameters,
            MAX_EPOCHS: spec.max_epochs,
            SEED: spec.seed,
            DEVICE: spec.device,
            PRECISION: spec.precision,
            COMPILE: spec.compile,
            SCHEDULE: spec.schedule,
            WARMUP: spec.warmup,
            ROLE: role,
            **self._groups(spec.optimizer),
        }

    def _groups(self, optimizer: str) -> dict[str, str]:
        """How an optimizer that splits the network (Muon's hybrid) split it, by parameter name: the run records it."""
        split = param_split(optimizer, self.task.model(self.data.input_shape, self.data.num_classes))
        if split is None:
            return {}
        sides = dataclasses.asdict(split[1])
        return {f"{OPTIMIZER_PARAM_PREFIX}groups.{side}": ",".join(names) for side, names in sides.items()}

    def start(self, trial: optuna.Trial, spec: TrialSpec) -> str:
        """Creates the trial's MLflow child run and links the two records; returns the run id."""
        role = str(trial.user_attrs.get(ROLE, SEARCH_ROLE))

        def link(run_id: str) -> None:
            trial.set_user_attr(RUN_ID_ATTR, run_id)

        params = self.run_params(spec, role)
        run_id = self.tracker.start_trial(
            trial.study.study_name, trial.number, spec.optimizer, params, self.environment, link
        )
        self.tracker.log_datasets(run_id, self.datasets())
        return run_id

    def train(self, trial: optuna.Trial, spec: TrialSpec, run_id: str) -> Outcome:
        """Trains; every way it can end (completed, pruned, diverged, crashed, interrupted) becomes an Outcome."""
        monitor = self._system_monitor(run_id)
        hook = self._epoch_hook(trial, run_id, monitor)
        task = self.task
        (outcome,) = self._monitored(
            [monitor], lambda: [train(spec, task.data, model=task.model, objective=task.objective, on_epoch=hook)]
        )
        return outcome

    def train_stack(
        self, trials: Sequence[optuna.Trial], specs: Sequence[TrialSpec], run_ids: Sequence[str]
    ) -> list[Outcome]:
        """``train`` for trials that share a stack (``study.training.fused``): one outcome per trial, in order. A
        failure of the stack itself ends every trial of it; a slot that is pruned or diverges ends alone."""
        tags = {FUSED_SLOTS: str(len(trials))}
        for trial, run_id in zip(trials, run_ids, strict=True):
            trial.set_user_attr(FUSED_SLOTS, len(trials))
            self.tracker.tag_trial(run_id, tags)
        monitors = [self._system_monitor(run_id) for run_id in run_ids]
        hooks = [
            self._epoch_hook(trial, run_id, monitor)
            for trial, run_id, monitor in zip(trials, run_ids, monitors, strict=True)
        ]
        return self._monitored(monitors, lambda: train_fused(specs, self.data, hooks))

    def _system_monitor(self, run_id: str) -> SystemMetricsAfterFirstEpoch:
        """CPU, memory (and GPU) as the run's system/* metrics, published once its first epoch is logged."""
        return SystemMetricsAfterFirstEpoch(run_id, SYSTEM_METRICS_SECONDS, mlflow_uri(self.config.tracking_uri))

    def _monitored(
        self, monitors: Sequence[SystemMetricsAfterFirstEpoch], training: Callable[[], list[TrialResult]]
    ) -> list[Outcome]:
        """Runs ``training`` with each run's system metrics sampled; one Outcome per run. A crash or an interrupt
        is the end of every trial it trained. The monitors stop before the trials' records are written."""
        for monitor in monitors:
            monitor.start()
        try:
            results = training()
        except KeyboardInterrupt:
            return [Outcome(FAIL, reason=INTERRUPTED, interrupted=True)] * len(monitors)
        except Exception as err:  # noqa: BLE001 - a crash is the trials' end, recorded with its reason
            return [crashed(err)] * len(monitors)
        finally:
            for monitor in monitors:
                monitor.finish()
        return [self._outcome(result) for result in results]

    def _epoch_hook(
        self, trial: optuna.Trial, run_id: str, monitor: SystemMetricsAfterFirstEpoch
    ) -> Callable[[EpochRecord], str | None]:
        metric = self.task.objective.metric

        def hook(record: EpochRecord) -> str | None:
            # the objective first: MLflow's Compare view opens on a run's first logged metric
            first = {metric: record.metrics[metric]} if metric in record.metrics else {}
            self.tracker.log_epoch(run_id, record.epoch, first | dict(record.metrics))
            monitor.first_epoch_logged.set()
            if self.on_epoch:
                self.on_epoch(trial.study.study_name, trial.number, record)
            trial.report(record.value(metric), step=record.epoch)
            if trial.should_prune():
                return f"pruned at epoch {record.epoch} ({metric} {record.value(metric):.4f})"
            return None

        return hook

    @staticmethod
    def _outcome(result: TrialResult) -> Outcome:
        metrics = result.final_metrics()
        attrs: dict[str, Any] = {FIT_SECONDS: result.fit_seconds, EPOCHS: len(result.history)}
        step = len(result.history)
        if result.stop_reason:
            return Outcome(PRUNED, reason=result.stop_reason, metrics=metrics, step=step, attrs=attrs)
        if result.test_acc is not None and result.test_loss is not None:
            attrs.update({TEST_ACC: result.test_acc, TEST_LOSS: result.test_loss})
        return Outcome(COMPLETE, value=result.best_value, metrics=metrics, step=step, attrs=attrs)
