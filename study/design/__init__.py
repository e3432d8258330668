"""The experiment's design: the search space and its defaults, the three protocols, the samplers and pruners."""

from __future__ import annotations

from study.design.protocols import Part, parts_of, plan, retraining, waiting_for
from study.design.sampling import make_pruner, make_sampler
from study.design.search_space import LR_RANGES, Choice, SearchSpace, default_hyperparameters

__all__ = [
    "LR_RANGES",
    "Choice",
    "Part",
    "SearchSpace",
    "default_hyperparameters",
    "make_pruner",
    "make_sampler",
    "parts_of",
    "plan",
    "retraining",
    "waiting_for",
]
