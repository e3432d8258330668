"""Seeds as evidence: mean ± std with n, a confidence interval that stays in [0, 1], and which differences survive
a test.

An accuracy lies in [0, 1], and a t interval around a mean near 1 from two or three seeds easily crosses 1 (a
tuned report once printed 0.4248 – 1.0982). Each optimizer's interval is therefore a t interval computed on the
logit scale, ``log(p / (1 - p))``, where the values are unbounded, and mapped back: it stays inside (0, 1), is
wide where the seeds disagree and narrow where they agree, and needs at least ``MIN_INTERVAL_SEEDS`` seeds.

Each optimizer is compared with the best one (highest mean). The seed and tuned protocols run every optimizer
with the same seeds, so the comparison is paired: on the per-seed differences best − other, over the seeds
both have, by the paired t-test and, as a check that does not assume normal differences, the Wilcoxon
signed-rank test. A seed fixes the initial weights and the shuffling for every optimizer alike; pairing
removes that shared luck, which an unpaired test counts as noise. Welch's t-test (unpaired, unequal
variances) is the fallback when two optimizers share fewer than ``MIN_PAIRS`` seeds but each has at least two.
With one seed (each, or on either side) no test is possible: there is no seed-to-seed spread to test against, and
the report says so rather than naming a test it could not run. Intervals of differences are in percentage points
and capped at ±100 pp, the most two accuracies can differ by.

Each family of p-values (the t-tests, the Wilcoxon tests) is Holm-corrected over the comparisons it tested,
so "significant" holds for the whole family at ``ALPHA`` rather than per comparison. The verdict follows the
t-test; the Wilcoxon p-value is shown beside it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from scipy import special, stats

__all__ = [
    "ALPHA",
    "INTERVAL_NOTE",
    "LEGEND",
    "MAX_DIFF_PP",
    "MIN_INTERVAL_SEEDS",
    "MIN_PAIRS",
    "NO_TEST",
    "PAIRED_T",
    "WELCH_T",
    "WILCOXON_MIN_PAIRS",
    "Comparison",
    "Spread",
    "bounded_interval",
    "compare_to_best",
    "holm",
    "method_note",
    "sentence",
    "spread",
    "summary_sentence",
    "t_interval",
]

ALPHA = 0.05
CONFIDENCE = 0.95
PAIRED_T = "paired t"
WELCH_T = "Welch t"
NO_TEST = "no test"  # one seed on a side: nothing to test against
MIN_PAIRS = 2  # shared seeds needed to pair: the differences need a standard deviation
MIN_INTERVAL_SEEDS = 2  # an interval needs a standard deviation
MAX_DIFF_PP = 100.0  # two accuracies differ by at most 100 percentage points
# An accuracy of exactly 0 or 1 has no logit: it is moved this far inside (well below one image in a million).
_LOGIT_EPS = 1e-9
INTERVAL_NOTE = (
    "95% CI: the t interval of the mean computed on the logit scale, log(p / (1 − p)), of the per-seed accuracies "
    f"and mapped back, so it stays within [0, 1]; none with fewer than {MIN_INTERVAL_SEEDS} seeds."
)
# Wilcoxon's smallest exact two-sided p with n unequal pairs is 2 / 2**n (every difference of one sign), so
# below this n it could never reject at ALPHA: it is reported as not tested rather than as a useless p.
WILCOXON_MIN_PAIRS = next(n for n in range(1, 64) if 2 / 2**n < ALPHA)
LEGEND = (
    "pp: percentage points, best minus other; [ ]: its 95% t confidence interval (within ±100 pp); p_holm: the "
    f"two-sided p-value after Holm's correction; significant: the t-test's p_holm < {ALPHA:.0%}."
)


@dataclass(frozen=True)
class Spread:
    optimizer: str
    n: int
    mean: float
    std: float | None  # sample standard deviation (n - 1); None for one seed
    ci_low: float | None  # 95% interval (``bounded_interval``): inside [0, 1]; None with fewer than 2 seeds
    ci_high: float | None


@dataclass(frozen=True)
class Comparison:
    best: str
    other: str
    test: str  # PAIRED_T on the shared seeds, WELCH_T when fewer than MIN_PAIRS are shared, NO_TEST with one seed
    diff_pp: float  # best minus other, percentage points: the mean per-seed difference (paired) or of the means
    n_best: int  # seeds each optimizer has
    n_other: int
    n_pairs: int  # seeds both have: the paired tests' n (0 for Welch)
    p: float | None  # the t-test's two-sided p-value; None when it cannot be computed
    p_holm: float | None
    why_untested: str | None = None
    ci_low: float | None = None  # 95% t interval of diff_pp, percentage points, within ±MAX_DIFF_PP
    ci_high: float | None = None
    diff_sd_pp: float | None = None  # standard deviation of the per-seed differences, pp (paired only)
    wilcoxon_p: float | None = None  # paired only
    wilcoxon_p_holm: float | None = None
    why_no_wilcoxon: str | None = None

    @property
    def significant(self) -> bool:
        return self.p_holm is not None and self.p_holm < ALPHA


def t_interval(mean: float, se: float, df: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """``mean ± t_{(1+confidence)/2, df} · se``: the t confidence interval of a mean (or of a difference)."""
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return mean - half, mean + half


def _capped(low: float, high: float) -> tuple[float, float]:
    """An interval of a difference of accuracies, in pp, kept to what such a difference can be."""
    return max(low, -MAX_DIFF_PP), min(high, MAX_DIFF_PP)


def bounded_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The interval of the mean of values in [0, 1]: the t interval of their logits, mapped back by the logistic
    function, so it cannot leave (0, 1). None with fewer than ``MIN_INTERVAL_SEEDS`` values."""
    n = len(values)
    if n < MIN_INTERVAL_SEEDS:
        return None
    logits = [float(special.logit(min(max(v, _LOGIT_EPS), 1 - _LOGIT_EPS))) for v in values]
    center, sd = statistics.fmean(logits), statistics.stdev(logits)
    low, high = t_interval(center, sd / math.sqrt(n), n - 1, confidence)
    return float(special.expit(low)), float(special.expit(high))


