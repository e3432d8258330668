"""Learning-rate schedules: the multiplier at each step, and what a scheduled trial trains and records."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from models.data import ImageDataModule
from study.design.search_space import default_hyperparameters
from study.schema import SCHEDULES, TRAIN_LR, VAL_LOSS
from study.training.schedules import WSD_DECAY, lr_factor
from study.training.train import TrialSpec, train

TOTAL = 100


def factors(schedule: str, warmup: float) -> list[float]:
    return [lr_factor(schedule, warmup, step, TOTAL) for step in range(TOTAL)]


def test_without_warm_up_each_schedule_starts_at_the_full_rate_and_ends_at_its_shape() -> None:
    assert factors("constant", 0.0) == [1.0] * TOTAL
    for schedule in ("cosine", "linear", "wsd"):
        curve = factors(schedule, 0.0)
        assert curve[0] == 1.0 and 0.0 <= curve[-1] <= 0.05 + 1e-9, schedule  # the last step, one from 0
        assert all(a >= b for a, b in zip(curve, curve[1:], strict=False)), f"{schedule} never rises"
    assert factors("cosine", 0.0)[TOTAL // 2] == pytest.approx(0.5)
    assert factors("linear", 0.0)[TOTAL // 4] == pytest.approx(0.75)
    wsd = factors("wsd", 0.0)
    decay_from = round(TOTAL * (1 - WSD_DECAY))
    assert wsd[:decay_from] == [1.0] * decay_from and wsd[decay_from + 1] < 1.0


def test_warm_up_rises_linearly_to_the_full_rate_then_the_schedule_takes_over() -> None:
    for schedule in SCHEDULES:
        curve = factors(schedule, 0.1)
        assert curve[:10] == pytest.approx([(step + 1) / 10 for step in range(10)]), schedule
        assert curve[10] == 1.0, schedule
    assert factors("cosine", 0.1)[55] == pytest.approx(0.5)  # half-way through the 90 steps after warm-up


def test_an_unknown_schedule_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown schedule 'step'; accepted: constant, cosine, linear, wsd"):
        lr_factor("step", 0.0, 0, TOTAL)


@pytest.fixture(scope="module")
def data(mnist_data_dir: Path) -> ImageDataModule:
    module = ImageDataModule("mnist", data_dir=mnist_data_dir, train_size=256, seed=0)
    module.prepare_data()
    module.setup("fit")
    return module


def spec(**overrides: object) -> TrialSpec:
    values: dict[str, object] = {
        "optimizer": "momentum",
        "hyperparameters": default_hyperparameters("momentum", "torch"),
        "batch_size": 64,
        "seed": 5,
        "max_epochs": 2,
    }
    values.update(overrides)
    return TrialSpec(**values)  # type: ignore[arg-type]


def test_a_constant_rate_attaches_no_scheduler_and_records_no_curve(data: ImageDataModule) -> None:
    result = train(spec(), data)
    assert not spec().scheduled
    assert all(TRAIN_LR not in record.metrics for record in result.history)


def test_a_cosine_trial_records_its_rate_falling_to_zero_at_the_last_step(data: ImageDataModule) -> None:
    lr = default_hyperparameters("momentum", "torch")["lr"]
    result = train(spec(schedule="cosine"), data)
    # 256 images / 64 = 4 steps an epoch, 8 in all: the rate after epoch 1 is the cosine's half-way point
    rates = [record.metrics[TRAIN_LR] for record in result.history]
    assert rates[0] == pytest.approx(lr * 0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert rates[1] == pytest.approx(0.0, abs=1e-12)


def test_warm_up_changes_training_and_a_constant_rate_after_it_is_the_full_rate(data: ImageDataModule) -> None:
    lr = default_hyperparameters("momentum", "torch")["lr"]
    plain, warmed = train(spec(), data), train(spec(warmup=0.25), data)
    assert [record.metrics[TRAIN_LR] for record in warmed.history] == pytest.approx([lr, lr])
    assert [r.metrics[VAL_LOSS] for r in warmed.history] != [r.metrics[VAL_LOSS] for r in plain.history]
