"""The examples, each one command away, run as a user would run them (with a tiny budget)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testsupport import PROJECT_ROOT

TINY = ["--n-trials", "2", "--max-epochs", "1", "--batch-sizes", "64", "--optimizers", "adam,momentum"]
EXAMPLES = {
    "a small ResNet on Fashion-MNIST": [
        *("--model", "examples/resnet.py:build", "--model-arg", "width=4"),
        *("--data", "examples/fashion.py:data", "--data-arg", "train_size=256"),
    ],
    "an MLP on MNIST as flat vectors": [
        *("--model", "examples/mlp.py:build", "--data", "examples/mlp.py:data", "--data-arg", "train_size=256"),
    ],
}


@pytest.fixture
def packed_data(tmp_path: Path, mnist_data_dir: Path) -> Path:
    """Only the original .gz files, as `make data` leaves them on a fresh clone (nothing unpacked yet)."""
    for dataset in ("MNIST", "FashionMNIST"):
        raw = tmp_path / "data" / dataset / "raw"
        raw.mkdir(parents=True)
        for packed in (mnist_data_dir / dataset / "raw").glob("*.gz"):
            shutil.copy(packed, raw)
    return tmp_path / "data"


def _stores(tmp_path: Path) -> list[str]:
    return ["--storage", str(tmp_path / "journal.log"), "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_example_runs_from_the_command_line(example: str, tmp_path: Path, packed_data: Path) -> None:
    command = [sys.executable, "-m", "study.run", *EXAMPLES[example], *TINY, *_stores(tmp_path), "--no-report"]
    command += ["--data-dir", str(packed_data)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2 trials budgeted: 2 completed" in result.stdout
    assert "data:    examples/" in result.stdout  # the header names your data, not the default dataset
    assert "GPU available" not in result.stdout + result.stderr  # the task check's Trainer prints no banner


def test_the_python_api_example_runs(tmp_path: Path, packed_data: Path) -> None:
    stores = ["--storage", str(tmp_path / "journal.log"), "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db"]
    result = subprocess.run(
        [sys.executable, "examples/api.py", "--quick", *stores],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**__import__("os").environ, "OPTIMIZER_STUDY_DATA_DIR": str(packed_data)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "best: " in result.stdout and "report: " in result.stdout
