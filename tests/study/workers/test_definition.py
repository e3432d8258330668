"""A study is one experiment: a rerun that would define other trials is refused before a byte is written, one line
naming each differing option with the recorded and the given value; a rerun that changes only how the study runs
(budget, workers, threads, heartbeat, timeout, device, compiling, fusing, data folder, report, verbosity)
proceeds."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from study.config.definition import DEFINING, RERUNNABLE
from study.config.fields import flag_of
from study.run import main
from testsupport import PROJECT_ROOT, stores_disagree

EXAMPLES = PROJECT_ROOT / "examples"
BASE = {
    "--study-name": "tiny",
    "--train-size": "256",
    "--max-epochs": "1",
    "--n-trials": "2",
    "--batch-sizes": "64",
    "--optimizers": "adam,sgd",
    "--timeout": "none",
    "--experiment": "tests",
    "--seed": "0",
}

# option -> what a rerun gives instead of the study's value
DEFINING_CHANGES: dict[str, list[str]] = {
    "--protocol": ["--protocol", "tuned"],
    "--max-epochs": ["--max-epochs", "2"],
    "--dataset": ["--dataset", "fashion-mnist"],
    "--train-size": ["--train-size", "192"],
    "--validate-on-test": ["--validate-on-test"],
    "--normalize": ["--normalize", "standard"],
    "--optimizers": ["--optimizers", "adam"],
    "--batch-sizes": ["--batch-sizes", "32"],
    "--lr-range": ["--lr-range", "adam=1e-4:1e-2"],
    "--defaults": ["--defaults", "keras"],
    "--search-extras": ["--search-extras"],
    "--sampler": ["--sampler", "random"],
    "--pruner": ["--pruner", "none"],
    "--seed": ["--seed", "1"],
    "--split-seed": ["--split-seed", "1"],
    "--seeds": ["--seeds", "2"],
    "--precision": ["--precision", "64-true"],
    "--schedule": ["--schedule", "cosine"],
    "--warmup": ["--warmup", "0.1"],
    "--search-schedule": ["--search-schedule"],
    "--metric": ["--metric", "val/loss"],
    "--direction": ["--direction", "minimize"],
    "--model": ["--model", f"{EXAMPLES}/resnet.py:build"],
    "--model-arg": ["--model", f"{EXAMPLES}/resnet.py:build", "--model-arg", "width=8"],
    "--data": ["--model", f"{EXAMPLES}/mlp.py:build", "--data", f"{EXAMPLES}/mlp.py:data"],
    "--data-arg": [
        *("--model", f"{EXAMPLES}/mlp.py:build", "--data", f"{EXAMPLES}/mlp.py:data"),
        *("--data-arg", "train_size=200"),
    ],
}
RERUNNABLE_CHANGES: dict[str, list[str]] = {
    "--n-trials": ["--n-trials", "3"],
    "--timeout": ["--timeout", "600"],
    "--data-dir": ["--data-dir", "{data-copy}"],
    "--device": ["--device", "cpu"],
    "--compile": ["--compile", "default"],
    "--fuse": ["--fuse", "2"],
    "--workers": ["--workers", "2"],
    "--threads-per-worker": ["--threads-per-worker", "1"],
    "--heartbeat-seconds": ["--heartbeat-seconds", "5"],
    "--progress-bar": ["--progress-bar"],
    "--no-report": [],  # the report is written this time (the base study skipped it)
    "-q": ["-q"],
    "-v": ["-v"],
}


def _args(folder: Path, data_dir: Path, *extra: str, report: bool = False) -> list[str]:
    stores = ["--storage", str(folder / "journal.log"), "--tracking-uri", f"sqlite:///{folder}/mlflow.db"]
    base = [item for pair in BASE.items() for item in pair]
    return [*base, *stores, "--data-dir", str(data_dir), *([] if report else ["--no-report"]), *extra]


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*.*")}


@pytest.fixture(scope="module")
def created(tmp_path_factory: pytest.TempPathFactory, mnist_data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("created")
    assert main(_args(folder, mnist_data_dir)) == 0
    return folder


@pytest.fixture
def study(created: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "stores"
    shutil.copytree(created, folder)
    monkeypatch.chdir(tmp_path)  # reports/ lands here
    return folder


def test_the_tables_cover_every_option() -> None:
    assert {flag_of(n) for n in DEFINING} - {"--fixed"} == set(DEFINING_CHANGES)
    assert {flag_of(n) for n in RERUNNABLE} == set(RERUNNABLE_CHANGES) - {"-q", "-v"}


@pytest.mark.parametrize("option", DEFINING_CHANGES)
def test_a_rerun_that_defines_other_trials_is_refused_and_writes_nothing(
    option: str, study: Path, mnist_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(study)
    capsys.readouterr()
    assert main(_args(study, mnist_data_dir, *DEFINING_CHANGES[option])) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    assert f"{option} got" in lines[0] or f"{option}[" in lines[0], lines[0]
    assert "recorded" in lines[0] and "accepted" in lines[0], lines[0]
    assert "a new --study-name" in lines[0]
    assert _digest(study) == before


def test_a_seed_protocol_study_keeps_its_fixed_values(
    tmp_path: Path, mnist_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = ["--protocol", "seed", "--fixed", "lr_adam=0.001"]
    assert main(_args(tmp_path, mnist_data_dir, *seed)) == 0
    before = _digest(tmp_path)
    capsys.readouterr()
    assert main(_args(tmp_path, mnist_data_dir, "--protocol", "seed", "--fixed", "lr_adam=0.002")) == 2
    line = capsys.readouterr().err.strip()
    assert "--fixed[lr_adam] got '0.002', recorded '0.001'" in line, line
    assert _digest(tmp_path) == before


@pytest.mark.parametrize("option", RERUNNABLE_CHANGES)
def test_a_rerun_that_changes_how_the_study_runs_proceeds(
    option: str, study: Path, mnist_data_dir: Path, tmp_path: Path
) -> None:
    extra = list(RERUNNABLE_CHANGES[option])
    if "{data-copy}" in extra:
        copy = tmp_path / "data-copy"
        shutil.copytree(mnist_data_dir / "MNIST", copy / "MNIST")
        extra = [str(copy) if e == "{data-copy}" else e for e in extra]
    assert main(_args(study, mnist_data_dir, *extra, report=option == "--no-report")) == 0
    assert stores_disagree(str(study / "journal.log"), f"sqlite:///{study}/mlflow.db", "tests", "tiny") == []
