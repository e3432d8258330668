"""The plan's arithmetic and the spread rule, without running anything."""

from __future__ import annotations

import math
from collections.abc import Callable

from study.bench.plan import SPLIT_TRAIN, warm_and_timed
from study.bench.runner import SPREAD_LIMIT, Reading, Series, interleave, over_spread


def test_every_batch_size_times_at_least_the_asked_steps_after_a_warm_up_epoch() -> None:
    assert SPLIT_TRAIN == 55_000
    for batch_size in (32, 64, 128, 256):
        train_size, epochs = warm_and_timed(batch_size, 500)
        assert train_size <= SPLIT_TRAIN and (epochs - 1) * math.ceil(train_size / batch_size) >= 500
    assert warm_and_timed(64, 500) == (32_000, 2) and warm_and_timed(256, 500) == (55_000, 4)


def test_a_series_reports_its_spread_and_counts_what_it_could_not_measure() -> None:
    series = Series([Reading(100.0), Reading(float("nan")), Reading(120.0)])
    stats = series.as_dict()
    assert stats["values"] == [100.0, 120.0] and stats["missing"] == 1 and stats["median"] == 110.0
    assert stats["spread"] == 1.2 > SPREAD_LIMIT
    steady = Series([Reading(100.0), Reading(110.0)]).as_dict()
    assert over_spread({"noisy": stats, "steady": steady}) == {"noisy": 1.2}


def test_rounds_rotate_and_each_cross_check_runs_right_after_its_arms_last_reading() -> None:
    order: list[str] = []

    def measure(name: str) -> Callable[[], Reading]:
        def read() -> Reading:
            order.append(name)
            return Reading(float(len(order)))

        return read

    measures = {name: measure(name) for name in ("a", "b", "c")}
    series = interleave(3, measures, then={"a": measure("a alone"), "c": measure("c alone")})
    assert order == ["a", "b", "c", "b", "c", "a", "c", "c alone", "a", "a alone", "b"]
    assert series["a"].alone == Reading(10.0) and series["c"].alone == Reading(8.0) and series["b"].alone is None
    assert [r.value for r in series["a"].readings] == [1.0, 6.0, 9.0]
