"""``write_report``: read both stores, write report.md, figures/ and trials.csv, publish them.

The order matters for partial failures: the folder is complete on disk before anything is sent to the
dashboard or MLflow, so a store that refuses a write still leaves a usable report.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from study.records.stores import open_storage
from study.records.tracking import client_for
from study.report.analysis import analyse
from study.report.dashboard import publish
from study.report.figures import write_figures
from study.report.load import load_study_data
from study.report.markdown import render
from study.report.trials_csv import write_trials_csv
from study.secrets import redact

__all__ = ["ARTIFACT_PATH", "write_report"]

ARTIFACT_PATH = "report"  # the folder's place among the parent run's artifacts


def write_report(study_name: str, storage_url: str, tracking_uri: str, experiment: str, out_dir: str | Path) -> Path:
    """Writes the comparison report of study ``study_name`` into ``out_dir``; returns the path of report.md.

    Raises ``study.config.ConfigError`` (naming the option) for an unknown study, a missing or unreachable
    store, an unknown experiment, or a study without its MLflow parent run.
    """
    data = load_study_data(study_name, storage_url, tracking_uri, experiment)
    content = analyse(data)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    figures = write_figures(content, out / "figures")
    write_trials_csv(data.trials, out / "trials.csv")
    report = out / "report.md"
    dashboard = publish(content, open_storage(storage_url), figures, report.resolve(), now)
    report.write_text(redact(render(content, figures, dashboard, now, out)), encoding="utf-8")
    client_for(tracking_uri).log_artifacts(data.parent_run_id, str(out), ARTIFACT_PATH)
    return report
