"""How many seeds would separate the top two optimizers: the paired t-test's power at the spread observed.

The answer takes the observed mean difference and the standard deviation of the per-seed differences as the
truth, and both are estimated from the few seeds the study ran: read it as an order of magnitude, not a promise.
It is for one comparison at ``ALPHA`` before Holm's correction, which asks for a few seeds more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from scipy import stats

from study.report.stats import ALPHA, NO_TEST, PAIRED_T, Comparison

__all__ = ["MAX_SEEDS", "POWER", "SeedsNeeded", "pairs_needed", "paired_t_power", "seeds_needed", "seeds_sentence"]

POWER = 0.8
MAX_SEEDS = 10_000  # beyond this the report says "more than", as no study would run that many


@dataclass(frozen=True)
class SeedsNeeded:
    best: str
    other: str
    n: int | None  # seeds per optimizer for POWER at ALPHA; None when above MAX_SEEDS or not estimable
    have: int  # seeds the two share in this study
    diff_pp: float  # the observed mean per-seed difference, percentage points
    sd_pp: float | None  # the observed standard deviation of the per-seed differences, percentage points
    why_not: str | None = None  # why it cannot be estimated; None when n is a number or above MAX_SEEDS


def paired_t_power(n: int, effect: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t-test with ``n`` pairs whose differences have mean / sd = ``effect``.

    The statistic ``T = mean(d) / (sd(d) / √n)`` follows a noncentral t distribution with ``n - 1`` degrees
    of freedom and noncentrality ``λ = effect · √n``, and the test rejects when ``|T| > t_c``:

        power(n) = P(T > t_c) + P(T < -t_c) = S_nct(t_c; n-1, λ) + S_nct(t_c; n-1, -λ),
        t_c = t_{1-α/2, n-1},

    with S the survival function (1 - cdf); the second term uses P(T < -t | λ) = P(T > t | -λ), since
    scipy's ``nct.cdf`` far in the tail opposite a large λ can return nan where ``nct.sf`` returns ~0.
    """
    df, nc = n - 1, effect * math.sqrt(n)
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    return float(stats.nct.sf(crit, df, nc) + stats.nct.sf(crit, df, -nc))


def pairs_needed(effect: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """The smallest ``n ≥ 2`` with ``paired_t_power(n, effect) ≥ power``; None above ``MAX_SEEDS``.

    Power grows with n, so doubling brackets the answer and bisection finds it in O(log n) evaluations.
    """
    if paired_t_power(MAX_SEEDS, effect, alpha) < power:
        return None
    low, high = 1, 2  # power(low) < power ≤ power(high) once the doubling stops; n = 1 has no test at all
    while paired_t_power(high, effect, alpha) < power:
        low, high = high, min(2 * high, MAX_SEEDS)
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (low, mid) if paired_t_power(mid, effect, alpha) >= power else (mid, high)
    return high


def seeds_needed(c: Comparison) -> SeedsNeeded:
    """For the best optimizer against ``c.other`` (the runner-up when given ``compare_to_best(...)[0]``)."""
    base = SeedsNeeded(c.best, c.other, None, c.n_pairs, c.diff_pp, c.diff_sd_pp)
    if c.test == NO_TEST:
        return replace(base, why_not="with one seed the spread of the per-seed differences is unknown")
    if c.test != PAIRED_T or c.diff_sd_pp is None:
        return replace(base, why_not="their seeds are not shared, and the estimate is for paired seeds")
    if c.diff_pp == 0:
        return replace(base, why_not="they do not differ on average")
    if c.diff_sd_pp == 0:
        return replace(base, why_not="their per-seed differences have no spread")
    return replace(base, n=pairs_needed(abs(c.diff_pp) / c.diff_sd_pp))


def seeds_sentence(s: SeedsNeeded) -> str:
    """One line, e.g. ``Seeds needed to separate adam from rmsprop: 18 (paired t, ...; this study has 3).``"""
    head = f"Seeds needed to separate {s.best} from {s.other}"
    if s.why_not is not None or s.sd_pp is None:
        return f"{head}: cannot be estimated ({s.why_not})."
    count = str(s.n) if s.n is not None else f"more than {MAX_SEEDS:,}"
    return (
        f"{head}: {count} (paired t at {ALPHA:.0%} two-sided before Holm, {POWER:.0%} power, if the observed "
        f"{s.diff_pp:+.2f} pp with a per-seed spread of {s.sd_pp:.2f} pp were the truth; this study has {s.have}, "
        "so this is a rough guide)."
    )
