"""The report folder of each protocol, written from real stores (see conftest): sections, files, publishing."""

from __future__ import annotations

import csv
import struct
from pathlib import Path

import optuna
import optuna_dashboard
from mlflow import MlflowClient
from optuna.artifacts import get_all_artifact_meta
from optuna.trial import TrialState

from study.report.build import write_report
from study.report.lr_range import EDGE_WARNING
from study.report.trials_csv import COLUMNS

from .conftest import Built, Spec

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COMMON_SECTIONS = (
    "# Optimizer comparison: ",
    "## Summary per optimizer",
    "## Learning curves",
    "## Learning rate",
    "## Batch size",
    "## Time to reach 97 / 98 / 99 % validation accuracy",
    "## Optuna dashboard",
    "## How to read this",
    "## Files",
)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_every_section_is_written_for_each_protocol(built: Built) -> None:
    for name, report in built.reports.items():
        text = report.read_text()
        for heading in COMMON_SECTIONS:
            assert heading in text, f"{name}: missing {heading!r}"
        assert ("## Significance" in text) or ("## Final retraining on the test set" in text)
    assert "## Against the article" in built.reports["seedy"].read_text()
    assert "## Against the article" not in built.reports["srch"].read_text()


def test_header_names_protocol_device_sha_and_counts(built: Built) -> None:
    text = built.reports["srch"].read_text()
    assert "**Protocol**: search" in text
    assert "**Device**: Test CPU (2 cores)" in text
    assert "**Git commit**: 0123456789abcdef" in text
    assert "| srch | 7 | 1 | 2 | 0 | 0 | 10 |" in text  # complete, pruned, failed, running, waiting, all
    assert "Configured but without any trial: nadam." in text
    tuned = built.reports["tune"].read_text()
    assert "**Protocol**: tuned" in tuned
    assert "`tune.adam`, `tune.rmsprop`, `tune.sgd`, `tune.final`" in tuned


def test_figures_are_valid_pngs_linked_from_the_markdown(built: Built) -> None:
    expected = {
        "srch": {"learning_curves.png", "lr_vs_accuracy.png", "batch_size.png", "time_to_accuracy.png"},
        "seedy": {"learning_curves.png", "time_to_accuracy.png", "seed_spread.png"},
        "tune": {"learning_curves.png", "lr_vs_accuracy.png", "batch_size.png", "seed_spread.png"},
    }
    for name, report in built.reports.items():
        folder = report.parent / "figures"
        assert {p.name for p in folder.iterdir()} == expected[name]
        text = report.read_text()
        for png in folder.iterdir():
            width, height = _png_size(png.read_bytes())
            assert width > 300 and height > 200
            assert f"(figures/{png.name})" in text
    # no final seed reached 97%: the section says so instead of drawing empty bars
    assert "_No seed reached 97%: no figure._" in built.reports["tune"].read_text()


def test_csv_has_one_row_per_trial_of_every_sub_study(built: Built) -> None:
    storage = built.stores.storage
    for name, report in built.reports.items():
        with (report.parent / "trials.csv").open() as f:
            rows = list(csv.DictReader(f))
        assert tuple(rows[0]) == COLUMNS
        studies = [n for n in optuna.study.get_all_study_names(storage) if n == name or n.startswith(name + ".")]
        n_trials = sum(len(optuna.load_study(study_name=s, storage=storage).trials) for s in studies)
        assert len(rows) == n_trials
        assert {r["study"] for r in rows} == set(studies)
    with (built.reports["tune"].parent / "trials.csv").open() as f:
        finals = [r for r in csv.DictReader(f) if r["study"] == "tune.final"]
    assert len(finals) == 9 and all(r["role"] == "final" and r["test_acc"] for r in finals)


def test_seed_table_sets_the_article_beside_ours(built: Built) -> None:
    text = built.reports["seedy"].read_text()
    assert "| optimizer | seeds | ours @1 | article @1 | Δ pp @1 | ours @5 | article @5 |" in text
    adam = next(line for line in text.splitlines() if line.startswith("| adam | 2 |"))
    cells = [c.strip() for c in adam.strip("|").split("|")]
    ours, article, diff = float(cells[8]), float(cells[9]), float(cells[10])  # epoch 10
    assert article == 0.9908
    assert abs(diff - 100 * (ours - article)) < 0.006
    assert "| adagrad | 0 | – | 0.8411 | – |" in text  # the article's optimizer we did not run
    assert "The momentum row is SGD with momentum 0.9." in text


