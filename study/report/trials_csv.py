"""``trials.csv``: one row per trial of every Optuna study of the report, for a spreadsheet or pandas."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from study.report.records import TrialRecord
from study.schema import LR

__all__ = ["COLUMNS", "write_trials_csv"]

COLUMNS = (
    "study",
    "number",
    "state",
    "optimizer",
    LR,
    "batch_size",
    "seed",
    "role",
    "value",
    "epochs",
    "fit_seconds",
    "test_acc",
    "test_loss",
    "mlflow_run_id",
    "state_reason",
)


def write_trials_csv(trials: Sequence[TrialRecord], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for t in trials:
            # an absent value is an empty cell, which pandas reads back as NaN
            writer.writerow(["" if (v := getattr(t, column)) is None else v for column in COLUMNS])
    return path
