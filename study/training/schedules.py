"""Learning-rate schedules: a multiplier of each trial's learning rate at every optimizer step.

The article trained at a constant rate; modern comparisons (AlgoPerf, the Schedule-Free and Muon papers) show the
schedule matters as much as the optimizer. Each schedule here starts with an optional linear warm-up over the
first ``warmup`` fraction of the steps (from 0 to the full rate), then:

- ``constant``: the full rate (with no warm-up, no scheduler is attached at all: today's numbers, bit for bit);
- ``cosine``: half a cosine from the full rate to 0 (Loshchilov & Hutter, SGDR, 2017, without restarts);
- ``linear``: a straight line to 0;
- ``wsd``: warm-up, stable, decay: the full rate until the last ``WSD_DECAY`` of the steps, then a straight line
  to 0 (Hu et al., MiniCPM, 2024; Hägele et al., 2024, find 10-20 % of the steps enough).

Steps are optimizer steps (epochs x batches per epoch), so a schedule means the same at every batch size.
"""

from __future__ import annotations

import math

import torch
from torch.optim.lr_scheduler import LambdaLR

from study.schema import CONSTANT_SCHEDULE, SCHEDULES

__all__ = ["WSD_DECAY", "lr_factor", "scheduler"]

WSD_DECAY = 0.2  # the final fraction of the steps over which wsd decays


def lr_factor(schedule: str, warmup: float, step: int, total: int) -> float:
    """The multiplier of the learning rate for optimizer step ``step`` (0-based) of ``total``."""
    warm = round(warmup * total)
    if step < warm:
        return (step + 1) / warm
    if schedule == CONSTANT_SCHEDULE:
        return 1.0
    progress = min(1.0, (step - warm) / max(1, total - warm))
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "wsd":
        decay_from = 1.0 - WSD_DECAY
        return 1.0 if progress < decay_from else (1.0 - progress) / WSD_DECAY
    raise ValueError(f"unknown schedule {schedule!r}; accepted: {', '.join(SCHEDULES)}")


def scheduler(optimizer: torch.optim.Optimizer, schedule: str, warmup: float, total: int) -> LambdaLR:
    """A scheduler stepping ``schedule`` (with ``warmup``) over ``total`` optimizer steps."""
    return LambdaLR(optimizer, lambda step: lr_factor(schedule, warmup, step, total))
