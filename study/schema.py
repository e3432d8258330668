"""The study's vocabulary: every name that ties Optuna's records to MLflow's, defined once.

A trial lives in both stores. Optuna holds its parameters (the searched values, under the names below),
its state and a few user attributes; MLflow holds a child run with the same parameters, the per-epoch
curves and the final metrics. The keys here are the only spelling of those names: the trial runner writes
them, recovery and the report read them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

# What models.classifier logs per epoch (train/*, val/*, time/*; test/* for a final retraining).
from models.metric_names import (
    ELAPSED_SECONDS,
    EPOCH_SECONDS,
    SAMPLES_PER_SECOND,
    TRAIN_ACC,
    TRAIN_LOSS,
    TRAIN_LR,
    VAL_ACC,
    VAL_LOSS,
    VAL_PREDICTED_CLASSES,
)
from models.metric_names import TEST_ACC as TEST_ACC_METRIC
from models.metric_names import TEST_LOSS as TEST_LOSS_METRIC

if TYPE_CHECKING:  # the command line imports this module: keep it free of Optuna at run time
    from optuna.trial import FrozenTrial

__all__ = [
    "ACCURACY",
    "ADAMW_LR_PREFIX",
    "ADOPTED_TAG",
    "ALL_SAMPLES",
    "BATCH_SIZE",
    "BEST_BATCH_SIZE_TAG",
    "BEST_LR_TAG",
    "BEST_OPTIMIZER_TAG",
    "BEST_RUN_TAG",
    "BEST_TRIAL_TAG",
    "BEST_VAL_ACC",
    "BETA1_PREFIX",
    "CLASSIC",
    "COMPILE",
    "COMPLETE",
    "CONFIG_PARAM_PREFIX",
    "CONSTANT_SCHEDULE",
    "CONVENTIONS",
    "CUMULATIVE_SECONDS",
    "DATASET",
    "DEFAULTS",
    "DEFAULT_OPTIMIZERS",
    "DEVICE",
    "ELAPSED_SECONDS",
    "EPOCHS",
    "EPOCH_SECONDS",
    "FAIL",
    "FAILED",
    "FINAL_BEST_VAL_ACC",
    "FINAL_EPOCHS",
    "FINAL_FIT_SECONDS",
    "FINAL_PREFIX",
    "FINAL_ROLE",
    "FINAL_SUFFIX",
    "FINAL_TEST_ACC",
    "FINAL_TEST_LOSS",
    "LEGACY_FINAL_PREFIX",
    "FINISHED",
    "FIT_SECONDS",
    "FIXED_PARAMS_ATTR",
    "FIXED_PARAM_PREFIXES",
    "FUSED_SLOTS",
    "GIT_DIRTY_TAG",
    "GRACE_BEATS",
    "HEARTBEAT",
    "INTERRUPTED",
    "KERAS_CONVENTION",
    "KILLED",
    "LAST_RUN_SECONDS",
    "LR",
    "MAX_EPOCHS",
    "MILESTONES",
    "MLFLOW_STATUS",
    "MODEL",
    "MODEL_PARAMETERS",
    "MODERN",
    "MOMENTUM_PREFIX",
    "NORMALIZE",
    "OBJECTIVE_NAME",
    "ONE_MINUS_BETA2_PREFIX",
    "OPTIMIZER",
    "OPTIMIZER_PARAM_PREFIX",
    "Objective",
    "PARENT_ROLE",
    "PARENT_RUN_ATTR",
    "PRECISION",
    "PROTOCOLS",
    "PROTOCOL_ATTR",
    "PRUNED",
    "REASON_TAG",
    "REPEAT_ROLES",
    "RETRY_OF",
    "ROLE",
    "ROLE_TAG",
    "RUNNING",
    "RUN_ID_ATTR",
    "SAMPLES_PER_SECOND",
    "SCHEDULE",
    "SCHEDULES",
    "SEARCH",
    "SEARCHABLE",
    "SEARCH_ROLE",
    "SEED",
    "SEED_PROTOCOL",
    "SEED_ROLE",
    "SPLIT_SEED_ATTR",
    "STACKABLE",
    "STATE_REASON",
    "STATE_TAG",
    "STOP_TAG",
    "STUDY_TAG",
    "SUMMARY_ARTIFACT",
    "TEST_ACC",
    "TEST_ACC_METRIC",
    "TEST_LOSS",
    "TEST_LOSS_METRIC",
    "TEST_PREFIX",
    "TORCH_CONVENTION",
    "TRACKING_URI_ATTR",
    "TRAIN_ACC",
    "TRAIN_LOSS",
    "TRAIN_LR",
    "TRAIN_SAMPLES",
    "TRAIN_SIZE",
    "TRIALS_COMPLETE",
    "TRIALS_FAILED",
    "TRIALS_PRUNED",
    "TRIALS_WAITING",
    "TRIAL_ROLE",
    "TRIAL_TAG",
    "TUNED",
    "VALIDATE_ON_TEST",
    "VAL_ACC",
    "VAL_LOSS",
    "VAL_PREDICTED_CLASSES",
    "WAITING",
    "WARMUP",
    "WORKER",
    "best",
    "best_trial",
    "best_val_acc_of",
    "config_param",
    "epochs_to_key",
    "final_best_key",
    "lr_param",
    "param_optimizer",
    "seconds_to_key",
    "sub_study",
    "sub_study_suffix",
]

# ---------------------------------------------------------------- protocols and roles
SEARCH = "search"  # one adaptive search over every optimizer
SEED_PROTOCOL = "seed"  # the article's defaults, once per optimizer and seed
TUNED = "tuned"  # an equal budget per optimizer, then its best configuration retrained with several seeds
PROTOCOLS = (SEARCH, SEED_PROTOCOL, TUNED)

# The optimizers a study can compare: the names of ``optimizers.registry`` (a test checks they agree), spelled here
# so that parsing the command line does not import torch.
CLASSIC: tuple[str, ...] = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "nadam")
MODERN: tuple[str, ...] = ("radam", "adamax", "adafactor", "lion", "muon", "schedulefree_adamw", "prodigy")
SEARCHABLE: tuple[str, ...] = (*CLASSIC, *MODERN)
# A study compares the article's era unless --optimizers names others: the default study stays the one its
# results were measured with, and its 30 trials are not spread over sixteen optimizers.
DEFAULT_OPTIMIZERS = CLASSIC
# The optimizers with a stacked form (optimizers.stacked: K trials trained as one program; a test checks they
# agree). Today's keep per-tensor or global state a stack would have to split per slot (Muon's orthogonalised
# matrices, Adafactor's factored moments, Prodigy's step-size estimate, Schedule-Free's averaged point), or have no
# stacked form written yet (RAdam, Adamax, Lion).
STACKABLE: tuple[str, ...] = CLASSIC
# Where the hyperparameters a trial does not search come from: PyTorch's constructor defaults or tf.keras 2.x's.
TORCH_CONVENTION, KERAS_CONVENTION = "torch", "keras"
CONVENTIONS = (TORCH_CONVENTION, KERAS_CONVENTION)

SEARCH_ROLE = "search"  # a trial whose configuration a sampler chose
SEED_ROLE = "seed"  # the seed protocol's fixed configuration, one seed
FINAL_ROLE = "final"  # the tuned protocol's retraining of an optimizer's best configuration, one seed
REPEAT_ROLES = (SEED_ROLE, FINAL_ROLE)  # trials that repeat one fixed configuration with several seeds

FINAL_SUFFIX = "final"  # the tuned protocol's retraining study: NAME.final


def sub_study(name: str, suffix: str) -> str:
    """A sub-study of study ``name``: the tuned protocol's ``NAME.adam`` and ``NAME.final``."""
    return f"{name}.{suffix}"


