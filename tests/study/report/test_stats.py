"""The comparisons on fixed numbers, against scipy and hand computations: paired t and Wilcoxon by seed, Holm,
the confidence intervals, the Welch fallback, the seeds needed, and the sentences that carry them."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats

from study.report.analysis import analyse
from study.report.power import MAX_SEEDS, paired_t_power, pairs_needed, seeds_needed, seeds_sentence
from study.report.records import StudyData, TrialRecord
from study.report.stats import (
    NO_TEST,
    PAIRED_T,
    WELCH_T,
    WILCOXON_MIN_PAIRS,
    compare_to_best,
    holm,
    method_note,
    sentence,
    summary_sentence,
)

# Six shared seeds: adam beats rmsprop by a hair (one seed the other way) and sgd by two points.
ADAM = {0: 0.9920, 1: 0.9918, 2: 0.9923, 3: 0.9931, 4: 0.9915, 5: 0.9927}
RMSPROP = {0: 0.9921, 1: 0.9905, 2: 0.9915, 3: 0.9925, 4: 0.9910, 5: 0.9912}
SGD = {0: 0.9700, 1: 0.9710, 2: 0.9695, 3: 0.9702, 4: 0.9690, 5: 0.9712}


def _pairs(a: dict[int, float], b: dict[int, float]) -> tuple[list[float], list[float]]:
    shared = sorted(a.keys() & b.keys())
    return [a[s] for s in shared], [b[s] for s in shared]


def test_paired_p_values_are_ttest_rel_and_wilcoxon_holm_corrected() -> None:
    rmsprop, sgd = compare_to_best({"sgd": SGD, "rmsprop": RMSPROP, "adam": ADAM})
    assert (rmsprop.best, rmsprop.other, sgd.other) == ("adam", "rmsprop", "sgd")  # runner-up first
    assert rmsprop.test == sgd.test == PAIRED_T and rmsprop.n_pairs == 6
    t_raw = [stats.ttest_rel(*_pairs(ADAM, other)).pvalue for other in (RMSPROP, SGD)]
    w_raw = [stats.wilcoxon(*_pairs(ADAM, other)).pvalue for other in (RMSPROP, SGD)]
    assert [rmsprop.p, sgd.p] == pytest.approx(t_raw)
    assert [rmsprop.wilcoxon_p, sgd.wilcoxon_p] == pytest.approx(w_raw)
    # Holm over two: the smaller p doubled, the larger kept, never below the one before it
    assert sgd.p_holm == pytest.approx(2 * t_raw[1]) and rmsprop.p_holm == pytest.approx(t_raw[0])
    assert [rmsprop.wilcoxon_p_holm, sgd.wilcoxon_p_holm] == pytest.approx(holm(w_raw))
    assert w_raw == pytest.approx([4 / 64, 2 / 64])  # exact: one negative pair of rank 1, then none
    assert [rmsprop.wilcoxon_p_holm, sgd.wilcoxon_p_holm] == pytest.approx([0.0625, 0.0625])
    assert rmsprop.significant and sgd.significant


def test_paired_interval_is_the_t_interval_of_the_differences_in_pp() -> None:
    (c,) = compare_to_best({"adam": ADAM, "rmsprop": RMSPROP})
    diffs = [100 * (ADAM[s] - RMSPROP[s]) for s in range(6)]
    mean, sd = statistics.fmean(diffs), statistics.stdev(diffs)
    half = stats.t.ppf(0.975, 5) * sd / math.sqrt(6)
    assert c.diff_pp == pytest.approx(mean) and c.diff_sd_pp == pytest.approx(sd)
    assert (c.ci_low, c.ci_high) == pytest.approx((mean - half, mean + half))
    assert c.ci_low is not None
    assert mean == pytest.approx(0.0766667, abs=1e-6) and c.ci_low > 0  # the interval excludes zero: p < 0.05
    ci = stats.ttest_rel(*_pairs(ADAM, RMSPROP)).confidence_interval()
    assert (c.ci_low, c.ci_high) == pytest.approx((100 * ci.low, 100 * ci.high))


def test_only_seeds_both_have_are_paired() -> None:
    partial = {s: v for s, v in RMSPROP.items() if s < 4} | {9: 0.95}  # seeds 4, 5 lost; seed 9 adam never ran
    (c,) = compare_to_best({"adam": ADAM, "rmsprop": partial})
    assert c.test == PAIRED_T and (c.n_best, c.n_other, c.n_pairs) == (6, 5, 4)
    assert c.p == pytest.approx(stats.ttest_rel(*_pairs(ADAM, partial)).pvalue)
    assert c.diff_pp == pytest.approx(100 * statistics.fmean(ADAM[s] - RMSPROP[s] for s in range(4)))
    assert c.wilcoxon_p is None and c.why_no_wilcoxon == f"needs ≥ {WILCOXON_MIN_PAIRS} unequal pairs"
    assert ", 4 shared seeds — " in sentence(c)


def test_welch_when_seeds_are_not_shared_with_a_welch_satterthwaite_interval() -> None:
    a = {0: 0.990, 1: 0.980, 2: 0.985, 3: 0.987}
    b = {10: 0.970, 11: 0.960, 12: 0.975}
    (c,) = compare_to_best({"adam": a, "sgd": b})
    xs, ys = list(a.values()), list(b.values())
    assert c.test == WELCH_T and c.n_pairs == 0 and c.wilcoxon_p is None
    assert c.p == pytest.approx(stats.ttest_ind(xs, ys, equal_var=False).pvalue) and c.p_holm == c.p
    va, vb = statistics.variance(xs) / 4, statistics.variance(ys) / 3
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 2)
    diff = 100 * (statistics.fmean(xs) - statistics.fmean(ys))
    half = stats.t.ppf(0.975, df) * 100 * math.sqrt(va + vb)
    assert (c.ci_low, c.ci_high) == pytest.approx((diff - half, diff + half))
    ci = stats.ttest_ind(xs, ys, equal_var=False).confidence_interval()
    assert (c.ci_low, c.ci_high) == pytest.approx((100 * ci.low, 100 * ci.high))
    assert sentence(c) == (
        f"adam vs sgd: +1.72 pp [{c.ci_low:.2f}, {c.ci_high:.2f}], Welch t p_holm = {c.p:.2g} "
        "(fewer than 2 seeds shared), 4 and 3 seeds — significant at 5%."
    )
    assert "Welch's unpaired t-test" in method_note([c]) and "Wilcoxon" not in method_note([c])
    # one shared seed is not a pairing: Welch on all the values
    (one,) = compare_to_best({"adam": a, "sgd": b | {0: 0.97}})
    assert one.test == WELCH_T and one.n_other == 4


def test_wilcoxon_needs_enough_unequal_pairs_and_drops_equal_ones() -> None:
    assert stats.wilcoxon([1, 2, 3, 4, 5]).pvalue >= 0.05 > stats.wilcoxon([1, 2, 3, 4, 5, 6]).pvalue
    assert WILCOXON_MIN_PAIRS == 6
    a = dict.fromkeys(range(8), 0.99)
    b = {s: 0.99 - (s + 1) / 1e4 if s < 6 else 0.99 for s in range(8)}  # two equal pairs, six unequal
    (c,) = compare_to_best({"adam": a, "sgd": b})
    assert c.wilcoxon_p == pytest.approx(stats.wilcoxon(*_pairs(a, b)).pvalue)  # zero_method "wilcox"
    assert c.wilcoxon_p == pytest.approx(2 / 64)
    (five,) = compare_to_best({"adam": a, "sgd": b | {5: 0.99}})  # five unequal pairs
    assert five.wilcoxon_p is None and five.p is not None
    assert "(Wilcoxon not tested: needs ≥ 6 unequal pairs)" in sentence(five)


def test_pairs_without_spread_are_reported_not_tested() -> None:
    (same,) = compare_to_best({"adam": {0: 0.99, 1: 0.98, 2: 0.97}, "sgd": {0: 0.99, 1: 0.98, 2: 0.97}})
    assert same.p is None and same.wilcoxon_p is None and not same.significant
    assert same.why_no_wilcoxon == "every pair is equal"
    (shift,) = compare_to_best({"adam": {0: 0.99, 1: 0.98, 2: 0.97}, "sgd": {0: 0.98, 1: 0.97, 2: 0.96}})
    assert shift.p is None and shift.diff_pp == pytest.approx(1.0)
    assert sentence(shift) == (
        "adam vs sgd: +1.00 pp, paired t not tested (every seed differs by the same amount: no spread to test "
        "against; Wilcoxon not tested: needs ≥ 6 unequal pairs), 3 seeds."
    )
    assert seeds_sentence(seeds_needed(shift)) == (
        "Seeds needed to separate adam from sgd: cannot be estimated (their per-seed differences have no spread)."
    )


def test_rendered_sentences() -> None:
    rmsprop, sgd = compare_to_best({"adam": ADAM, "rmsprop": RMSPROP, "sgd": SGD})
    assert sentence(rmsprop) == (
        "adam vs rmsprop: +0.08 pp [0.02, 0.14], paired t p_holm = 0.023 (Wilcoxon p_holm = 0.062), 6 seeds "
        "— significant at 5%."
    )
    assert sentence(sgd) == (
        "adam vs sgd: +2.21 pp [2.12, 2.29], paired t p_holm = 3e-08 (Wilcoxon p_holm = 0.062), 6 seeds "
        "— significant at 5%."
    )
    three = {s: ADAM[s] for s in range(3)}
    (tied,) = compare_to_best({"adam": three, "rmsprop": RMSPROP})
    assert sentence(tied).endswith("(Wilcoxon not tested: needs ≥ 6 unequal pairs), 3 shared seeds — not significant.")
    note = method_note([rmsprop, sgd])
    assert "paired t-test" in note and "Wilcoxon signed-rank" in note and "Welch" not in note


def test_one_seed_cannot_be_tested_and_names_no_test() -> None:
    """The same seed 0 for both: paired by design, and with one seed no test at all (not "Welch t not tested")."""
    (c,) = compare_to_best({"adam": {0: 0.99}, "sgd": {0: 0.97}})
    assert c.test == NO_TEST and c.p is None and not c.significant and c.n_pairs == 1
    assert sentence(c) == (
        "adam vs sgd: +2.00 pp, not tested (one seed each: no test is possible with one seed), 1 seed shared."
    )
    note = method_note([c])
    assert "Every optimizer ran one seed: no test is possible with one seed" in note and "on the same seed" in note
    assert "Welch" not in note and "paired t-test" not in note and "Holm" not in note
    assert seeds_sentence(seeds_needed(c)) == (
        "Seeds needed to separate adam from sgd: cannot be estimated (with one seed the spread of the per-seed "
        "differences is unknown)."
    )
    # one seed on one side only, among other seeds: still no test, and the other side's seeds are not "not shared"
    (lone,) = compare_to_best({"adam": {0: 0.99, 1: 0.98, 2: 0.985}, "sgd": {0: 0.97}})
    assert lone.test == NO_TEST and lone.why_untested == "sgd has one seed: no test is possible with one seed"
    assert "no test is possible with one seed on a side" in method_note([lone])
    # unshared single seeds: the difference of the means, still no test
    (apart,) = compare_to_best({"adam": {0: 0.99}, "sgd": {7: 0.97}})
    assert apart.test == NO_TEST and apart.n_pairs == 0 and sentence(apart).endswith(", 1 seed each.")


def test_summary_sentence_separates_better_tied_and_untested() -> None:
    three = {name: {s: v[s] for s in range(3)} for name, v in {"adam": ADAM, "rmsprop": RMSPROP, "sgd": SGD}.items()}
    assert summary_sentence(compare_to_best(three)) == (
        "Holm-corrected at 5%: adam is significantly better than sgd; "
        "adam cannot be told apart from rmsprop with these seeds."
    )
    single = compare_to_best({"adam": {0: 0.99}, "sgd": {0: 0.97}})
    assert summary_sentence(single) == (
        "Not tested: no test is possible with one seed (sgd against adam; rerun with --seeds 3 or more)."
    )
    assert summary_sentence([]) == "Fewer than two optimizers have results: nothing to compare."


def _brute_force_pairs(effect: float) -> int:
    """The smallest n whose two-sided paired-t power, straight from the noncentral t's cdf, reaches 80%."""
    for n in range(2, 1000):
        crit = stats.t.ppf(0.975, n - 1)
        nc = effect * math.sqrt(n)
        lower = stats.nct.cdf(-crit, n - 1, nc)  # nan far in the tail, where it is ~0
        if 1 - stats.nct.cdf(crit, n - 1, nc) + (0.0 if math.isnan(lower) else lower) >= 0.8:
            return n
    raise AssertionError("no n below 1000")


