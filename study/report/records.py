"""What the report reads from the two stores, as plain frozen records: one per trial, one for the whole study.

Everything the sections need is gathered here once, so the tables and figures are pure functions of these
records and the tests can build them by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from study.schema import CUMULATIVE_SECONDS, REPEAT_ROLES, SAMPLES_PER_SECOND, SEARCHABLE, VAL_ACC, VAL_LOSS

__all__ = ["CURVE_KEYS", "StudyData", "TrialRecord", "Winner", "by_optimizer", "ordered_optimizers"]

CURVE_KEYS = (VAL_ACC, VAL_LOSS, SAMPLES_PER_SECOND, CUMULATIVE_SECONDS)


@dataclass(frozen=True)
class TrialRecord:
    study: str  # the Optuna study holding it: NAME, or a sub-study NAME.<suffix>
    number: int  # Optuna trial number within that study
    state: str  # COMPLETE, PRUNED, FAIL, RUNNING or WAITING
    optimizer: str | None  # registry name; None when the trial failed before choosing one
    lr: float | None
    batch_size: int | None
    seed: int | None
    role: str  # SEARCH_ROLE (chosen by the sampler), SEED_ROLE or FINAL_ROLE (a fixed configuration, one seed)
    value: float | None  # Optuna's value: the best validation accuracy
    epochs: int | None  # epochs trained
    fit_seconds: float | None  # wall seconds of fit, validation included
    test_acc: float | None = None  # held-out test set, evaluated once (final trials only)
    test_loss: float | None = None
    mlflow_run_id: str | None = None
    state_reason: str | None = None
    lr_range: tuple[float, float] | None = None  # the range Optuna searched this trial's lr in (low < high)
    # metric key -> {epoch (1-based): value}, from MLflow; val/acc falls back to Optuna's intermediate values
    curves: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    final: Mapping[str, float] = field(
        default_factory=dict
    )  # the child run's end-of-trial metrics (schema.FINAL_PREFIX)
    tags: Mapping[str, str] = field(default_factory=dict)  # the child run's tags (device_name, the git commit, ...)
    params: Mapping[str, str] = field(default_factory=dict)  # the child run's params (dataset, device, ...)
    started: datetime | None = None
    completed: datetime | None = None

    @property
    def best_val_acc(self) -> float | None:
        """Optuna's value, else the best epoch logged (a pruned or failed trial may carry no value)."""
        if self.value is not None:
            return self.value
        curve = self.curves.get(VAL_ACC, {})
        return max(curve.values()) if curve else None

    def at(self, key: str, epoch: int) -> float | None:
        return self.curves.get(key, {}).get(epoch)

    @property
    def last_epoch(self) -> int:
        curve = self.curves.get(VAL_ACC, {})
        return max(curve) if curve else 0


@dataclass(frozen=True)
class Winner:
    """The study's answer as its own records hold it: the best trial of the protocol's main (sub-)study, and where
    its exported model is. Read from the stores, never from a file that happens to sit in the report's folder."""

    study: str  # the main (sub-)study: the search, the seed runs, or the tuned protocol's NAME.final
    trial: TrialRecord | None  # its best completed trial (by the study's direction); None before one completes
    model_path: str | None = None  # the artifact folder of the trial's MLflow run holding an MLflow model, if any

    @property
    def model_uri(self) -> str | None:
        """``runs:/<run id>/<folder>``, what ``mlflow.pytorch.load_model`` takes; None when nothing was exported."""
        if self.trial is None or self.trial.mlflow_run_id is None or self.model_path is None:
            return None
        return f"runs:/{self.trial.mlflow_run_id}/{self.model_path}"


@dataclass(frozen=True)
class StudyData:
    name: str  # the study name given on the command line (NAME)
    protocol: str  # search, seed or tuned
    studies: tuple[str, ...]  # every Optuna study read: NAME first, then NAME.<suffix> in name order
    trials: tuple[TrialRecord, ...]
    storage_url: str  # as shown: secrets masked (study.secrets)
    tracking_uri: str
    experiment: str
    parent_run_id: str
    parent_params: Mapping[str, str] = field(default_factory=dict)  # config.<field> of the first invocation
    # The options that define its trials, as recorded when the study was created (study.config.definition: flat
    # strings, ``lr_ranges.adam`` for a mapping's entry); the parent run's config.* params for an older study.
    definition: Mapping[str, str] = field(default_factory=dict)
    winner: Winner | None = None  # None: not read (a record built by hand)

    @property
    def search_trials(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.role not in REPEAT_ROLES and t.optimizer]

    @property
    def repeat_trials(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.role in REPEAT_ROLES and t.optimizer]

    @property
    def main_trials(self) -> list[TrialRecord]:
        """What the per-optimizer table and curves describe: the seeds of a fixed configuration if the protocol
        has them (seed, tuned), else the searched trials."""
        return self.repeat_trials or self.search_trials


def ordered_optimizers(names: Iterable[str]) -> list[str]:
    """Registry order (the same in every table and legend), unknown names after it alphabetically."""
    found = set(names)
    known = [n for n in SEARCHABLE if n in found]
    return known + sorted(found - set(known))


def by_optimizer(trials: Sequence[TrialRecord]) -> dict[str, list[TrialRecord]]:
    groups: dict[str, list[TrialRecord]] = {}
    for name in ordered_optimizers([t.optimizer for t in trials if t.optimizer]):
        groups[name] = [t for t in trials if t.optimizer == name]
    return groups
