"""The winner, ready to use: best.toml retrains the best trial exactly; its weights load from both places."""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING

import mlflow.pytorch
import pytest
import torch
from mlflow import MlflowClient
from optuna.trial import FrozenTrial

from models.cnn import ArticleCNN
from study.run import main

if TYPE_CHECKING:
    from study.conftest import TinyStudy


def _value(trial: FrozenTrial) -> float:
    """The objective value of a trial that has one."""
    assert trial.value is not None
    return trial.value


def test_best_toml_retrains_the_best_trial_exactly_and_its_weights_load(
    tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny.tmp)  # reports/ is relative to the working directory
    args = [a for a in tiny.args(**{"--n-trials": "3", "--max-epochs": "2"}) if a != "--no-report"]
    assert main(args) == 0
    study = tiny.load()
    best = max((t for t in study.trials if t.value is not None), key=_value)
    (folder,) = (tiny.tmp / "reports").glob("tiny-*")  # one folder, named by the study and its stores
    exported = tomllib.loads((folder / "best.toml").read_text())
    assert exported["protocol"] == "seed" and exported["optimizers"] == [best.params["optimizer"]]
    assert exported["seed"] == best.user_attrs["seed"] and exported["batch_sizes"] == [best.params["batch_size"]]
    assert "## The winner" in (folder / "report.md").read_text()

    # the exported file alone (plus where to keep the records) trains the same run again, bit for bit
    again = tiny.tmp / "again"
    again.mkdir()
    rerun = ["--config", str(folder / "best.toml"), "--data-dir", str(tiny.data_dir), "--no-report"]
    rerun += ["--storage", str(again / "j.log"), "--tracking-uri", f"sqlite:///{again}/m.db", "--experiment", "tests"]
    assert main(rerun) == 0
    (retrained,) = tiny.load("tiny-best", storage=str(again / "j.log")).trials
    assert retrained.value == best.value
    assert retrained.intermediate_values == best.intermediate_values

    # the weights: a Lightning checkpoint and the MLflow model in the best trial's run, the same numbers
    checkpoint = torch.load(folder / "best" / "model.ckpt", weights_only=True)["state_dict"]
    run_id = best.user_attrs["mlflow_run_id"]
    assert "model/MLmodel" in [a.path for a in MlflowClient(tiny.tracking_uri).list_artifacts(run_id, "model")]
    local = MlflowClient(tiny.tracking_uri).download_artifacts(run_id, "model", str(tiny.tmp))
    network = mlflow.pytorch.load_model(local)
    reference = ArticleCNN().eval()
    reference.load_state_dict({k.removeprefix("net."): v for k, v in checkpoint.items()})
    images = torch.randn(1, 1, 28, 28)
    assert torch.equal(network(images), reference(images))