def sub_study_suffix(study_name: str, name: str) -> str:
    """``adam`` for ``NAME.adam``, the empty string for ``NAME`` itself."""
    return study_name.removeprefix(name).lstrip(".")


# ---------------------------------------------------------------- a trial's parameters (both stores)
OPTIMIZER = "optimizer"  # registry name (Optuna param, MLflow param)
BATCH_SIZE = "batch_size"  # (Optuna param, MLflow param)
LR = "lr"  # the learning rate: the MLflow param; in Optuna it is the conditional lr_param(optimizer)
OPTIMIZER_PARAM_PREFIX = "opt."  # MLflow params of the other constructor values, e.g. opt.eps
CONFIG_PARAM_PREFIX = "config."  # the parent run's params: the first invocation's configuration


def config_param(*path: str) -> str:
    """The parent run's param of a configuration field, e.g. ``config.dataset``, ``config.lr_ranges.adam``."""
    return CONFIG_PARAM_PREFIX + ".".join(path)


def lr_param(optimizer: str) -> str:
    """The Optuna parameter holding ``optimizer``'s learning rate: each optimizer searches its own range."""
    return f"{LR}_{optimizer}"


# The other searchable values (``--search-extras``), each an Optuna parameter of its own optimizer: PREFIX + name.
MOMENTUM_PREFIX = "momentum_"  # SGD's momentum
BETA1_PREFIX = "beta1_"  # the Adam family's beta1
ONE_MINUS_BETA2_PREFIX = "one_minus_beta2_"  # 1 - beta2, searched on a log scale
ADAMW_LR_PREFIX = "adamw_lr_"  # Muon's: the learning rate of its AdamW side (biases, the output layer)
FIXED_PARAM_PREFIXES = (LR + "_", MOMENTUM_PREFIX, BETA1_PREFIX, ONE_MINUS_BETA2_PREFIX, ADAMW_LR_PREFIX)


