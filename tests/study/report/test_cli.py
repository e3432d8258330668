"""``python -m study.report``: a report on success, one line naming the option and exit code 2 on bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
import pytest

from study.report.cli import main

if TYPE_CHECKING:
    from study.report.conftest import Built

PROJECT_ROOT = Path(__file__).resolve().parents[3]


def _args(built: Built, **overrides: str) -> list[str]:
    options = {
        "--study-name": "srch",
        "--storage": built.stores.journal,
        "--tracking-uri": built.stores.tracking_uri,
        "--experiment": "tests",
    }
    options.update(overrides)
    return [item for pair in options.items() for item in pair]


def _one_error_line(capsys: pytest.CaptureFixture[str], option: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("python -m study.report: error: ") and option in err
    return err


def test_writes_the_report_where_asked(built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main([*_args(built), "--out", str(out)]) == 0
    assert f"report: {out / 'report.md'}" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} == {"report.md", "figures", "trials.csv"}


@pytest.mark.parametrize(
    ("overrides", "option"),
    [
        ({"--study-name": "no-such-study"}, "--study-name"),
        ({"--storage": "/nonexistent/journal.log"}, "--storage"),
        ({"--storage": "sqlite:////nonexistent/optuna.db"}, "--storage"),
        ({"--storage": "redis://localhost/0"}, "--storage"),
        ({"--tracking-uri": "file:///tmp/mlruns"}, "--tracking-uri"),
        ({"--tracking-uri": "sqlite:////nonexistent/mlflow.db"}, "--tracking-uri"),
        ({"--experiment": "no-such-experiment"}, "--experiment"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    built: Built, capsys: pytest.CaptureFixture[str], overrides: dict[str, str], option: str
) -> None:
    assert main(_args(built, **overrides)) == 2
    _one_error_line(capsys, option)


def test_a_study_without_its_mlflow_parent_run_is_bad_input(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    optuna.create_study(study_name="orphan", storage=built.stores.storage)
    assert main(_args(built, **{"--study-name": "orphan"})) == 2
    assert "no MLflow parent run" in _one_error_line(capsys, "--study-name")


def test_missing_study_name_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2
    _one_error_line(capsys, "--study-name")


def test_module_entry_point_reports_bad_input(tmp_path: Path) -> None:
    """The real command in a fresh process: nothing else (no MLflow log line) reaches stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "study.report", "--study-name", "x", "--storage", str(tmp_path / "none.log")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"python -m study.report: error: --storage: no such file: {tmp_path / 'none.log'} "
        "(a journal file path or sqlite:///FILE of a study)"
    ]
