"""The seed and tuned protocols on tiny data: fixed article settings, equal budgets, distinct recorded seeds."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from optuna.trial import TrialState

from study.design.protocols import FINAL_SEED_OFFSET
from study.design.search_space import default_hyperparameters
from study.run import main
from study.schema import FINAL_TEST_ACC, TEST_ACC_METRIC

if TYPE_CHECKING:
    from study.conftest import TinyStudy


def test_seed_protocol_runs_each_optimizer_once_at_the_keras_defaults(tiny: TinyStudy) -> None:
    args = tiny.args(**{"--protocol": "seed", "--optimizers": "adam,sgd", "--max-epochs": "1"})
    assert main(args) == 0
    study = tiny.load()
    assert study.user_attrs["protocol"] == "seed"
    assert [t.params["optimizer"] for t in study.trials] == ["adam", "sgd"]
    for trial in study.trials:
        name = trial.params["optimizer"]
        assert trial.state == TrialState.COMPLETE
        assert trial.user_attrs["role"] == "seed"
        assert trial.params[f"lr_{name}"] == default_hyperparameters(name, "keras")["lr"]
        assert trial.params["batch_size"] == 64
    _, children = tiny.runs()
    for run in children:
        assert run.data.params["validate_on_test"] == "True"  # as the article did
        assert run.data.params["defaults"] == "keras"
        assert run.data.params["role"] == "seed"
    # the Keras eps reached the optimizer
    assert children[0].data.params["opt.eps"] == "1e-07"

    # rerunning keeps completed seeds instead of training them again
    assert main(args) == 0
    assert len(tiny.load().trials) == 2


def test_tuned_protocol_gives_every_optimizer_the_same_budget_then_retrains_with_seeds(tiny: TinyStudy) -> None:
    args = tiny.args(**{"--protocol": "tuned", "--optimizers": "adam,sgd", "--n-trials": "2", "--seeds": "2"})
    assert main(args) == 0
    for name in ("adam", "sgd"):
        sub = tiny.load(f"tiny.{name}")
        assert len(sub.trials) == 2
        assert {t.params["optimizer"] for t in sub.trials} == {name}

    final = tiny.load("tiny.final")
    assert Counter(t.params["optimizer"] for t in final.trials) == {"adam": 2, "sgd": 2}
    for name in ("adam", "sgd"):
        mine = [t for t in final.trials if t.params["optimizer"] == name]
        assert sorted(t.user_attrs["seed"] for t in mine) == [FINAL_SEED_OFFSET, FINAL_SEED_OFFSET + 1]
        best = max(tiny.load(f"tiny.{name}").trials, key=lambda t: t.value or 0.0)
        for trial in mine:
            assert trial.state == TrialState.COMPLETE
            assert trial.user_attrs["role"] == "final"
            assert trial.params[f"lr_{name}"] == best.params[f"lr_{name}"]
            assert trial.params["batch_size"] == best.params["batch_size"]
            assert 0.0 <= trial.user_attrs["test_acc"] <= 1.0

    parent, children = tiny.runs()
    assert len(children) == 8  # 2 + 2 search trials and 4 retrainings, all under one parent
    finals = [r for r in children if r.data.params["role"] == "final"]
    assert len(finals) == 4
    # the test accuracy once, with the end-of-trial metrics (a second test/* copy would open the trial's page)
    assert all(FINAL_TEST_ACC in r.data.metrics and TEST_ACC_METRIC not in r.data.metrics for r in finals)
    assert {r.data.params["seed"] for r in finals} == {str(FINAL_SEED_OFFSET), str(FINAL_SEED_OFFSET + 1)}

    # a rerun with a larger budget tops every optimizer up to the same count
    assert (
        main(tiny.args(**{"--protocol": "tuned", "--optimizers": "adam,sgd", "--n-trials": "3", "--seeds": "2"})) == 0
    )
    assert [len(tiny.load(f"tiny.{n}").trials) for n in ("adam", "sgd")] == [3, 3]


def test_seed_protocol_fixes_muons_adamw_side_at_its_default_too(tiny: TinyStudy) -> None:
    """A fixed configuration leaves nothing to the sampler: Muon's AdamW-side lr is queued, not drawn."""
    args = tiny.args(**{"--protocol": "seed", "--optimizers": "muon", "--max-epochs": "1"})
    assert main(args) == 0
    (trial,) = tiny.load().trials
    defaults = default_hyperparameters("muon", "keras")
    assert trial.params["lr_muon"] == defaults["lr"]
    assert trial.params["adamw_lr_muon"] == defaults["adamw_lr"] == 1e-3
    _, (child,) = tiny.runs()
    assert float(child.data.params["opt.adamw_lr"]) == 1e-3