def param_optimizer(param: str) -> str | None:
    """The optimizer a searched parameter belongs to (``schedulefree_adamw`` for ``lr_schedulefree_adamw``), or
    None when the name is not one of them."""
    for prefix in FIXED_PARAM_PREFIXES:
        if param.startswith(prefix) and param.removeprefix(prefix) in SEARCHABLE:
            return param.removeprefix(prefix)
    return None


# A trial's MLflow params besides the searched values: what it trained on and how (the report reads them back).
DEFAULTS = "defaults"  # the convention of the values not searched
DATASET = "dataset"
TRAIN_SIZE = "train_size"  # the --train-size asked for ("all" when none)
TRAIN_SAMPLES = "train_samples"  # the training images the trial saw per epoch
VALIDATE_ON_TEST = "validate_on_test"
NORMALIZE = "normalize"
MODEL = "model"  # the network's class name
MODEL_PARAMETERS = "model_parameters"  # its trainable parameters
MAX_EPOCHS = "max_epochs"
DEVICE = "device"
PRECISION = "precision"
COMPILE = "compile"
ALL_SAMPLES = "all"  # TRAIN_SIZE when the whole training split trains
SCHEDULE = "schedule"  # the learning-rate schedule (an Optuna param too, with --search-schedule)
WARMUP = "warmup"  # its warm-up, a fraction of the steps (likewise)
CONSTANT_SCHEDULE = "constant"
SCHEDULES = (CONSTANT_SCHEDULE, "cosine", "linear", "wsd")  # study.training.schedules


