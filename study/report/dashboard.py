"""The report inside the Optuna dashboard: a summary note on the main study, the key figures as its artifacts.

Figures go to a ``FileSystemArtifactStore`` beside the journal or SQLite file (``optuna-artifacts/``), which
``optuna-dashboard --artifact-dir`` serves; the note embeds them by the dashboard's own artifact URL. Each
upload is a new artifact (Optuna has no public way to replace one), so uploads carry the report's time in
their file name and the newest is the last listed.

The note is replaced whole by each report. The study that carries it can change as the study grows (a tuned
study's first report, before NAME.final had trials, may have gone to NAME.<optimizer>): a note an earlier report
left on another of the study's Optuna studies is replaced by a line pointing to the current one.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import optuna
from optuna.artifacts import FileSystemArtifactStore, upload_artifact
from optuna.storages import BaseStorage

from study.records.locks import local_file
from study.report.analysis import ReportContent
from study.report.figures import CURVES, SEEDS
from study.report.lr_range import EDGE_WARNING
from study.report.markdown import DashboardInfo, importance_section, summary_table
from study.report.power import seeds_sentence
from study.report.stats import LEGEND, NO_TEST, sentence, summary_sentence
from study.secrets import redact

__all__ = ["ARTIFACT_DIR_NAME", "NOTE_HEADING", "artifact_dir_for", "main_study", "note", "publish"]

ARTIFACT_DIR_NAME = "optuna-artifacts"
NOTE_HEADING = "## Optimizer comparison"  # how the report's note begins: a note that does was written by a report


def artifact_dir_for(storage_url: str) -> Path | None:
    """``optuna-artifacts/`` beside a journal or SQLite file; None for a database server (no shared folder)."""
    path = local_file(storage_url)
    return path.parent / ARTIFACT_DIR_NAME if path is not None else None


def main_study(names: tuple[str, ...], name: str) -> str:
    """The study a reader opens first: NAME itself, else the tuned protocol's final retraining."""
    if name in names:
        return name
    return f"{name}.final" if f"{name}.final" in names else names[0]


def note(content: ReportContent, images: Mapping[str, str], report_path: Path) -> str:
    data = content.data
    lines = [f"{NOTE_HEADING} ({data.protocol} protocol)", "", summary_table(content), ""]
    lines += [f"- **{f}**: {EDGE_WARNING}." for f in content.flagged]
    sig = content.significance
    if sig:
        lines += [f"- {sentence(c)}" for c in sig.comparisons]
        lines.append(summary_sentence(sig.comparisons))
        if sig.seeds_needed is not None:
            lines += ["", seeds_sentence(sig.seeds_needed)]
        if any(c.test != NO_TEST for c in sig.comparisons):
            lines += ["", f"_{LEGEND}_"]
    if content.importance is not None:  # what the dashboard's own importance panel cannot show
        lines += ["", importance_section(content.importance)]
    lines += ["", *(f"![{alt}]({url})" for alt, url in images.items()), ""]
    lines.append(f"Full report: `{report_path}`; also under `report/` of MLflow parent run `{data.parent_run_id}`.")
    return "\n".join(lines)


def _upload(study: optuna.Study, storage: BaseStorage, store_dir: Path, png: Path, now: datetime) -> str:
    """Uploads ``png`` under a time-stamped name; returns the dashboard's URL path of the artifact."""
    store_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stamped = Path(tmp) / f"{png.stem}-{now:%Y%m%d-%H%M%S}{png.suffix}"
        shutil.copyfile(png, stamped)
        artifact_id = upload_artifact(
            artifact_store=FileSystemArtifactStore(str(store_dir)), file_path=str(stamped), study_or_trial=study
        )
    return f"/artifacts/{storage.get_study_id_from_name(study.study_name)}/{artifact_id}"


def _retire_old_notes(storage: BaseStorage, studies: tuple[str, ...], current: str) -> None:
    """Points an earlier report's note on another study of the report to the study that carries it now."""
    from optuna_dashboard import get_note, save_note

    for name in studies:
        if name == current:
            continue
        study = optuna.load_study(study_name=name, storage=storage)
        if get_note(study).startswith(NOTE_HEADING):
            save_note(study, f"The comparison report's note is on study `{current}`.")


def publish(
    content: ReportContent, storage: BaseStorage, figures: Mapping[str, Path], report_path: Path, now: datetime
) -> DashboardInfo:
    """Uploads the key figures and saves the note; a failure is reported in the Markdown, never raised."""
    data = content.data
    name = main_study(data.studies, data.name)
    store_dir = artifact_dir_for(data.storage_url)
    try:
        from optuna_dashboard import save_note

        study = optuna.load_study(study_name=name, storage=storage)
        images: dict[str, str] = {}
        if store_dir is not None:
            for key in (SEEDS, CURVES):
                if key in figures:
                    images[key] = _upload(study, storage, store_dir, figures[key], now)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna-dashboard's experimental-API warnings
            save_note(study, redact(note(content, images, report_path)))
            _retire_old_notes(storage, data.studies, name)
    except Exception as err:  # noqa: BLE001 - the report stands without the dashboard
        return DashboardInfo(name, data.storage_url, store_dir, error=redact(f"{type(err).__name__}: {err}"))
    return DashboardInfo(name, data.storage_url, store_dir, tuple(images))
