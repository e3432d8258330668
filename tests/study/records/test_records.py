"""Records that never lie: every failure on a trial's path ends it in both stores with its reason, a collapsed
network is pruned, and a run repairs the disagreements a killed process left behind."""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from study.config.cli import parse_config
from study.records.ledger import reconcile
from study.records.tracking import StudyTracker
from study.run import main
from study.workers.session import join
from testsupport import stores_disagree

if TYPE_CHECKING:
    from study.conftest import TinyStudy


def _agree(tiny: TinyStudy, name: str = "tiny") -> None:
    assert stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", name) == []


def test_a_collapsed_or_exploding_network_is_pruned_with_its_reason(tiny: TinyStudy) -> None:
    """SGD at lr 50-100: the training loss explodes (1e4) while the validation loss stays under the limit."""
    args = tiny.args(**{"--optimizers": "sgd", "--lr-range": "sgd=50:100", "--n-trials": "3", "--train-size": "1024"})
    assert main(args) == 1  # no trial completed
    study = tiny.load()
    assert [t.state for t in study.trials] == [TrialState.PRUNED] * 3
    for trial in study.trials:
        reason = trial.user_attrs["state_reason"]
        assert reason.startswith(("diverged: train/loss", "diverged: val/loss", "collapsed")), reason
    _, children = tiny.runs()
    assert all(r.info.status == "KILLED" and r.data.tags["optuna.state_reason"] for r in children)
    _agree(tiny)


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom on purpose")


def _failed_in_both_stores(tiny: TinyStudy, name: str) -> None:
    trials = tiny.load(name).trials
    assert trials and all(t.state == TrialState.FAIL for t in trials)
    assert all(t.user_attrs["state_reason"] == "RuntimeError: boom on purpose" for t in trials)
    _, children = tiny.runs()
    runs = {int(r.data.tags["optuna.trial_number"]): r for r in children if r.data.tags["optuna.study_name"] == name}
    for trial in trials:
        assert runs[trial.number].info.status == "FAILED"
        assert runs[trial.number].data.tags["optuna.state_reason"] == "RuntimeError: boom on purpose"
    _agree(tiny)


def test_a_failure_building_the_trainer_ends_the_trial_in_both_stores(
    tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("study.training.train.L.Trainer", _boom)
    assert main(tiny.args(**{"--n-trials": "2"})) == 1
    _failed_in_both_stores(tiny, "tiny")


def test_a_failure_in_the_final_test_ends_the_retraining_in_both_stores(
    tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("study.training.train.L.Trainer.test", _boom)
    args = tiny.args(**{"--protocol": "tuned", "--optimizers": "adam", "--n-trials": "1", "--seeds": "1"})
    assert main(args) == 0  # the search trial completed
    _failed_in_both_stores(tiny, "tiny.final")


def test_joining_repairs_what_a_kill_left_disagreeing(tiny: TinyStudy) -> None:
    """The ways a kill between two writes leaves the stores, each repaired by the next process that joins."""
    assert main(tiny.args(**{"--n-trials": "2"})) == 0
    study = tiny.load()
    parent, children = tiny.runs()
    client = MlflowClient(tiny.tracking_uri)
    # an Optuna COMPLETE trial whose run still reads RUNNING
    client.update_run(children[0].info.run_id, status="RUNNING")
    # an Optuna FAIL trial whose run reads FINISHED with the state tag COMPLETE
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    tracker = StudyTracker(client, parent.info.experiment_id, parent.info.run_id, "tiny")
    lying = tracker.start_trial("tiny", 2, "adam", {}, {})
    tracker.end_trial(lying, "COMPLETE")
    # an Optuna FAIL trial with no run at all
    study.add_trial(optuna.trial.create_trial(state=TrialState.FAIL))
    problems = stores_disagree(str(tiny.tmp / "journal.log"), tiny.tracking_uri, "tests", "tiny")
    assert {p.split(":")[0] for p in problems} == {"('tiny', 0) COMPLETE", "('tiny', 2) FAIL", "('tiny', 3) FAIL"}

    session = join(parse_config(tiny.args(**{"--n-trials": "2"})), log=lambda line: None)
    assert reconcile(session.studies["tiny"], session.tracker) == []  # the join repaired all three already
    _agree(tiny)
    assert client.get_run(lying).info.status == "FAILED"