# ---------------------------------------------------------------- Optuna trial user attributes
ROLE = "role"  # SEARCH_ROLE, SEED_ROLE or FINAL_ROLE (also an MLflow param)
SEED = "seed"  # the trial's training seed (also an MLflow param)
RUN_ID_ATTR = "mlflow_run_id"  # the trial's MLflow child run
STATE_REASON = "state_reason"  # why a trial was pruned or failed
FIT_SECONDS = "fit_seconds"  # wall seconds of the whole fit, validation included
EPOCHS = "epochs"  # epochs trained
TEST_ACC = "test_acc"  # a final retraining's held-out test accuracy, evaluated once
TEST_LOSS = "test_loss"
WORKER = "worker"  # "host:pid" of the process running the trial
FUSED_SLOTS = "fused_slots"  # trials trained together in the trial's stack (Optuna attr and MLflow tag; 1: alone)
HEARTBEAT = "heartbeat"  # seconds since the epoch, refreshed while the trial trains (study.workers.liveness)
GRACE_BEATS = 5  # a RUNNING trial silent for this many heartbeat intervals is failed and retried
RETRY_OF = "retry_of"  # the number of the trial whose configuration this one runs again
# Where ``Study.enqueue_trial`` keeps a queued trial's values (an Optuna system attribute; study.records reads it)
FIXED_PARAMS_ATTR = "fixed_params"
OBJECTIVE_NAME = "val_acc"  # the study's metric name in Optuna (the dashboard shows it): the best validation accuracy
INTERRUPTED = "interrupted (Ctrl-C or SIGTERM)"  # the reason a trial stopped by a signal is recorded with

# ---------------------------------------------------------------- Optuna study user attributes
PROTOCOL_ATTR = "protocol"
SPLIT_SEED_ATTR = "split_seed"  # the study's train/validation split: one per study, for every trial of it
DEFINITION_ATTR = "definition"  # the options that define its trials (study.config.definition), fixed at creation
PARENT_RUN_ATTR = "mlflow_parent_run_id"
TRACKING_URI_ATTR = "mlflow_tracking_uri"

# ---------------------------------------------------------------- MLflow tags and statuses
ROLE_TAG = "optimizer_study.role"  # PARENT_ROLE or TRIAL_ROLE
PARENT_ROLE = "parent"
TRIAL_ROLE = "trial"
STUDY_TAG = "optuna.study_name"
TRIAL_TAG = "optuna.trial_number"
STATE_TAG = "optuna.trial_state"
REASON_TAG = "optuna.state_reason"
DEVICE_NAME_TAG = "device_name"  # the hardware a trial ran on: a GPU's name, or the CPU model and its cores
CPU_BF16_TAG = "cpu_bf16"  # the CPU's native bfloat16 extensions (avx512_bf16, amx_bf16), "none" when emulated
GIT_DIRTY_TAG = "git.dirty"  # beside mlflow.source.git.commit: "true" when the run's code was not that commit
STOP_TAG = "optimizer_study.stop_reason"  # the parent run's: why the study stopped
# A trial's run that the repair adopted after the trial ended (created it, when the trial's process died or MLflow
# refused it; or found it by its study and trial-number tags): the Optuna trial cannot name it any more.
ADOPTED_TAG = "optimizer_study.adopted"
# Optuna's trial states by name (TrialState.<X>.name), as the MLflow state tag and the report hold them.
COMPLETE, PRUNED, FAIL, RUNNING, WAITING = "COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"
# MLflow's run statuses. A pruned trial is KILLED and a failed one FAILED: never a plain FINISHED. The parent run
# is FINISHED when the budget is met, KILLED when trials were left queued, FAILED after a crash.
FINISHED, KILLED, FAILED = "FINISHED", "KILLED", "FAILED"
MLFLOW_STATUS = {COMPLETE: FINISHED, PRUNED: KILLED, FAIL: FAILED, RUNNING: RUNNING}

# ---------------------------------------------------------------- the parent run's end-of-study records
TRIALS_COMPLETE = "trials/complete"  # metrics: trial counts by state
TRIALS_PRUNED = "trials/pruned"
TRIALS_FAILED = "trials/failed"
TRIALS_WAITING = "trials/waiting"
LAST_RUN_SECONDS = "study/last_run_seconds"  # wall seconds of the invocation that closed the study
BEST_VAL_ACC = "best/val_acc"  # the best trial's value; BEST_VAL_ACC.<optimizer> each optimizer's best
BEST_TRIAL_TAG = "best.trial_number"  # tags naming the best trial
BEST_OPTIMIZER_TAG = "best.optimizer"
BEST_BATCH_SIZE_TAG = "best.batch_size"
BEST_LR_TAG = "best.lr"
BEST_RUN_TAG = "best.mlflow_run_id"
SUMMARY_ARTIFACT = "summary.json"  # the per-optimizer table and the best trial, as JSON


