"""A report belongs to its study: its own folder (keyed by the stores), a winner read from its own records, an
exported best.toml named only when it is that winner's, and a rewrite that replaces every part of the report."""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path

import optuna
import optuna_dashboard
import pytest
from mlflow import MlflowClient

from study.config import StudyConfig
from study.report.build import write_report
from study.report.cli import main
from study.report.dashboard import NOTE_HEADING
from study.report.folder import REPORTS, report_folder
from study.report.load import load_study_data
from study.report.winner import BEST_TOML, CHECKPOINT, check_export
from study.schema import FINAL_ROLE, RUN_ID_ATTR, SEARCH, TUNED, sub_study
from study.workers.export import MODEL_ARTIFACT, toml_text

from .conftest import EXPERIMENT, Built, Spec, Stores


def _config(stores: Stores, name: str) -> StudyConfig:
    return StudyConfig(study_name=name, storage=stores.journal, tracking_uri=stores.tracking_uri, experiment=EXPERIMENT)


def _export(stores: Stores, config: StudyConfig, study: str, folder: Path, *, model: bool) -> optuna.trial.FrozenTrial:
    """What the runner's export leaves in ``folder`` for the best trial of ``study`` (the real best.toml text)."""
    best = optuna.load_study(study_name=study, storage=stores.storage).best_trial
    run_id = best.user_attrs[RUN_ID_ATTR]
    weights = [f"{CHECKPOINT.name} (Lightning checkpoint, beside this file in best/)"]
    if model:
        stores.log_model(run_id)
        weights.append(f"runs:/{run_id}/{MODEL_ARTIFACT} (MLflow model: mlflow.pytorch.load_model)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BEST_TOML).write_text(toml_text(config, best, f"trial {best.number} of {study}", weights))
    (folder / CHECKPOINT).parent.mkdir(exist_ok=True)
    (folder / CHECKPOINT).write_bytes(b"weights")
    return best


def _section(text: str, title: str) -> str:
    start = text.index(f"\n## {title}")
    return text[start : text.find("\n## ", start + 1)]


def test_report_folder_is_one_per_study_in_its_stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = StudyConfig(study_name="same", storage=str(tmp_path / "a.log"), tracking_uri=f"sqlite:///{tmp_path}/m.db")
    folder = report_folder(a)
    assert folder.parent == REPORTS and re.fullmatch(r"same-[0-9a-f]{8}", folder.name)
    assert report_folder(dataclasses.replace(a, storage=str(tmp_path / "b.log"))) != folder  # another journal
    assert report_folder(dataclasses.replace(a, tracking_uri=f"sqlite:///{tmp_path}/n.db")) != folder
    assert report_folder(dataclasses.replace(a, experiment="other")) != folder
    assert report_folder(dataclasses.replace(a, study_name="else")).name.startswith("else-")
    monkeypatch.chdir(tmp_path)  # the same files spelled relative to the working directory: the same study
    assert report_folder(dataclasses.replace(a, storage="a.log", tracking_uri="sqlite:///m.db")) == folder
    server = StudyConfig(
        study_name="db", storage="postgresql://u:secret@host/optuna", tracking_uri="http://u:pw@h:5000"
    )
    changed = dataclasses.replace(server, storage="postgresql://u:new@host/optuna", tracking_uri="http://u:x@h:5000")
    assert report_folder(server) == report_folder(changed)  # masked: a password neither shows nor moves the folder


def test_the_command_writes_into_the_study_folder_by_default(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    stores = built.stores
    args = ["--study-name", "srch", "--storage", stores.journal, "--tracking-uri", stores.tracking_uri]
    assert main([*args, "--experiment", EXPERIMENT]) == 0
    folder = report_folder(_config(stores, "srch"))
    assert f"report: {folder / 'report.md'}" in capsys.readouterr().out
    assert (tmp_path / folder / "report.md").is_file()


def test_the_winner_comes_from_the_study_not_from_a_best_toml_left_in_the_folder(tmp_path: Path) -> None:
    """The issue's case: a folder shared by name held another study's best.toml (0.9151); the report named it."""
    (tmp_path / "mine").mkdir()
    (tmp_path / "other").mkdir()
    mine, other = Stores(tmp_path / "mine"), Stores(tmp_path / "other")
    mine.add_study("dup", "dup", SEARCH, [Spec("adam", 1e-3, 64, 0.95, 2), Spec("nadam", 2e-3, 64, 0.984, 2)])
    other.add_study("dup", "dup", SEARCH, [Spec("sgd", 0.05, 64, 0.90, 2), Spec("sgd", 0.1, 64, 0.916, 2)])
    shared = tmp_path / "reports" / "dup"
    stale = _export(other, _config(other, "dup"), "dup", shared, model=False)
    best = optuna.load_study(study_name="dup", storage=mine.storage).best_trial
    assert best.number == stale.number and best.value != stale.value  # same trial number: the value tells them apart

    text = write_report("dup", mine.journal, mine.tracking_uri, EXPERIMENT, shared).read_text()
    winner = _section(text, "The winner")
    assert "The best completed trial of `dup` (the search), from the study's records:" in winner
    assert f"- **Trial {best.number}** of `dup`: nadam, lr 0.002, batch 64, seed {best.user_attrs['seed']}; " in winner
    assert f"best validation accuracy {best.value:.4f}." in winner
    assert f"{stale.value:.4f}" not in text
    assert (
        f"- **{BEST_TOML}**: not exported for this trial: the {BEST_TOML} in this folder is not this winner's" in winner
    )
    assert "it holds no MLflow model: the weights were not exported there." in winner
    # the other study's file is not logged as this study's either
    logged = {a.path for a in mine.client.list_artifacts(mine.parents["dup"], "report")}
    assert "report/best.toml" not in logged and "report/best" not in logged

    # now the study's own export: best.toml names it, the checkpoint sits beside it, the model is in its run
    _export(mine, _config(mine, "dup"), "dup", shared, model=True)
    text = write_report("dup", mine.journal, mine.tracking_uri, EXPERIMENT, shared).read_text()
    winner = _section(text, "The winner")
    run_id = best.user_attrs[RUN_ID_ATTR]
    assert f"exported model `runs:/{run_id}/{MODEL_ARTIFACT}` (load it with `mlflow.pytorch.load_model`)" in winner
    assert f"- **{BEST_TOML}**: in this folder, weights `{CHECKPOINT}`; retrain the trial bit for bit" in winner
    logged = {a.path for a in mine.client.list_artifacts(mine.parents["dup"], "report")}
    assert {"report/best.toml", "report/best"} <= logged


def test_a_best_toml_of_another_trial_or_run_is_not_named(tmp_path: Path) -> None:
    stores = Stores(tmp_path)
    stores.add_study("solo", "solo", SEARCH, [Spec("adam", 1e-3, 64, 0.95, 2), Spec("sgd", 0.05, 64, 0.97, 2)])
    folder = tmp_path / "out"
    best = _export(stores, _config(stores, "solo"), "solo", folder, model=True)
    data = load_study_data("solo", stores.journal, stores.tracking_uri, EXPERIMENT)
    assert check_export(folder, data).config == folder / BEST_TOML
    text = (folder / BEST_TOML).read_text()
    earlier = text.replace(f"trial {best.number} of solo,", "trial 0 of solo,", 1)  # an earlier best of the study
    (folder / BEST_TOML).write_text(earlier)
    assert check_export(folder, data).config is None
    elsewhere = text.replace(best.user_attrs[RUN_ID_ATTR], "0" * 32)  # the right line, another run's weights
    (folder / BEST_TOML).write_text(elsewhere)
    found = check_export(folder, data)
    assert found.config is None and found.why_not is not None and "another MLflow run" in found.why_not
    (folder / BEST_TOML).unlink()
    assert "no best.toml in this folder" in str(check_export(folder, data).why_not)


def test_the_tuned_winner_is_the_best_run_of_the_final_study(built: Built) -> None:
    final = optuna.load_study(study_name="tune.final", storage=built.stores.storage)
    best = final.best_trial
    winner = _section(built.reports["tune"].read_text(), "The winner")
    assert "The best completed trial of `tune.final` (the final retraining)" in winner
    assert f"- **Trial {best.number}** of `tune.final`: {best.params['optimizer']}," in winner
    assert f"test accuracy {best.user_attrs['test_acc']:.4f}." in winner


def test_rewriting_after_more_trials_replaces_every_part(tmp_path: Path) -> None:
    stores = Stores(tmp_path)
    stores.add_study("grow", "grow", SEARCH, [Spec("adam", 1e-3, 64, 0.95, 3), Spec("sgd", 0.05, 64, 0.93, 3)])
    folder = tmp_path / "out"
    write_report("grow", stores.journal, stores.tracking_uri, EXPERIMENT, folder)
    parent = stores.parents["grow"]
    stale = tmp_path / "stale.png"
    stale.write_bytes(b"an earlier report's figure")
    stores.client.log_artifact(parent, str(stale), "report/figures")

    stores.add_trials("grow", "grow", [Spec("rmsprop", 1e-3, 32, 0.985, 3), Spec("adam", 3e-3, 32, 0.96, 3)])
    text = write_report("grow", stores.journal, stores.tracking_uri, EXPERIMENT, folder).read_text()
    study = optuna.load_study(study_name="grow", storage=stores.storage)
    assert study.best_trial.number == 2
    assert "- **Trial 2** of `grow`: rmsprop," in text and "| srch" not in text
    with (folder / "trials.csv").open() as f:
        assert [int(r["number"]) for r in csv.DictReader(f)] == [0, 1, 2, 3]
    note = optuna_dashboard.get_note(study)
    assert "| **rmsprop** | trial 2 |" in note and note.startswith(NOTE_HEADING)
    client = MlflowClient(stores.tracking_uri)
    figures = {a.path.rsplit("/", 1)[1] for a in client.list_artifacts(parent, "report/figures")}
    assert figures == {p.name for p in (folder / "figures").iterdir()}  # the earlier report's stale.png is gone
    (tmp_path / "logged").mkdir()
    logged = client.download_artifacts(parent, "report/report.md", str(tmp_path / "logged"))
    assert Path(logged).read_text() == text


def test_a_note_left_on_another_study_of_the_report_is_replaced(tmp_path: Path) -> None:
    """A tuned study's first report, before its final study existed, left its note on NAME.adam."""
    stores = Stores(tmp_path)
    stores.add_study(sub_study("mv", "adam"), "mv", TUNED, [Spec("adam", 1e-3, 64, 0.95, 2)])
    write_report("mv", stores.journal, stores.tracking_uri, EXPERIMENT, tmp_path / "out")
    adam = optuna.load_study(study_name=sub_study("mv", "adam"), storage=stores.storage)
    assert optuna_dashboard.get_note(adam).startswith(NOTE_HEADING)
    finals = [Spec("adam", 1e-3, 64, 0.96, 2, seed=s, role=FINAL_ROLE, test_acc=0.97 + s / 1000) for s in (0, 1)]
    stores.add_study(sub_study("mv", "final"), "mv", TUNED, finals)
    write_report("mv", stores.journal, stores.tracking_uri, EXPERIMENT, tmp_path / "out")
    final = optuna.load_study(study_name=sub_study("mv", "final"), storage=stores.storage)
    assert optuna_dashboard.get_note(final).startswith(NOTE_HEADING)
    assert optuna_dashboard.get_note(adam) == "The comparison report's note is on study `mv.final`."
