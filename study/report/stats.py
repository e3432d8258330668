"""Seeds as evidence: mean ± std with n, a t confidence interval, and which differences survive a test.

Each optimizer is compared with the best one (highest mean). The seed and tuned protocols run every optimizer
with the same seeds, so the comparison is paired: on the per-seed differences best − other, over the seeds
both have, by the paired t-test and, as a check that does not assume normal differences, the Wilcoxon
signed-rank test. A seed fixes the initial weights and the shuffling for every optimizer alike; pairing
removes that shared luck, which an unpaired test counts as noise. Welch's t-test (unpaired, unequal
variances) is the fallback when two optimizers share fewer than ``MIN_PAIRS`` seeds.

Each family of p-values (the t-tests, the Wilcoxon tests) is Holm-corrected over the comparisons it tested,
so "significant" holds for the whole family at ``ALPHA`` rather than per comparison. The verdict follows the
t-test; the Wilcoxon p-value is shown beside it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from scipy import stats

__all__ = [
    "ALPHA",
    "LEGEND",
    "MIN_PAIRS",
    "PAIRED_T",
    "WELCH_T",
    "WILCOXON_MIN_PAIRS",
    "Comparison",
    "Spread",
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
MIN_PAIRS = 2  # shared seeds needed to pair: the differences need a standard deviation
# Wilcoxon's smallest exact two-sided p with n unequal pairs is 2 / 2**n (every difference of one sign), so
# below this n it could never reject at ALPHA: it is reported as not tested rather than as a useless p.
WILCOXON_MIN_PAIRS = next(n for n in range(1, 64) if 2 / 2**n < ALPHA)
LEGEND = (
    "pp: percentage points, best minus other; [ ]: its 95% t confidence interval; p_holm: the two-sided p-value "
    f"after Holm's correction; significant: the t-test's p_holm < {ALPHA:.0%}."
)


@dataclass(frozen=True)
class Spread:
    optimizer: str
    n: int
    mean: float
    std: float | None  # sample standard deviation (n - 1); None for one seed
    ci_low: float | None  # 95% confidence interval of the mean, t distribution with n - 1 degrees of freedom
    ci_high: float | None


@dataclass(frozen=True)
class Comparison:
    best: str
    other: str
    test: str  # PAIRED_T on the shared seeds, or WELCH_T when fewer than MIN_PAIRS seeds are shared
    diff_pp: float  # best minus other, percentage points: the mean per-seed difference (paired) or of the means
    n_best: int  # seeds each optimizer has
    n_other: int
    n_pairs: int  # seeds both have: the paired tests' n (0 for Welch)
    p: float | None  # the t-test's two-sided p-value; None when it cannot be computed
    p_holm: float | None
    why_untested: str | None = None
    ci_low: float | None = None  # 95% t interval of diff_pp, percentage points
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


def spread(optimizer: str, values: Sequence[float], confidence: float = CONFIDENCE) -> Spread:
    n, mean = len(values), statistics.fmean(values)
    if n < 2:
        return Spread(optimizer, n, mean, None, None, None)
    std = statistics.stdev(values)
    return Spread(optimizer, n, mean, std, *t_interval(mean, std / math.sqrt(n), n - 1, confidence))


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
    low, high = t_interval(100 * mean, 100 * sd / math.sqrt(n), n - 1)
    p = float(stats.ttest_1samp(diffs, 0.0).pvalue)
    return replace(base, p=p, ci_low=low, ci_high=high)


def _welch(best: str, other: str, a: Sequence[float], b: Sequence[float]) -> Comparison:
    """Welch's t-test, with the Welch–Satterthwaite interval ``Δ ± t_{0.975, ν} · se``, where
    ``se² = s_a²/n_a + s_b²/n_b`` and ``ν = se⁴ / ((s_a²/n_a)²/(n_a-1) + (s_b²/n_b)²/(n_b-1))``."""
    diff = statistics.fmean(a) - statistics.fmean(b)
    base = Comparison(best, other, WELCH_T, 100 * diff, n_best=len(a), n_other=len(b), n_pairs=0, p=None, p_holm=None)
    if len(a) < 2 or len(b) < 2:
        return replace(base, why_untested="needs at least 2 seeds each")
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:
        return replace(base, why_untested="no spread across seeds")
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    low, high = t_interval(100 * diff, 100 * math.sqrt(va + vb), df)
    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return replace(base, p=p, ci_low=low, ci_high=high)


def _compare(best: str, other: str, a: Mapping[int, float], b: Mapping[int, float]) -> Comparison:
    shared = sorted(a.keys() & b.keys())
    if len(shared) >= MIN_PAIRS:
        return _paired(best, other, a, b, shared)
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
    if c.n_best == c.n_other:
        return f"{c.n_best} seed{'s' if c.n_best != 1 else ''} each"
    return f"{c.n_best} and {c.n_other} seeds"


def _check(c: Comparison) -> str:
    """What stands beside the t-test: Wilcoxon for a paired comparison, why it is unpaired otherwise."""
    if c.test != PAIRED_T:
        return f"fewer than {MIN_PAIRS} seeds shared"
    if c.wilcoxon_p_holm is None:
        return f"Wilcoxon not tested: {c.why_no_wilcoxon}"
    return f"Wilcoxon p_holm = {c.wilcoxon_p_holm:.2g}"


def sentence(c: Comparison) -> str:
    """One plain line, e.g. ``adam vs sgd: +3.80 pp [2.90, 4.70], paired t p_holm = 0.002 (Wilcoxon p_holm =
    0.031), 6 seeds — significant at 5%.``"""
    head = f"{c.best} vs {c.other}: {c.diff_pp:+.2f} pp"
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
    family = "Each family of p-values (t, Wilcoxon) is" if paired else "The p-values are"
    text.append(f"{family} Holm-corrected over the comparisons tested. {LEGEND}")
    return " ".join(text)


def summary_sentence(comparisons: Sequence[Comparison]) -> str:
    if not comparisons:
        return "Fewer than two optimizers have results: nothing to compare."
    best = comparisons[0].best
    better = [c.other for c in comparisons if c.significant]
    tied = [c.other for c in comparisons if c.p_holm is not None and not c.significant]
    untested = [c.other for c in comparisons if c.p_holm is None]
    parts = []
    if better:
        parts.append(f"{best} is significantly better than {', '.join(better)}")
    if tied:
        parts.append(f"{best} cannot be told apart from {', '.join(tied)} with these seeds")
    if untested:
        parts.append(f"{', '.join(untested)} could not be tested (rerun with --seeds 3 or more)")
    return f"Holm-corrected at {ALPHA:.0%}: " + "; ".join(parts) + "."
