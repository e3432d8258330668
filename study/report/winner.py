"""The report's "The winner" section: the study's best trial and where its exported files are, from its own records.

The best trial and its MLflow model come from the stores (``load``: the best completed trial of the protocol's main
study, and the folder of that trial's run that holds an MLflow model). ``best.toml`` and ``best/model.ckpt`` are
files in the report's folder, written by the runner's export (``study.workers.export``) for the best trial when it
closed the study. A file there is named only when it says it is this trial's: its first comment line names the
study, the trial and its value, and a weights line naming an MLflow model names this trial's run. Any other
``best.toml`` (another study's left in a folder it shared by name, or an earlier best of this study) is reported as
not this winner's, never copied into the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from study.report.records import StudyData, Winner
from study.report.tables import OptimizerRow
from study.schema import SEARCH, SEED_PROTOCOL, TUNED, VAL_ACC

__all__ = ["BEST_TOML", "CHECKPOINT", "Export", "check_export", "winner_section"]

BEST_TOML = "best.toml"  # the names study.workers.export writes in the report's folder
CHECKPOINT = Path("best") / "model.ckpt"
_RUN_URI = re.compile(r"runs:/([0-9A-Za-z]+)/")
_MAIN_STUDY = {SEARCH: "the search", SEED_PROTOCOL: "the seed runs", TUNED: "the final retraining"}


@dataclass(frozen=True)
class Export:
    """What of the winner's export the report's folder holds."""

    config: Path | None = None  # best.toml, when it is this winner's
    checkpoint: Path | None = None  # best/model.ckpt beside it, when best.toml is this winner's
    why_not: str | None = None  # why no best.toml is named


def _first_comment(text: str) -> str:
    return next((line for line in text.splitlines() if line.startswith("#")), "")


def _mismatch(text: str, study_name: str, winner: Winner) -> str | None:
    """Why ``text`` (a best.toml) is not the export of ``winner``'s trial; None when it is."""
    trial = winner.trial
    assert trial is not None
    first = _first_comment(text)
    expected = [f"study {study_name!r}:", f"trial {trial.number} of {winner.study},"]
    if trial.value is not None:
        expected.append(f"{trial.value:.4f}")
    if not first or not all(part in first for part in expected):
        return f"its first line does not name trial {trial.number} of `{winner.study}` of study `{study_name}`"
    runs = set(_RUN_URI.findall(text))
    if runs and runs != {trial.mlflow_run_id}:
        return f"its weights are in another MLflow run ({', '.join(sorted(runs))})"
    return None


def check_export(folder: Path | None, data: StudyData) -> Export:
    """Which exported files in ``folder`` are the study's winner's: its best.toml (checked) and its checkpoint."""
    winner = data.winner
    if winner is None or winner.trial is None or folder is None:
        return Export()
    path = folder / BEST_TOML
    if not path.is_file():
        return Export(why_not=f"no {BEST_TOML} in this folder (the runner exports it when it completes the study)")
    why = _mismatch(path.read_text(encoding="utf-8", errors="replace"), data.name, winner)
    if why is not None:
        return Export(why_not=f"the {BEST_TOML} in this folder is not this winner's: {why}")
    checkpoint = folder / CHECKPOINT
    return Export(path, checkpoint if checkpoint.is_file() else None)


def _trial_line(winner: Winner, metric: str | None) -> str:
    t = winner.trial
    assert t is not None
    what = "validation accuracy" if metric in (None, VAL_ACC) else str(metric)
    config = [t.optimizer or "no optimizer", f"lr {t.lr:.3g}" if t.lr is not None else "lr –"]
    config += [f"batch {t.batch_size}" if t.batch_size else "batch –", f"seed {t.seed}" if t.seed is not None else ""]
    value = f"best {what} {t.value:.4f}" if t.value is not None else f"no {what}"
    test = f", test accuracy {t.test_acc:.4f}" if t.test_acc is not None else ""
    return f"- **Trial {t.number}** of `{winner.study}`: {', '.join(c for c in config if c)}; {value}{test}."


def _run_line(winner: Winner) -> str:
    run = winner.trial.mlflow_run_id if winner.trial else None
    if run is None:
        return "- **MLflow run**: none recorded for this trial, so no exported model."
    if winner.model_uri is None:
        return f"- **MLflow run**: `{run}`; it holds no MLflow model: the weights were not exported there."
    return f"- **MLflow run**: `{run}`; exported model `{winner.model_uri}` (load it with `mlflow.pytorch.load_model`)."


def _export_line(export: Export) -> str:
    if export.config is None:
        return f"- **{BEST_TOML}**: not exported for this trial: {export.why_not}."
    weights = f", weights `{CHECKPOINT}`" if export.checkpoint else f" (no `{CHECKPOINT}` beside it)"
    return (
        f"- **{BEST_TOML}**: in this folder{weights}; retrain the trial bit for bit with "
        f"`python -m study.run --config {BEST_TOML}` (add your --storage / --tracking-uri)."
    )


def winner_section(data: StudyData, rows: list[OptimizerRow], export: Export, metric: str | None) -> str:
    """The section; empty for records built without a winner (by hand, in tests)."""
    winner = data.winner
    if winner is None:
        return ""
    main = _MAIN_STUDY.get(data.protocol, "the main study")
    if winner.trial is None:
        return f"## The winner\n\nNo trial of `{winner.study}` ({main}) has completed: no winner yet."
    lines = [_trial_line(winner, metric), _run_line(winner), _export_line(export)]
    top = rows[0].optimizer if rows else None
    note = ""
    if data.repeat_trials and top is not None and top != winner.trial.optimizer:
        note = (
            f"\n\nThe summary ranks optimizers by the median over their seeds ({top} first); the winner is the single "
            "best run, the one the runner exports."
        )
    head = f"The best completed trial of `{winner.study}` ({main}), from the study's records:"
    return "## The winner\n\n" + head + "\n\n" + "\n".join(lines) + note