@pytest.mark.parametrize("effect", [0.2, 0.5, 0.8, 1.0, 1.3253, 2.0, 4.0, 20.0])
def test_pairs_needed_is_the_smallest_n_with_80_percent_power(effect: float) -> None:
    n = pairs_needed(effect)
    assert n == _brute_force_pairs(effect)
    assert paired_t_power(n, effect) >= 0.8 and (n == 2 or paired_t_power(n - 1, effect) < 0.8)


def test_pairs_needed_matches_the_textbook_and_gives_up_beyond_the_cap() -> None:
    assert pairs_needed(0.5) == 34  # Cohen's medium effect, paired: the G*Power table value
    # large n: the normal approximation ((z_0.975 + z_0.8) / effect)², which the t version exceeds by a seed or two
    for effect in (0.03, 0.1):
        normal = ((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) / effect) ** 2
        assert normal < pairs_needed(effect) <= normal + 3
    assert pairs_needed(0.028) is None and MAX_SEEDS < ((2.8016 / 0.028) ** 2)  # just past the cap


def test_seeds_needed_for_the_top_two() -> None:
    three = {name: {s: v[s] for s in range(3)} for name, v in {"adam": ADAM, "rmsprop": RMSPROP}.items()}
    (c,) = compare_to_best(three)
    needed = seeds_needed(c)
    diffs = [100 * (ADAM[s] - RMSPROP[s]) for s in range(3)]
    assert needed.n == _brute_force_pairs(statistics.fmean(diffs) / statistics.stdev(diffs))
    assert (needed.have, needed.n) == (3, 11)
    assert seeds_sentence(needed) == (
        "Seeds needed to separate adam from rmsprop: 11 (paired t at 5% two-sided before Holm, 80% power, if the "
        "observed +0.07 pp with a per-seed spread of 0.07 pp were the truth; this study has 3, so this is a rough "
        "guide)."
    )
    (welch,) = compare_to_best({"adam": {0: 0.99, 1: 0.98}, "sgd": {5: 0.97, 6: 0.96}})
    assert seeds_needed(welch).n is None
    assert "cannot be estimated (their seeds are not shared" in seeds_sentence(seeds_needed(welch))
    (equal,) = compare_to_best({"adam": {0: 0.99, 1: 0.98}, "sgd": {0: 0.98, 1: 0.99}})
    assert seeds_sentence(seeds_needed(equal)).endswith("cannot be estimated (they do not differ on average).")
    # a mean difference of 0.001 pp against a spread near 0.1 pp: effect ~0.01, about 78,000 pairs
    (tiny,) = compare_to_best({"adam": {0: 0.501, 1: 0.399, 2: 0.60003}, "sgd": {0: 0.5, 1: 0.4, 2: 0.6}})
    assert "separate adam from sgd: more than 10,000 (" in seeds_sentence(seeds_needed(tiny))


