"""The study's vocabulary: every name that ties Optuna's records to MLflow's, defined once.

A trial lives in both stores. Optuna holds its parameters (the searched values, under the names below),
its state and a few user attributes; MLflow holds a child run with the same parameters, the per-epoch
curves and the final metrics. The keys here are the only spelling of those names: the objective writes
them, recovery and the report read them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

# What models.classifier logs per epoch (train/*, val/*, time/*; test/* for a final retraining).
from models.metric_names import (
    ELAPSED_SECONDS,
    EPOCH_SECONDS,
    SAMPLES_PER_SECOND,
    TRAIN_ACC,
    TRAIN_LOSS,
    VAL_ACC,
    VAL_LOSS,
    VAL_PREDICTED_CLASSES,
)
from models.metric_names import TEST_ACC as TEST_ACC_METRIC
from models.metric_names import TEST_LOSS as TEST_LOSS_METRIC

if TYPE_CHECKING:  # the command line imports this module: keep it free of Optuna at run time
    from optuna.trial import FrozenTrial

__all__ = [
    "GIT_DIRTY_TAG",
    "BATCH_SIZE",
    "COMPLETE",
    "CONFIG_PARAM_PREFIX",
    "CUMULATIVE_SECONDS",
    "ELAPSED_SECONDS",
    "EPOCHS",
    "EPOCH_SECONDS",
    "FAIL",
    "FINAL_BEST_VAL_ACC",
    "FINAL_EPOCHS",
    "FINAL_FIT_SECONDS",
    "FINAL_PREFIX",
    "FINAL_ROLE",
    "FINAL_SUFFIX",
    "FINAL_TEST_ACC",
    "FINAL_TEST_LOSS",
    "GRACE_BEATS",
    "HEARTBEAT",
    "FIT_SECONDS",
    "LR",
    "MILESTONES",
    "MLFLOW_STATUS",
    "OPTIMIZER",
    "OPTIMIZER_PARAM_PREFIX",
    "PARENT_ROLE",
    "PARENT_RUN_ATTR",
    "PROTOCOLS",
    "PROTOCOL_ATTR",
    "SPLIT_SEED_ATTR",
    "PRUNED",
    "REASON_TAG",
    "REPEAT_ROLES",
    "RETRY_OF",
    "ROLE",
    "ROLE_TAG",
    "RUNNING",
    "RUN_ID_ATTR",
    "SAMPLES_PER_SECOND",
    "SEARCH",
    "SEARCH_ROLE",
    "SEED",
    "SEED_PROTOCOL",
    "SEED_ROLE",
    "STATE_REASON",
    "STATE_TAG",
    "STUDY_TAG",
    "TEST_ACC",
    "TEST_ACC_METRIC",
    "TEST_LOSS",
    "TEST_LOSS_METRIC",
    "TEST_PREFIX",
    "TRACKING_URI_ATTR",
    "TRAIN_ACC",
    "TRAIN_LOSS",
    "TRIAL_ROLE",
    "TRIAL_TAG",
    "TUNED",
    "VAL_ACC",
    "VAL_LOSS",
    "VAL_PREDICTED_CLASSES",
    "WAITING",
    "WORKER",
    "FUSED_SLOTS",
    "best",
    "best_trial",
    "config_param",
    "epochs_to_key",
    "lr_param",
    "seconds_to_key",
    "sub_study",
    "sub_study_suffix",
]

# ---------------------------------------------------------------- protocols and roles
SEARCH = "search"  # one adaptive search over every optimizer
SEED_PROTOCOL = "seed"  # the article's defaults, once per optimizer and seed
TUNED = "tuned"  # an equal budget per optimizer, then its best configuration retrained with several seeds
PROTOCOLS = (SEARCH, SEED_PROTOCOL, TUNED)

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
HEARTBEAT = "heartbeat"  # seconds since the epoch, refreshed while the trial trains (study.liveness)
GRACE_BEATS = 5  # a RUNNING trial silent for this many heartbeat intervals is failed and retried
RETRY_OF = "retry_of"  # the number of the trial whose configuration this one runs again

# ---------------------------------------------------------------- Optuna study user attributes
PROTOCOL_ATTR = "protocol"
SPLIT_SEED_ATTR = "split_seed"  # the study's train/validation split: one per study, for every trial of it
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
GIT_DIRTY_TAG = "git.dirty"  # beside mlflow.source.git.commit: "true" when the run's code was not that commit
# Optuna's trial states by name (TrialState.<X>.name), as the MLflow state tag and the report hold them.
COMPLETE, PRUNED, FAIL, RUNNING, WAITING = "COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"
# A pruned trial is KILLED and a failed one FAILED in MLflow: never a plain FINISHED.
MLFLOW_STATUS = {COMPLETE: "FINISHED", PRUNED: "KILLED", FAIL: "FAILED", RUNNING: "RUNNING"}

# ---------------------------------------------------------------- metrics
CUMULATIVE_SECONDS = "time/cumulative_seconds"  # wall seconds since fit start, validation included
FINAL_PREFIX = "final/"  # a child run's end-of-trial metrics
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


def best_trial(trials: Iterable[FrozenTrial]) -> FrozenTrial | None:
    """The completed trial with the highest value (validation accuracy), or None."""
    return best([t for t in trials if t.state.name == COMPLETE], lambda t: t.value)
