"""The report's arithmetic: epoch columns, lr ranges and edges, milestones, spreads and Holm (tests: test_stats)."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats

from study.report.article import ARTICLE_VAL_ACC, article_val_acc
from study.report.lr_range import at_edge, searched_range
from study.report.records import TrialRecord
from study.report.stats import holm, spread
from study.report.tables import seconds_to, table_epochs
from study.schema import CUMULATIVE_SECONDS, VAL_ACC, epochs_to_key, seconds_to_key


@pytest.mark.parametrize(
    ("last", "epochs"),
    [(0, []), (1, [1]), (2, [1, 2]), (3, [1, 2, 3]), (5, [1, 3, 5]), (10, [1, 5, 10]), (12, [1, 5, 10, 12])],
)
def test_table_epochs_follow_the_article_or_the_epochs_run(last: int, epochs: list[int]) -> None:
    assert table_epochs(last) == epochs


def test_article_numbers() -> None:
    assert set(ARTICLE_VAL_ACC) == {"adadelta", "adagrad", "adam", "rmsprop", "momentum", "sgd"}
    assert article_val_acc("adam", 10) == 0.9908
    assert article_val_acc("momentum", 1) == 0.9168
    assert article_val_acc("nadam", 10) is None and article_val_acc("adam", 3) is None


def test_edge_is_the_outer_tenth_on_a_log_scale() -> None:
    lr_range = (1e-5, 1e-2)  # three decades: the edges are 0.3 decade wide
    assert at_edge(9.5e-3, lr_range) and at_edge(1.5e-5, lr_range)
    assert not at_edge(1e-3, lr_range) and not at_edge(2.5e-5, lr_range) and not at_edge(4e-3, lr_range)


def _record(optimizer: str, lr_range: tuple[float, float] | None) -> TrialRecord:
    return TrialRecord("s", 0, "COMPLETE", optimizer, 1e-3, 64, 0, "search", 0.9, 1, 1.0, lr_range=lr_range)


def test_searched_range_prefers_optuna_then_config_then_registry() -> None:
    recorded = [_record("adam", (1e-4, 1e-1))]
    overrides = {"config.lr_ranges.adam": "[1e-06, 0.001]", "config.lr_ranges.sgd": "[0.01, 0.5]"}
    assert searched_range("adam", recorded, overrides) == (1e-4, 1e-1)
    assert searched_range("sgd", [_record("sgd", None)], overrides) == (0.01, 0.5)
    assert searched_range("rmsprop", [], overrides) == (1e-5, 1e-2)  # the registry's
    assert searched_range("unknown", [], {}) is None


def test_milestones_come_from_final_metrics_else_from_curves() -> None:
    logged = TrialRecord(
        "s", 0, "COMPLETE", "adam", 1e-3, 64, 0, "search", 0.99, 3, 9.0,
        final={seconds_to_key(0.97): 4.5, epochs_to_key(0.97): 2.0},
    )  # fmt: skip
    assert seconds_to(logged, 0.97) == (4.5, 2.0)
    curves = {VAL_ACC: {1: 0.9, 2: 0.975, 3: 0.985}, CUMULATIVE_SECONDS: {1: 3.0, 2: 6.0, 3: 9.0}}
    derived = TrialRecord("s", 1, "COMPLETE", "adam", 1e-3, 64, 0, "search", 0.985, 3, 9.0, curves=curves)
    assert seconds_to(derived, 0.97) == (6.0, 2.0)
    assert seconds_to(derived, 0.98) == (9.0, 3.0)
    assert seconds_to(derived, 0.99) == (None, None)


def test_spread_is_mean_std_and_a_t_interval_on_the_logit_scale() -> None:
    values = [0.990, 0.992, 0.994]
    s = spread("adam", values)
    assert s.n == 3 and s.mean == pytest.approx(0.992) and s.std == pytest.approx(0.002)
    logits = [math.log(v / (1 - v)) for v in values]
    center, sd = statistics.fmean(logits), statistics.stdev(logits)
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
    expit = [1 / (1 + math.exp(-x)) for x in (center - half, center + half)]
    assert (s.ci_low, s.ci_high) == pytest.approx(expit)
    assert s.ci_low is not None and s.ci_high is not None and s.ci_low < s.mean < s.ci_high < 1
    one = spread("sgd", [0.9])
    assert one.std is None and one.ci_low is None and one.ci_high is None


def test_holm_adjusts_step_down_and_stays_monotone() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []
