"""``write_report``: read both stores, write report.md, figures/ and trials.csv, publish them.

The order matters for partial failures: the folder is complete on disk before anything is sent to the
dashboard or MLflow, so a store that refuses a write still leaves a usable report.

Writing a report again (after more trials) replaces every part of it: report.md, trials.csv and the figures
(a figure the study no longer has data for is removed), the dashboard note (and a note an earlier report left on
another of the study's Optuna studies), and the parent run's ``report/`` artifacts, deleted before the new ones
are logged where the artifact store allows it. Of the export's files only those ``check_export`` finds to be this
winner's are logged with them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from study.records.stores import open_storage
from study.records.tracking import client_for
from study.report.analysis import analyse
from study.report.dashboard import publish
from study.report.figures import write_figures
from study.report.load import load_study_data
from study.report.markdown import render
from study.report.trials_csv import write_trials_csv
from study.report.winner import Export, check_export
from study.secrets import redact

__all__ = ["ARTIFACT_PATH", "FIGURES", "REPORT_MD", "TRIALS_CSV", "write_report"]

ARTIFACT_PATH = "report"  # the folder's place among the parent run's artifacts
REPORT_MD = "report.md"
TRIALS_CSV = "trials.csv"
FIGURES = "figures"


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
    figures = write_figures(content, out / FIGURES)
    write_trials_csv(data.trials, out / TRIALS_CSV)
    report = out / REPORT_MD
    export = check_export(out, data)
    dashboard = publish(content, open_storage(storage_url), figures, report.resolve(), now)
    report.write_text(redact(render(content, figures, dashboard, now, export)), encoding="utf-8")
    _log_to_parent_run(tracking_uri, data.parent_run_id, out, export)
    return report


def _log_to_parent_run(tracking_uri: str, run_id: str, out: Path, export: Export) -> None:
    """Replaces the parent run's ``report/`` with this report (and the winner's verified export files)."""
    client = client_for(tracking_uri)
    try:  # the earlier report's files go first, so a figure this report dropped does not linger
        artifact_uri = client.get_run(run_id).info.artifact_uri
        get_artifact_repository(artifact_uri, tracking_uri).delete_artifacts(ARTIFACT_PATH)  # type: ignore[no-untyped-call]
    except Exception:  # noqa: BLE001 - a store that cannot delete keeps old files; those of the same name are replaced
        pass
    for name in (REPORT_MD, TRIALS_CSV):
        client.log_artifact(run_id, str(out / name), ARTIFACT_PATH)
    client.log_artifacts(run_id, str(out / FIGURES), f"{ARTIFACT_PATH}/{FIGURES}")
    if export.config is not None:
        client.log_artifact(run_id, str(export.config), ARTIFACT_PATH)
    if export.checkpoint is not None:
        client.log_artifact(run_id, str(export.checkpoint), f"{ARTIFACT_PATH}/{export.checkpoint.parent.name}")
