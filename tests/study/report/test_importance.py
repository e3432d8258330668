"""What explains the accuracy: the shares on fixed numbers, and the learning rate on one axis for all optimizers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from study.report.importance import _eta_squared, _parabola_r2, importance
from study.report.records import StudyData, TrialRecord

DEFAULTS = {"adam": 1e-3, "adadelta": 1.0}


def _trial(number: int, optimizer: str, lr: float, batch_size: int, value: float) -> TrialRecord:
    return TrialRecord(
        study="s",
        number=number,
        state="COMPLETE",
        optimizer=optimizer,
        lr=lr,
        batch_size=batch_size,
        seed=number,
        role="search",
        value=value,
        epochs=1,
        fit_seconds=1.0,
    )


def _data(trials: list[TrialRecord]) -> StudyData:
    return StudyData("s", "search", ("s",), tuple(trials), "j.log", "sqlite:///m.db", "e", "run")


def test_eta_squared_on_fixed_numbers() -> None:
    assert _eta_squared([1.0, 1.0, 3.0, 3.0], ["a", "a", "b", "b"]) == pytest.approx(1.0)
    values, groups = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], ["a", "b", "a", "b", "a", "b"]
    mean = 3.5
    between = 3 * (3.0 - mean) ** 2 + 3 * (4.0 - mean) ** 2
    total = sum((v - mean) ** 2 for v in values)
    assert _eta_squared(values, groups) == pytest.approx(between / total)
    assert _eta_squared(values, ["a"] * 6) is None


def test_parabola_r2_against_numpy() -> None:
    x = [-2.0, -1.0, 0.0, 1.0, 2.0]
    assert _parabola_r2(x, [4.0 - v * v for v in x]) == pytest.approx(1.0)
    y = [0.1, 0.5, 0.9, 0.6, 0.2]
    fitted = np.polyval(np.polyfit(x, y, 2), x)
    expected = 1 - np.sum((np.array(y) - fitted) ** 2) / np.sum((np.array(y) - np.mean(y)) ** 2)
    assert _parabola_r2(x, y) == pytest.approx(expected)
    assert _parabola_r2(x[:3], y[:3]) is None  # too few points for a parabola


def test_the_learning_rate_is_compared_across_optimizers_relative_to_each_default() -> None:
    """Accuracy peaks at each optimizer's own default lr (1e-3 for Adam, 1.0 for Adadelta): on the raw lr axis
    that is no single curve, relative to the defaults it is one parabola, and the lr explains (almost) all."""
    trials = []
    for i, ratio in enumerate([0.01, 0.1, 1.0, 10.0, 100.0]):
        accuracy = 0.98 - 0.01 * math.log10(ratio) ** 2
        trials.append(_trial(i, "adam", DEFAULTS["adam"] * ratio, 64 if i % 2 else 128, accuracy))
        trials.append(_trial(10 + i, "adadelta", DEFAULTS["adadelta"] * ratio, 128 if i % 2 else 64, accuracy))
    found = importance(_data(trials), lambda name, convention: DEFAULTS[name])
    assert found is not None and found.n == 10
    assert found.lr == pytest.approx(1.0)
    assert found.optimizer == pytest.approx(0.0, abs=1e-12)  # the same accuracies for both optimizers
    count, lr = found.lr_per_optimizer["adam"]
    assert count == 5 and lr == pytest.approx(1.0)
    assert importance(_data(trials[:3]), lambda name, convention: DEFAULTS[name]) is None