def test_final_sub_study_gets_a_significance_statement(built: Built) -> None:
    text = built.reports["tune"].read_text()
    assert "## Final retraining on the test set" in text
    assert "| adam | 3 | 0.9920 |" in text
    # the final retraining runs the same seeds for every optimizer: paired by seed, Wilcoxon too few to run
    assert "compared on the per-seed differences over the seeds both have: by the paired t-test" in text
    assert "- adam vs rmsprop: +0.07 pp [-0.11, 0.24], paired t p_holm = 0.25 (Wilcoxon not tested: needs ≥ 6 " in text
    assert "unequal pairs), 3 seeds — not significant." in text
    assert "- adam vs sgd: +2.19 pp [1.94, 2.44], paired t p_holm = 0.0014 (" in text
    assert "6 unequal pairs), 3 seeds — significant at 5%." in text
    assert "adam is significantly better than sgd; adam cannot be told apart from rmsprop" in text
    assert "Seeds needed to separate adam from rmsprop: 11 (paired t at 5% two-sided before Holm, 80% power" in text
    assert "Welch" not in text
    # the summary ranks by the test accuracy, and says it summarises seeds
    assert "| **adam** | median of 3 seeds |" in text and "test acc" in text
    search = built.reports["srch"].read_text()
    assert "no difference can be tested" in search
    seedy = built.reports["seedy"].read_text()  # the seed protocol also shares its seeds: paired, 2 of them
    assert "- adam vs adadelta: +15.09 pp [" in seedy and "paired t p_holm = " in seedy and "2 seeds — " in seedy


def test_best_lr_at_the_edge_is_flagged(built: Built) -> None:
    text = built.reports["srch"].read_text()
    assert f"- **adam**: {EDGE_WARNING} (best lr 0.0095 in 1e-05 – 0.01)." in text
    assert "| adam | 0.0095 | 64 | " in text
    assert "| sgd | 0.05 | 64 |" in text and f"- **sgd**: {EDGE_WARNING}" not in text
    assert EDGE_WARNING not in built.reports["tune"].read_text()


def test_report_folder_is_logged_on_the_parent_run(built: Built) -> None:
    client = MlflowClient(built.stores.tracking_uri)
    for name in built.reports:
        parent = built.stores.parents[name]
        top = {a.path for a in client.list_artifacts(parent, "report")}
        assert {"report/report.md", "report/trials.csv", "report/figures"} <= top
        figures = {a.path for a in client.list_artifacts(parent, "report/figures")}
        assert "report/figures/learning_curves.png" in figures


def test_dashboard_gets_a_note_and_the_key_figure(built: Built) -> None:
    storage = built.stores.storage
    study = optuna.load_study(study_name="tune.final", storage=storage)  # no plain "tune": the final sub-study
    note = optuna_dashboard.get_note(study)
    assert note.startswith("## Optimizer comparison (tuned protocol)")
    assert "- adam vs sgd: +2.19 pp [1.94, 2.44], paired t p_holm = 0.0014" in note and "](/artifacts/" in note
    assert "Seeds needed to separate adam from rmsprop: 11 (" in note and "p_holm: the two-sided p-value" in note
    uploaded = {m.filename.rsplit("-", 2)[0] for m in get_all_artifact_meta(study)}
    assert {"seed_spread", "learning_curves"} <= uploaded
    store = built.stores.root / "optuna-artifacts"
    assert any(store.iterdir())
    text = built.reports["tune"].read_text()
    assert f"--artifact-dir {store}" in text


def test_a_study_with_no_usable_trial_still_gets_a_report(built: Built, tmp_path: Path) -> None:
    """What the runner meets after an interrupted first trial: every section present, saying why it is empty."""
    built.stores.add_study("empty", "empty", "search", [Spec(None, 0.0, 0, 0.0, 0, state=TrialState.FAIL)])
    report = write_report("empty", built.stores.journal, built.stores.tracking_uri, "tests", tmp_path / "empty")
    text = report.read_text()
    for heading in COMMON_SECTIONS:
        assert heading in text
    assert "No trial chose an optimizer yet." in text
    assert "_No data for this figure (learning_curves.png)._" in text
    assert not any((report.parent / "figures").iterdir())
    with (report.parent / "trials.csv").open() as f:
        (row,) = csv.DictReader(f)
    assert row["state"] == "FAIL" and row["optimizer"] == ""
