"""Seeds as evidence: mean ± std with n, a t confidence interval, and which differences survive a test.

Each optimizer is compared with the best one (highest mean) by Welch's t-test, which does not assume equal
variances; the p-values of those k-1 comparisons are Holm-corrected, so "significant" holds for the whole
family at the chosen level rather than per comparison.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

__all__ = ["ALPHA", "Comparison", "Spread", "compare_to_best", "holm", "sentence", "spread", "summary_sentence"]

ALPHA = 0.05


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
    diff_pp: float  # best mean minus other mean, in percentage points
    n_best: int
    n_other: int
    p: float | None  # Welch's two-sided p-value; None when it cannot be computed
    p_holm: float | None
    why_untested: str | None = None

    @property
    def significant(self) -> bool:
        return self.p_holm is not None and self.p_holm < ALPHA


def spread(optimizer: str, values: Sequence[float], confidence: float = 0.95) -> Spread:
    n, mean = len(values), statistics.fmean(values)
    if n < 2:
        return Spread(optimizer, n, mean, None, None, None)
    std = statistics.stdev(values)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return Spread(optimizer, n, mean, std, mean - half, mean + half)


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


def _welch(a: Sequence[float], b: Sequence[float]) -> tuple[float | None, str | None]:
    if len(a) < 2 or len(b) < 2:
        return None, "needs at least 2 seeds each"
    if statistics.stdev(a) == 0 and statistics.stdev(b) == 0:
        return None, "no spread across seeds"
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue), None


def compare_to_best(values: Mapping[str, Sequence[float]]) -> list[Comparison]:
    """Each optimizer against the one with the highest mean, Holm-corrected over the comparisons tested."""
    present = {name: list(v) for name, v in values.items() if v}
    if len(present) < 2:
        return []
    best = max(present, key=lambda name: statistics.fmean(present[name]))
    others = sorted((n for n in present if n != best), key=lambda n: -statistics.fmean(present[n]))
    tests = {name: _welch(present[best], present[name]) for name in others}
    raw = {name: p for name, (p, _) in tests.items() if p is not None}
    adjusted = dict(zip(raw, holm(list(raw.values())), strict=True))
    return [
        Comparison(
            best=best,
            other=name,
            diff_pp=100 * (statistics.fmean(present[best]) - statistics.fmean(present[name])),
            n_best=len(present[best]),
            n_other=len(present[name]),
            p=tests[name][0],
            p_holm=adjusted.get(name),
            why_untested=tests[name][1],
        )
        for name in others
    ]


def _seeds(c: Comparison) -> str:
    if c.n_best == c.n_other:
        return f"{c.n_best} seed{'s' if c.n_best != 1 else ''} each"
    return f"{c.n_best} and {c.n_other} seeds"


def sentence(c: Comparison) -> str:
    """One plain line, e.g. ``adam vs rmsprop: +0.12 pp, p = 0.31 — not significant with 3 seeds each``."""
    head = f"{c.best} vs {c.other}: {c.diff_pp:+.2f} pp"
    if c.p is None or c.p_holm is None:
        return f"{head} — not tested ({c.why_untested}; {_seeds(c)})."
    verdict = f"significant at {ALPHA:.0%}" if c.significant else "not significant"
    return f"{head}, p = {c.p:.2g} (Holm-adjusted {c.p_holm:.2g}) — {verdict} with {_seeds(c)}."


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
