"""Everything the report says, computed once from the study's records; the Markdown, the figures and the
dashboard note all render this same object, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass

from study.design.search_space import default_hyperparameters
from study.report.importance import Importance, importance
from study.report.lr_range import at_edge, searched_range
from study.report.power import SeedsNeeded, seeds_needed
from study.report.records import StudyData, TrialRecord, by_optimizer
from study.report.setting import Setting, setting_of
from study.report.stats import Comparison, Spread, compare_to_best, spread
from study.report.tables import (
    BatchCell,
    MilestoneCell,
    OptimizerRow,
    SeedRow,
    batch_table,
    milestone_table,
    optimizer_rows,
    seed_rows,
)
from study.schema import COMPLETE, FINAL_ROLE, LR, SEED_PROTOCOL, VAL_ACC, best

__all__ = ["LrFinding", "ReportContent", "Significance", "analyse"]


@dataclass(frozen=True)
class LrFinding:
    optimizer: str
    best: TrialRecord | None  # the best completed searched trial
    lr_range: tuple[float, float] | None  # the range searched
    at_edge: bool  # the best lr lies in the outer 10% (log scale) of the range


@dataclass(frozen=True)
class Significance:
    metric: str  # what the seeds measured, e.g. "test accuracy"
    values: dict[str, dict[int, float]]  # optimizer -> {seed: value}: the seed pairs optimizers in the tests
    spreads: list[Spread]  # best mean first
    comparisons: list[Comparison]  # each optimizer against the best, runner-up first
    seeds_needed: SeedsNeeded | None  # to separate the best from the runner-up; None with fewer than two


@dataclass(frozen=True)
class ReportContent:
    data: StudyData
    setting: Setting  # how the trials were defined and ran: every setting the report states
    epochs: list[int]  # the epoch columns of the per-optimizer table
    rows: list[OptimizerRow]  # best first
    article: list[SeedRow]  # the seed protocol's comparison with the article; empty otherwise
    lr_findings: list[LrFinding]
    batch_sizes: list[int]
    batch_cells: dict[str, dict[int, BatchCell]]
    milestones: dict[str, dict[float, MilestoneCell]]
    significance: Significance | None  # None without seeds (the search protocol)
    importance: Importance | None = None  # None with fewer than 4 completed searched trials

    @property
    def flagged(self) -> list[str]:
        return [f.optimizer for f in self.lr_findings if f.at_edge]


def _lr_findings(data: StudyData) -> list[LrFinding]:
    findings = []
    for name, trials in by_optimizer(data.search_trials).items():
        complete = [t for t in trials if t.state == COMPLETE and t.best_val_acc is not None and t.lr]
        top = best(complete, lambda t: t.best_val_acc)
        lr_range = searched_range(name, trials, data.parent_params)
        edge = bool(top and top.lr and lr_range and at_edge(top.lr, lr_range))
        findings.append(LrFinding(name, top, lr_range, edge))
    return findings


def _significance(data: StudyData) -> Significance | None:
    """Seeds of one configuration per optimizer: the final retraining's test accuracy (tuned), or the last
    epoch's validation accuracy (seed: the article's number, on the test set when validated on it).

    Values are keyed by seed, so the tests can pair optimizers that ran the same seeds. A seed completed twice
    (a retry) counts once, the later trial; a trial without a recorded seed cannot be paired and is left out
    (the runner records the seed of every repeated trial)."""
    complete = [t for t in data.repeat_trials if t.state == COMPLETE and t.seed is not None]
    if not complete:
        return None
    finals = [t for t in complete if t.role == FINAL_ROLE and t.test_acc is not None]
    if finals:
        metric = "test accuracy"
        values = {
            n: {t.seed: t.test_acc for t in ts if t.seed is not None and t.test_acc is not None}
            for n, ts in by_optimizer(finals).items()
        }
    else:
        metric = "validation accuracy at the last epoch"
        values = {
            n: {t.seed: v for t in ts if t.seed is not None and (v := t.at(VAL_ACC, t.last_epoch)) is not None}
            for n, ts in by_optimizer(complete).items()
        }
    values = {n: v for n, v in values.items() if v}
    spreads = sorted((spread(n, list(v.values())) for n, v in values.items()), key=lambda s: -s.mean)
    comparisons = compare_to_best(values)
    needed = seeds_needed(comparisons[0]) if comparisons else None
    return Significance(metric, values, spreads, comparisons, needed)


def analyse(data: StudyData) -> ReportContent:
    epochs, rows = optimizer_rows(data)
    sizes, cells = batch_table(data.search_trials)
    return ReportContent(
        data=data,
        setting=setting_of(data),
        epochs=epochs,
        rows=rows,
        article=seed_rows(data) if data.protocol == SEED_PROTOCOL else [],
        lr_findings=_lr_findings(data),
        batch_sizes=sizes,
        batch_cells=cells,
        milestones=milestone_table(data.main_trials),
        significance=_significance(data),
        importance=importance(data, _default_lr),
    )


def _default_lr(optimizer: str, convention: str) -> float:
    return float(default_hyperparameters(optimizer, convention)[LR])
