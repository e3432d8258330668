"""The report's arithmetic: epoch columns, lr ranges and edges, milestones, confidence intervals and tests."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from study.article import ARTICLE_VAL_ACC, article_val_acc
from study.report.lr_range import at_edge, searched_range
from study.report.records import CUMULATIVE_SECONDS, VAL_ACC, TrialRecord
from study.report.stats import compare_to_best, holm, sentence, spread, summary_sentence
from study.report.tables import seconds_to, table_epochs


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
        final={"final/seconds_to_0.97": 4.5, "final/epochs_to_0.97": 2.0},
    )  # fmt: skip
    assert seconds_to(logged, 0.97) == (4.5, 2.0)
    curves = {VAL_ACC: {1: 0.9, 2: 0.975, 3: 0.985}, CUMULATIVE_SECONDS: {1: 3.0, 2: 6.0, 3: 9.0}}
    derived = TrialRecord("s", 1, "COMPLETE", "adam", 1e-3, 64, 0, "search", 0.985, 3, 9.0, curves=curves)
    assert seconds_to(derived, 0.97) == (6.0, 2.0)
    assert seconds_to(derived, 0.98) == (9.0, 3.0)
    assert seconds_to(derived, 0.99) == (None, None)


def test_spread_is_mean_std_and_a_t_interval() -> None:
    values = [0.990, 0.992, 0.994]
    s = spread("adam", values)
    assert s.n == 3 and s.mean == pytest.approx(0.992) and s.std == pytest.approx(0.002)
    half = stats.t.ppf(0.975, 2) * 0.002 / math.sqrt(3)
    assert (s.ci_low, s.ci_high) == (pytest.approx(0.992 - half), pytest.approx(0.992 + half))
    assert spread("sgd", [0.9]).std is None


def test_holm_adjusts_step_down_and_stays_monotone() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_comparisons_against_the_best_with_welch_and_holm() -> None:
    values = {"adam": [0.992, 0.991, 0.993], "rmsprop": [0.990, 0.993, 0.991], "sgd": [0.970, 0.971, 0.969]}
    comparisons = compare_to_best(values)
    assert [c.other for c in comparisons] == ["rmsprop", "sgd"]
    assert all(c.best == "adam" for c in comparisons)
    welch = stats.ttest_ind(values["adam"], values["sgd"], equal_var=False).pvalue
    sgd = comparisons[1]
    assert sgd.p == pytest.approx(welch) and sgd.significant
    assert not comparisons[0].significant
    text = sentence(comparisons[0])
    assert text.startswith("adam vs rmsprop: +0.07 pp, p = ") and text.endswith("not significant with 3 seeds each.")


def test_one_seed_cannot_be_tested() -> None:
    (c,) = compare_to_best({"adam": [0.99], "sgd": [0.97]})
    assert c.p is None and not c.significant
    assert sentence(c) == "adam vs sgd: +2.00 pp — not tested (needs at least 2 seeds each; 1 seed each)."


def test_summary_sentence_separates_better_tied_and_untested() -> None:
    values = {"adam": [0.992, 0.991, 0.993], "rmsprop": [0.990, 0.993, 0.991], "sgd": [0.970, 0.971, 0.969]}
    assert summary_sentence(compare_to_best(values)) == (
        "Holm-corrected at 5%: adam is significantly better than sgd; "
        "adam cannot be told apart from rmsprop with these seeds."
    )
    single = compare_to_best({"adam": [0.99], "sgd": [0.97]})
    assert summary_sentence(single) == "Holm-corrected at 5%: sgd could not be tested (rerun with --seeds 3 or more)."
    assert summary_sentence([]) == "Fewer than two optimizers have results: nothing to compare."