def _final(optimizer: str, number: int, seed: int | None, acc: float) -> TrialRecord:
    return TrialRecord("s.final", number, "COMPLETE", optimizer, 1e-3, 64, seed, "final", 0.99, 2, 1.0, test_acc=acc)


def test_analysis_keeps_the_seed_of_each_value() -> None:
    trials = [
        _final("adam", 0, 10_000, 0.992),
        _final("adam", 1, 10_001, 0.990),
        _final("sgd", 2, 10_000, 0.970),
        _final("sgd", 3, 10_001, 0.960),
        _final("sgd", 4, 10_001, 0.971),  # a retry of seed 10_001: the later trial counts
        _final("sgd", 5, None, 0.5),  # no seed recorded: cannot be paired, left out
    ]
    data = StudyData("s", "tuned", ("s.final",), tuple(trials), "journal", "sqlite://", "e", "run")
    sig = analyse(data).significance
    assert sig is not None and sig.metric == "test accuracy"
    assert sig.values == {"adam": {10_000: 0.992, 10_001: 0.990}, "sgd": {10_000: 0.970, 10_001: 0.971}}
    (c,) = sig.comparisons
    assert c.test == PAIRED_T and c.n_pairs == 2
    assert c.p == pytest.approx(stats.ttest_rel([0.992, 0.990], [0.970, 0.971]).pvalue)
    assert sig.seeds_needed is not None and sig.seeds_needed.other == "sgd"
