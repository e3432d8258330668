"""The comparison report of a study: ``python -m study.report --study-name NAME`` or ``write_report(...)``.

It reads the study's Optuna studies (NAME and its sub-studies NAME.<suffix>) and MLflow runs, and writes a
self-contained folder: ``report.md``, PNG figures under ``figures/`` and ``trials.csv``. The folder is logged
under ``report/`` of the study's MLflow parent run, and a summary note with the key figure goes to the
Optuna dashboard.
"""

from __future__ import annotations

from study.report.build import write_report
from study.report.cli import main

__all__ = ["main", "write_report"]
