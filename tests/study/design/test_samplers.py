"""The samplers for small budgets, in real studies: QMC covers the range evenly, GP runs and stays distinct."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

from study.design.search_space import LR_RANGES
from study.run import main

if TYPE_CHECKING:
    from study.conftest import TinyStudy


def _positions(lrs: list[float], name: str) -> list[float]:
    """Where each lr lies on the optimizer's log range, from 0 to 1."""
    low, high = LR_RANGES[name]
    return [(math.log(lr) - math.log(low)) / (math.log(high) - math.log(low)) for lr in lrs]


def test_qmc_puts_one_of_four_trials_in_each_quarter_of_the_lr_range(tiny: TinyStudy) -> None:
    args = tiny.args(**{"--sampler": "qmc", "--optimizers": "adam", "--n-trials": "5", "--train-size": "128"})
    assert main(args) == 0
    trials = sorted(tiny.load().trials, key=lambda t: t.number)
    # the first trial tells the QMC sampler the space (Optuna draws it at random); the next four are Sobol points
    positions = _positions([t.params["lr_adam"] for t in trials[1:]], "adam")
    assert sorted(int(p * 4) for p in positions) == [0, 1, 2, 3], positions


@pytest.mark.parametrize("sampler", ["gp", "random", "tpe"])
def test_every_sampler_draws_distinct_configurations(tiny: TinyStudy, sampler: str) -> None:
    args = tiny.args(**{"--sampler": sampler, "--n-trials": "5", "--train-size": "128"})
    assert main(args) == 0
    drawn = [tuple(sorted(t.params.items())) for t in tiny.load().trials]
    assert len(drawn) == 5 and len(set(drawn)) == 5
