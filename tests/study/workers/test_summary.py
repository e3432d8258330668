"""The end of a run: counts that add up to the budget, and an exit code that says whether anything completed."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from study.run import main
from study.workers.summary import budget_line, outcomes_of_the_budget

if TYPE_CHECKING:
    from study.conftest import TinyStudy


def _trial(number: int, state: TrialState, retry_of: int | None = None) -> optuna.trial.FrozenTrial:
    attrs = {} if retry_of is None else {"retry_of": retry_of}
    value = 0.9 if state == TrialState.COMPLETE else None
    frozen = create_trial(
        state=state, value=value, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}, user_attrs=attrs
    )
    frozen.number = number
    return frozen


def test_a_retried_trial_counts_once_as_its_last_attempt() -> None:
    trials = [
        _trial(0, TrialState.COMPLETE),
        _trial(1, TrialState.FAIL),  # interrupted, then run again as trial 4, which completed
        _trial(2, TrialState.PRUNED),
        _trial(3, TrialState.FAIL),  # its retry (5) still queued
        _trial(4, TrialState.COMPLETE, retry_of=1),
        _trial(5, TrialState.WAITING, retry_of=3),
        _trial(6, TrialState.WAITING),
    ]
    counts = outcomes_of_the_budget(trials)
    assert counts == {"COMPLETE": 2, "PRUNED": 1, "FAIL": 0, "RUNNING": 0, "WAITING": 2}
    assert budget_line(trials) == "5 trials budgeted: 2 completed, 1 pruned, 0 failed, 2 queued (not run)"


def test_an_interrupted_study_reports_counts_that_add_up_to_its_budget(
    tiny: TinyStudy, capsys: pytest.CaptureFixture[str]
) -> None:
    args = tiny.args(**{"--n-trials": "4", "--timeout": "0.5"})  # the deadline passes during the first trial
    assert main(args) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "trials budgeted" in x)
    counts = re.search(r"4 trials budgeted: (\d+) completed, 0 pruned, 0 failed, (\d+) queued \(not run\)", line)
    assert counts is not None, line  # how many trials the half second allows depends on the machine; the sum not
    completed, queued = int(counts[1]), int(counts[2])
    assert completed >= 1 and queued >= 1 and completed + queued == 4, line


def test_a_run_whose_every_trial_failed_exits_1(
    tiny: TinyStudy, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(tiny.args(**{"--n-trials": "1"})) == 0  # the study has a completed trial from before

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom on purpose")

    monkeypatch.setattr("study.training.train.lean_trainer", boom)
    capsys.readouterr()
    assert main(tiny.args(**{"--n-trials": "3"})) == 1
    assert "no trial completed (2 failed, 0 pruned in this run)" in capsys.readouterr().err
