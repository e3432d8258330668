"""A study over today's optimizers: each trains, its run shows its hyperparameters (and Muon its two groups), the
report includes them, and a searched schedule is recorded in both stores."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from mlflow import MlflowClient

from optimizers.registry import get_spec
from study.run import main
from study.schema import MODERN, OPTIMIZER, SCHEDULE, TRAIN_LR, TRIAL_TAG, WARMUP

if TYPE_CHECKING:
    from study.conftest import TinyStudy


def test_the_seven_new_optimizers_run_a_study_recorded_and_reported(
    tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny.tmp)
    overrides = {"--optimizers": ",".join(MODERN), "--protocol": "seed", "--defaults": "torch"}
    args = [a for a in tiny.args(**overrides) if a != "--no-report"]
    assert main(args) == 0
    parent, children = tiny.runs()
    by_optimizer = {run.data.params[OPTIMIZER]: run for run in children}
    assert sorted(by_optimizer) == sorted(MODERN)
    for name, run in by_optimizer.items():
        assert run.info.status == "FINISHED", name
        recorded = {key.removeprefix("opt.") for key in run.data.params if key.startswith("opt.")}
        constructor = set(get_spec(name).defaults()) - {"foreach", "lr"}
        assert constructor <= recorded, (name, constructor - recorded)
    groups = by_optimizer["muon"].data.params
    assert groups["opt.groups.muon"] == "conv.weight,fc1.weight"  # the kernel (as a matrix) and the hidden layer
    assert groups["opt.groups.adamw"] == "conv.bias,fc1.bias,fc2.weight,fc2.bias"
    (folder,) = (tiny.tmp / "reports").glob("tiny-*")
    report = (folder / "report.md").read_text()
    for name in MODERN:
        assert f"| {name} |" in report, name


def test_a_searched_schedule_is_an_optuna_param_an_mlflow_param_and_a_curve(tiny: TinyStudy) -> None:
    overrides = {"--optimizers": "adam,lion", "--search-schedule": "", "--max-epochs": "2", "--n-trials": "2"}
    args = [a for a in tiny.args(**overrides) if a != ""]
    assert main(args) == 0
    study = tiny.load()
    _, children = tiny.runs()
    for trial in study.trials:
        run = next(r for r in children if r.data.tags[TRIAL_TAG] == str(trial.number))
        assert run.data.params[SCHEDULE] == trial.params[SCHEDULE]
        assert float(run.data.params[WARMUP]) == pytest.approx(trial.params[WARMUP])
        curve = MlflowClient(tiny.tracking_uri).get_metric_history(run.info.run_id, TRAIN_LR)
        assert [m.step for m in curve] == [1, 2]


def test_the_muon_split_names_every_parameter_once() -> None:
    from models.cnn import ArticleCNN
    from study.training.train import param_split

    net = ArticleCNN()
    split = param_split("muon", net)
    assert split is not None
    names = dict(net.named_parameters())
    _, sides = split
    assert set(sides.muon) | set(sides.adamw) == set(names) and not set(sides.muon) & set(sides.adamw)