def spread(optimizer: str, values: Sequence[float], confidence: float = CONFIDENCE) -> Spread:
    """Mean ± std with n, and ``bounded_interval``: the values are accuracies, in [0, 1]."""
    n, mean = len(values), statistics.fmean(values)
    interval = bounded_interval(values, confidence)
    if n < 2 or interval is None:
        return Spread(optimizer, n, mean, None, None, None)
    return Spread(optimizer, n, mean, statistics.stdev(values), *interval)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: the i-th smallest p is multiplied by (m - i), kept monotone, capped at 1."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def _wilcoxon(diffs: Sequence[float]) -> tuple[float | None, str | None]:
    unequal = sum(d != 0 for d in diffs)
    if unequal == 0:
        return None, "every pair is equal"
    if unequal < WILCOXON_MIN_PAIRS:
        return None, f"needs ≥ {WILCOXON_MIN_PAIRS} unequal pairs"
    # zero_method "wilcox" (scipy's default): an equal pair has no sign and is dropped
    return float(stats.wilcoxon(diffs).pvalue), None


def _paired(best: str, other: str, a: Mapping[int, float], b: Mapping[int, float], shared: list[int]) -> Comparison:
    """The paired t-test (what ``scipy.stats.ttest_rel`` computes) and Wilcoxon on the per-seed differences,
    with the t interval ``mean(d) ± t_{0.975, n-1} · sd(d) / √n``."""
    # Accuracies are counts over one evaluation set: rounding away float noise keeps equal differences equal,
    # which Wilcoxon's ranks (ties, zeros) and the no-spread check rely on.
    diffs = [round(a[s] - b[s], 12) for s in shared]
    n, mean, sd = len(diffs), statistics.fmean(diffs), statistics.stdev(diffs)
    w_p, why_no_w = _wilcoxon(diffs)
    base = Comparison(
        best, other, PAIRED_T, 100 * mean, n_best=len(a), n_other=len(b), n_pairs=n, p=None, p_holm=None,
        diff_sd_pp=100 * sd, wilcoxon_p=w_p, why_no_wilcoxon=why_no_w,
    )  # fmt: skip
    if sd == 0:
        return replace(base, why_untested="every seed differs by the same amount: no spread to test against")
    low, high = _capped(*t_interval(100 * mean, 100 * sd / math.sqrt(n), n - 1))
    p = float(stats.ttest_1samp(diffs, 0.0).pvalue)
    return replace(base, p=p, ci_low=low, ci_high=high)