def best_val_acc_of(optimizer: str) -> str:
    """The parent run's metric holding ``optimizer``'s best value (its best trial's validation accuracy, by default)."""
    return f"{BEST_VAL_ACC}.{optimizer}"


def final_best_key(objective: Objective) -> str:
    """A trial run's end metric holding its best epoch's value: ``whole_trial/best_val_acc`` for the default."""
    return f"{FINAL_PREFIX}best_{objective.slug}"


# ---------------------------------------------------------------- metrics
CUMULATIVE_SECONDS = "time/cumulative_seconds"  # wall seconds since fit start, validation included
# A child run's end-of-trial metrics. MLflow's run page orders its chart sections by name: this prefix sorts after the
# per-epoch curves' sections (time/, train/, val/), so a trial's page opens on its curves, not on single points.
FINAL_PREFIX = "whole_trial/"
LEGACY_FINAL_PREFIX = "final/"  # the same metrics' prefix in runs written before the rename (December 2026)
TEST_PREFIX = TEST_ACC_METRIC.split("/")[0] + "/"  # the held-out test set, evaluated once
FINAL_BEST_VAL_ACC = FINAL_PREFIX + "best_val_acc"
FINAL_FIT_SECONDS = FINAL_PREFIX + "fit_seconds"
FINAL_EPOCHS = FINAL_PREFIX + "epochs"
FINAL_TEST_ACC = FINAL_PREFIX + "test_acc"
FINAL_TEST_LOSS = FINAL_PREFIX + "test_loss"
MILESTONES = (0.97, 0.98, 0.99)  # validation accuracies whose first crossing is timed


def seconds_to_key(threshold: float) -> str:
    return f"{FINAL_PREFIX}seconds_to_{threshold}"


def epochs_to_key(threshold: float) -> str:
    return f"{FINAL_PREFIX}epochs_to_{threshold}"


# ---------------------------------------------------------------- the best of several
T = TypeVar("T")


def best(items: Iterable[T], score: Callable[[T], float | None]) -> T | None:
    """The item with the highest score, ignoring items without one; the first on ties; None if none."""
    found: T | None = None
    top = 0.0
    for item in items:
        value = score(item)
        if value is not None and (found is None or value > top):
            found, top = item, value
    return found


@dataclass(frozen=True)
class Objective:
    """What a trial is scored by: a metric the model logs after each validation, and whether more is better. A
    trial's value is the metric at its best epoch; the article's (and the default) is the validation accuracy."""

    metric: str = VAL_ACC
    maximize: bool = True

    def best(self, values: Iterable[float]) -> float:
        """The best of ``values`` (NaN when there are none)."""
        found = [v for v in values if not math.isnan(v)]
        if not found:
            return float("nan")
        return max(found) if self.maximize else min(found)

    @property
    def slug(self) -> str:
        """The metric as a key fragment: ``val_acc`` for ``val/acc``."""
        return self.metric.replace("/", "_")

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        """Optuna's name for the direction."""
        return "maximize" if self.maximize else "minimize"


ACCURACY = Objective()  # the default: the best validation accuracy


def best_trial(trials: Iterable[FrozenTrial], objective: Objective = ACCURACY) -> FrozenTrial | None:
    """The completed trial with the best value (the highest validation accuracy, by default), or None."""
    sign = 1.0 if objective.maximize else -1.0
    return best([t for t in trials if t.state.name == COMPLETE], lambda t: None if t.value is None else sign * t.value)
