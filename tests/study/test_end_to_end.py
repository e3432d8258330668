"""A real study end to end: Optuna journal storage and an MLflow SQLite store in a temporary folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna
import pytest
from optuna.trial import TrialState

from study.run import main
from study.schema import (
    FINAL_BEST_VAL_ACC,
    FINAL_EPOCHS,
    FINAL_FIT_SECONDS,
    FINAL_PREFIX,
    MLFLOW_STATUS,
    VAL_ACC,
    VAL_LOSS,
)

if TYPE_CHECKING:
    from study.conftest import TinyStudy

EPOCH_METRICS = {
    "train/loss",
    "train/acc",
    "val/loss",
    "val/acc",
    "time/epoch_seconds",
    "time/samples_per_second",
}


def test_three_trials_make_one_parent_and_three_children(tiny: TinyStudy, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(tiny.args()) == 0
    out = capsys.readouterr().out

    study = tiny.load()
    assert len(study.trials) == 3
    parent, children = tiny.runs()
    assert len(children) == 3
    assert parent.info.status == "FINISHED"
    assert parent.data.params["config.max_epochs"] == "1"
    assert parent.data.tags["best.trial_number"] == str(study.best_trial.number)
    assert study.user_attrs["mlflow_parent_run_id"] == parent.info.run_id

    for trial, run in zip(study.trials, children, strict=True):
        # each side names the other
        assert trial.user_attrs["mlflow_run_id"] == run.info.run_id
        assert run.data.tags["optuna.trial_number"] == str(trial.number)
        assert run.info.run_name == f"trial-{trial.number:03d}-{trial.params['optimizer']}"
        # the Optuna state and the MLflow status agree
        assert run.data.tags["optuna.trial_state"] == trial.state.name
        assert run.info.status == MLFLOW_STATUS[trial.state.name]
        params = run.data.params
        assert params["optimizer"] == trial.params["optimizer"]
        assert float(params["lr"]) == trial.params[f"lr_{trial.params['optimizer']}"]
        assert params["batch_size"] == "64"
        assert {"dataset", "model", "seed", "device", "precision"} <= set(params)
        # each hyperparameter once per store: the lr is the Optuna param lr_<name> and the MLflow param lr
        assert "opt.lr" not in params and "lr" not in trial.user_attrs and "hyperparameters" not in trial.user_attrs
        assert run.data.tags["mlflow.source.git.commit"] and run.data.tags["version.torch"]
        assert set(run.data.metrics) >= EPOCH_METRICS
        # MLflow's Compare view opens on a run's first metric; its run page shows chart sections by name (system
        # last): the objective first, the single-point end-of-trial section after every per-epoch curve's
        assert next(iter(run.data.metrics)) == VAL_ACC
        sections = sorted({key.rpartition("/")[0] for key in run.data.metrics} - {"system"}, key=str.casefold)
        assert sections[-1] + "/" == FINAL_PREFIX, sections
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics[FINAL_BEST_VAL_ACC] == trial.value
            assert run.data.metrics[FINAL_FIT_SECONDS] > 0

    # the end-of-run table and the two UI commands
    for name in ("adam", "sgd", "rmsprop"):
        assert any(line.startswith(name) for line in out.splitlines()) or name not in str(study.trials)
    assert "mlflow ui --backend-store-uri" in out
    assert "optuna-dashboard" in out


def test_a_runs_first_metric_is_the_objective(tiny: TinyStudy) -> None:
    """MLflow's Compare view opens on a run's first logged metric: the objective, also when it is not val/acc."""
    args = tiny.args(**{"--n-trials": "1", "--max-epochs": "1", "--metric": VAL_LOSS, "--direction": "minimize"})
    assert main(args) == 0
    _, (child,) = tiny.runs()
    assert next(iter(child.data.metrics)) == VAL_LOSS


def test_metrics_are_logged_once_per_epoch(tiny: TinyStudy) -> None:
    assert main(tiny.args(**{"--max-epochs": "2", "--n-trials": "1", "--pruner": "none"})) == 0
    _, (child,) = tiny.runs()
    from mlflow import MlflowClient

    history = MlflowClient(tiny.tracking_uri).get_metric_history(child.info.run_id, "val/acc")
    assert [m.step for m in history] == [1, 2]
    cumulative = MlflowClient(tiny.tracking_uri).get_metric_history(child.info.run_id, "time/cumulative_seconds")
    assert len(cumulative) == 2 and cumulative[1].value > cumulative[0].value > 0


def test_rerun_continues_the_study_and_its_parent_run(tiny: TinyStudy) -> None:
    assert main(tiny.args(**{"--n-trials": "2"})) == 0
    first_parent, _ = tiny.runs()
    assert main(tiny.args(**{"--n-trials": "2"})) == 0  # the budget is the study's: already met
    assert len(tiny.load().trials) == 2
    assert main(tiny.args(**{"--n-trials": "4"})) == 0  # a larger budget adds the difference
    parent, children = tiny.runs()
    assert parent.info.run_id == first_parent.info.run_id
    study = tiny.load()
    assert [t.number for t in study.trials] == [0, 1, 2, 3]
    assert len(children) == 4
    # the resumed sampler does not replay the first invocation's draws
    lrs = [t.params[f"lr_{t.params['optimizer']}"] for t in study.trials]
    assert len(set(lrs)) == 4


class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_pruned_trial_is_pruned_in_both_stores(tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("study.workers.session.make_pruner", lambda config: _AlwaysPrune())
    assert main(tiny.args(**{"--n-trials": "2", "--max-epochs": "3"})) == 1  # nothing completed
    study = tiny.load()
    _, children = tiny.runs()
    for trial, run in zip(study.trials, children, strict=True):
        assert trial.state == TrialState.PRUNED
        assert trial.user_attrs["state_reason"].startswith("pruned at epoch 1")
        assert run.info.status == "KILLED"
        assert run.data.tags["optuna.trial_state"] == "PRUNED"
        # the pruned epoch's training metrics still reached MLflow
        assert "train/loss" in run.data.metrics
        assert run.data.metrics[FINAL_EPOCHS] == 1


def test_diverging_learning_rate_is_pruned_with_its_reason(tiny: TinyStudy) -> None:
    code = main(tiny.args(**{"--optimizers": "sgd,adam", "--lr-range": "sgd=1e4:1e5", "--n-trials": "4"}))
    study = tiny.load()
    assert len(study.trials) == 4  # the study ran every trial
    diverged = [t for t in study.trials if t.params["optimizer"] == "sgd"]
    assert diverged, "the seeded sampler should draw sgd at least once"
    _, children = tiny.runs()
    by_number = {int(r.data.tags["optuna.trial_number"]): r for r in children}
    for trial in diverged:
        assert trial.state == TrialState.PRUNED
        assert trial.user_attrs["state_reason"].startswith("diverged")
        run = by_number[trial.number]
        assert run.info.status == "KILLED"
        assert run.data.tags["optuna.state_reason"].startswith("diverged")
    assert code == (0 if any(t.state == TrialState.COMPLETE for t in study.trials) else 1)


def test_the_report_is_written_at_the_end_and_logged_to_the_parent_run(
    tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny.tmp)  # reports/ is relative to the working directory
    args = [a for a in tiny.args(**{"--n-trials": "2"}) if a != "--no-report"]
    assert main(args) == 0
    (folder,) = (tiny.tmp / "reports").glob("tiny-*")  # one folder, named by the study and its stores
    report = folder / "report.md"
    assert report.exists() and "adam" in report.read_text()
    assert (folder / "trials.csv").exists()
    parent, _ = tiny.runs()
    from mlflow import MlflowClient

    logged = [a.path for a in MlflowClient(tiny.tracking_uri).list_artifacts(parent.info.run_id, "report")]
    assert "report/report.md" in logged
    # artifacts live beside the tracking database, not in the working directory
    assert (tiny.tmp / "artifacts").is_dir()


def test_search_extras_reach_the_optimizer_and_the_records(tiny: TinyStudy) -> None:
    args = tiny.args(**{"--optimizers": "momentum,adam", "--n-trials": "4"})
    assert main([*args, "--search-extras"]) == 0
    study = tiny.load()
    _, children = tiny.runs()
    for trial, run in zip(study.trials, children, strict=True):
        name = trial.params["optimizer"]
        if name == "momentum":
            assert run.data.params["opt.momentum"] == str(trial.params["momentum_momentum"])
        else:
            beta1, beta2 = trial.params["beta1_adam"], 1.0 - trial.params["one_minus_beta2_adam"]
            assert run.data.params["opt.betas"] == str((beta1, beta2))