def _welch(best: str, other: str, a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Welch's t-test, with the Welch–Satterthwaite interval ``Δ ± t_{0.975, ν} · se``, where
    ``se² = s_a²/n_a + s_b²/n_b`` and ``ν = se⁴ / ((s_a²/n_a)²/(n_a-1) + (s_b²/n_b)²/(n_b-1))``. Both sides have
    at least two seeds (``_compare`` sends one seed to ``_one_seed``)."""
    diff = statistics.fmean(a) - statistics.fmean(b)
    base = Comparison(best, other, WELCH_T, 100 * diff, n_best=len(a), n_other=len(b), n_pairs=0, p=None, p_holm=None)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return replace(base, why_untested="no spread across seeds")
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    low, high = _capped(*t_interval(100 * diff, 100 * math.sqrt(va + vb), df))
    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return replace(base, p=p, ci_low=low, ci_high=high)


def _one_seed(best: str, other: str, a: Mapping[int, float], b: Mapping[int, float], shared: list[int]) -> Comparison:
    """One seed on a side: no test, paired or not, has a spread to test against. The difference shown is the
    per-seed one where the two share a seed (the same seed: the same initial weights and batch order), else the
    difference of the means."""
    if shared:
        diff = statistics.fmean(a[s] - b[s] for s in shared)
    else:
        diff = statistics.fmean(a.values()) - statistics.fmean(b.values())
    who = "one seed each" if len(a) == len(b) == 1 else f"{best if len(a) == 1 else other} has one seed"
    return Comparison(
        best, other, NO_TEST, 100 * diff, n_best=len(a), n_other=len(b), n_pairs=len(shared), p=None, p_holm=None,
        why_untested=f"{who}: no test is possible with one seed",
    )  # fmt: skip


def _compare(best: str, other: str, a: Mapping[int, float], b: Mapping[int, float]) -> Comparison:
    shared = sorted(a.keys() & b.keys())
    if len(shared) >= MIN_PAIRS:
        return _paired(best, other, a, b, shared)
    if min(len(a), len(b)) < 2:
        return _one_seed(best, other, a, b, shared)
    return _welch(best, other, list(a.values()), list(b.values()))


def _holm_of(comparisons: Sequence[Comparison], p_of: Callable[[Comparison], float | None]) -> dict[str, float]:
    raw = {c.other: p for c in comparisons if (p := p_of(c)) is not None}
    return dict(zip(raw, holm(list(raw.values())), strict=True))


def compare_to_best(values: Mapping[str, Mapping[int, float]]) -> list[Comparison]:
    """Each optimizer (seed -> value) against the one with the highest mean, paired by seed when they share
    seeds; each family of p-values is Holm-corrected over the comparisons it tested. Others come best first."""
    present = {name: v for name, v in values.items() if v}
    if len(present) < 2:
        return []
    means = {name: statistics.fmean(v.values()) for name, v in present.items()}
    best = max(present, key=lambda name: means[name])
    others = sorted((n for n in present if n != best), key=lambda n: -means[n])
    tested = [_compare(best, name, present[best], present[name]) for name in others]
    t_holm = _holm_of(tested, lambda c: c.p)
    w_holm = _holm_of(tested, lambda c: c.wilcoxon_p)
    return [replace(c, p_holm=t_holm.get(c.other), wilcoxon_p_holm=w_holm.get(c.other)) for c in tested]


def _seeds(c: Comparison) -> str:
    if c.test == PAIRED_T:
        shared = "" if c.n_best == c.n_other == c.n_pairs else " shared"
        return f"{c.n_pairs}{shared} seeds"
    if c.test == NO_TEST and c.n_pairs:
        return f"{c.n_pairs} seed{'s' if c.n_pairs != 1 else ''} shared"
    if c.n_best == c.n_other:
        return f"{c.n_best} seed{'s' if c.n_best != 1 else ''} each"
    return f"{c.n_best} and {c.n_other} seeds"


def _check(c: Comparison) -> str:
    """What stands beside the t-test: Wilcoxon for a paired comparison, why it is unpaired otherwise."""
    if c.test == WELCH_T:
        return f"fewer than {MIN_PAIRS} seeds shared"
    if c.wilcoxon_p_holm is None:
        return f"Wilcoxon not tested: {c.why_no_wilcoxon}"
    return f"Wilcoxon p_holm = {c.wilcoxon_p_holm:.2g}"


def sentence(c: Comparison) -> str:
    """One plain line, e.g. ``adam vs sgd: +3.80 pp [2.90, 4.70], paired t p_holm = 0.002 (Wilcoxon p_holm =
    0.031), 6 seeds — significant at 5%.``"""
    head = f"{c.best} vs {c.other}: {c.diff_pp:+.2f} pp"
    if c.test == NO_TEST:
        return f"{head}, not tested ({c.why_untested}), {_seeds(c)}."
    if c.p_holm is None or c.ci_low is None or c.ci_high is None:
        return f"{head}, {c.test} not tested ({c.why_untested}; {_check(c)}), {_seeds(c)}."
    verdict = f"significant at {ALPHA:.0%}" if c.significant else "not significant"
    return (
        f"{head} [{c.ci_low:.2f}, {c.ci_high:.2f}], {c.test} p_holm = {c.p_holm:.2g} ({_check(c)}), "
        f"{_seeds(c)} — {verdict}."
    )


def method_note(comparisons: Sequence[Comparison]) -> str:
    """How the optimizers were compared, naming only the tests these comparisons used, and the legend."""
    text = []
    paired = any(c.test == PAIRED_T for c in comparisons)
    if paired:
        text.append(
            "Where the best optimizer and another ran the same seeds (a seed fixes the initial weights and the "
            "shuffling), they are compared on the per-seed differences over the seeds both have: by the paired t-test, "
            "and by the Wilcoxon signed-rank test as a check that does not assume the differences are normal (with "
            f"fewer than {WILCOXON_MIN_PAIRS} unequal pairs it could never reach {ALPHA:.0%}, so it is not run)."
        )
    if welch := [c.other for c in comparisons if c.test == WELCH_T]:
        text.append(
            f"{', '.join(welch)}: fewer than {MIN_PAIRS} seeds shared with the best, so compared by Welch's unpaired "
            "t-test (unequal variances allowed)."
        )
    if single := [c for c in comparisons if c.test == NO_TEST]:
        text.append(_one_seed_note(single, len(single) == len(comparisons)))
    if len(single) < len(comparisons):
        family = "Each family of p-values (t, Wilcoxon) is" if paired else "The p-values are"
        text.append(f"{family} Holm-corrected over the comparisons tested. {LEGEND}")
    return " ".join(text)


def _one_seed_note(single: Sequence[Comparison], every: bool) -> str:
    """Why some (or all) comparisons have no test: one seed, hence no seed-to-seed spread to test against."""
    paired = all(c.n_pairs == 1 for c in single)
    how = "on the same seed, " if paired else ""
    if every and all(c.n_best == c.n_other == 1 for c in single):
        return (
            f"Every optimizer ran one seed: no test is possible with one seed, as a test weighs a difference against "
            f"the seed-to-seed spread, which one seed cannot show. The differences below are single runs {how}"
            "best minus other, in percentage points (pp); rerun with --seeds 3 or more to test them."
        )
    names = ", ".join(c.other for c in single)
    return f"{names}: no test is possible with one seed on a side (no seed-to-seed spread to test against)."


def summary_sentence(comparisons: Sequence[Comparison]) -> str:
    if not comparisons:
        return "Fewer than two optimizers have results: nothing to compare."
    best = comparisons[0].best
    better = [c.other for c in comparisons if c.significant]
    tied = [c.other for c in comparisons if c.p_holm is not None and not c.significant]
    untested = [c.other for c in comparisons if c.p_holm is None and c.test != NO_TEST]
    single = [c.other for c in comparisons if c.test == NO_TEST]
    parts = []
    if better:
        parts.append(f"{best} is significantly better than {', '.join(better)}")
    if tied:
        parts.append(f"{best} cannot be told apart from {', '.join(tied)} with these seeds")
    if untested:
        parts.append(f"{', '.join(untested)} could not be tested (rerun with --seeds 3 or more)")
    one_seed = f"no test is possible with one seed ({', '.join(single)} against {best}; rerun with --seeds 3 or more)"
    if not better and not tied and not untested:
        return f"Not tested: {one_seed}."
    if single:
        parts.append(one_seed)
    return f"Holm-corrected at {ALPHA:.0%}: " + "; ".join(parts) + "."
