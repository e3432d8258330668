"""The learning-rate range an optimizer was searched in, and whether its best lr sits at an edge of it.

A best lr in the outer tenth (log scale) of the range means the optimum may lie outside it: the search
should be rerun with a wider range before its winner is trusted.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence

from study.design.search_space import LR_RANGES
from study.report.records import TrialRecord
from study.schema import config_param

__all__ = ["EDGE_FRACTION", "EDGE_WARNING", "at_edge", "searched_range"]

EDGE_FRACTION = 0.1
EDGE_WARNING = "best lr at the edge of the range — widen it"


def _override(parent_params: Mapping[str, str], optimizer: str) -> tuple[float, float] | None:
    """The study's own range: the parent run logs ``config.lr_ranges.<name>`` as the text of a list."""
    text = parent_params.get(config_param("lr_ranges", optimizer))
    if not text:
        return None
    try:
        low, high = (float(v) for v in ast.literal_eval(text))
    except (ValueError, TypeError, SyntaxError):
        return None
    return (low, high) if 0 < low < high else None


def searched_range(
    optimizer: str, trials: Sequence[TrialRecord], parent_params: Mapping[str, str]
) -> tuple[float, float] | None:
    """Optuna's own record of the distribution first (exactly what was sampled), then the study's config
    override, then the search space's default range; None for an optimizer it does not know."""
    recorded = [t.lr_range for t in trials if t.optimizer == optimizer and t.lr_range]
    if recorded:
        return min(r[0] for r in recorded), max(r[1] for r in recorded)
    override = _override(parent_params, optimizer)
    if override:
        return override
    return LR_RANGES.get(optimizer)


def at_edge(lr: float, lr_range: tuple[float, float], fraction: float = EDGE_FRACTION) -> bool:
    low, high = lr_range
    width = math.log(high) - math.log(low)
    position = (math.log(lr) - math.log(low)) / width
    return position < fraction or position > 1 - fraction
