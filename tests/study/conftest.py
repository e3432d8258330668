"""Fixtures for the study tests: argument lists for tiny studies and reading both stores back."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from study.records.stores import open_storage
from study.schema import ROLE_TAG, STUDY_TAG


def tiny_args(tmp: Path, data_dir: Path, study: str = "tiny", **overrides: str) -> list[str]:
    """A study small enough for a test: 256 training images, one epoch, three optimizers."""
    options = {
        "--study-name": study,
        "--data-dir": str(data_dir),
        "--train-size": "256",
        "--max-epochs": "1",
        "--n-trials": "3",
        "--batch-sizes": "64",
        "--optimizers": "adam,sgd,rmsprop",
        "--timeout": "none",
        "--tracking-uri": f"sqlite:///{tmp}/mlflow.db",
        "--storage": str(tmp / "journal.log"),
        "--experiment": "tests",
        "--seed": "0",
    }
    options.update(overrides)
    args = [item for pair in options.items() for item in pair]
    return [*args, "--no-report"]


def load(tmp: Path, study: str = "tiny", storage: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=study, storage=open_storage(storage or str(tmp / "journal.log")))


def runs(tracking_uri: str, study: str = "tiny") -> tuple[Run, list[Run]]:
    """The study's parent run and its child runs, children ordered by trial number."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("tests")
    assert experiment is not None
    parents = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`{STUDY_TAG}` = '{study}' and tags.`{ROLE_TAG}` = 'parent'"
    )
    assert len(parents) == 1, f"expected one parent run, found {len(parents)}"
    children = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parents[0].info.run_id}'"
    )
    children.sort(key=lambda r: (r.data.tags[STUDY_TAG], int(r.data.tags["optuna.trial_number"])))
    return parents[0], children


class TinyStudy:
    """A tiny study's stores in a temporary folder, with the real MNIST files."""

    def __init__(self, tmp: Path, data_dir: Path) -> None:
        self.tmp = tmp
        self.data_dir = data_dir
        self.tracking_uri = f"sqlite:///{tmp}/mlflow.db"

    def args(self, study: str = "tiny", **overrides: str) -> list[str]:
        return tiny_args(self.tmp, self.data_dir, study, **overrides)

    def load(self, study: str = "tiny", storage: str | None = None) -> optuna.Study:
        return load(self.tmp, study, storage)

    def runs(self, study: str = "tiny", tracking_uri: str | None = None) -> tuple[Run, list[Run]]:
        return runs(tracking_uri or self.tracking_uri, study)


@pytest.fixture
def tiny(tmp_path: Path, mnist_data_dir: Path) -> TinyStudy:
    return TinyStudy(tmp_path, mnist_data_dir)
