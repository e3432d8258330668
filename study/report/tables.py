"""The numbers behind the report's tables, computed from trial records (formatting lives in ``markdown``).

One row per optimizer everywhere. A protocol with seeds (seed, tuned's final retraining) is summarised by the
median across its seeds; a search by its best trial, since the sampler's other trials are exploration.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from study.report.article import ARTICLE_EPOCHS, ARTICLE_VAL_ACC, article_val_acc
from study.report.records import StudyData, TrialRecord, by_optimizer
from study.schema import (
    COMPLETE,
    CUMULATIVE_SECONDS,
    MILESTONES,
    SAMPLES_PER_SECOND,
    VAL_ACC,
    VAL_LOSS,
    best,
    epochs_to_key,
    seconds_to_key,
    sub_study_suffix,
)

__all__ = [
    "BatchCell",
    "MilestoneCell",
    "OptimizerRow",
    "SeedRow",
    "batch_table",
    "median",
    "milestone_table",
    "optimizer_rows",
    "seed_rows",
    "table_epochs",
]


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def table_epochs(last: int) -> list[int]:
    """The article's epochs 1, 5 and 10 (and the last, if later); for shorter runs 1, the middle and the last."""
    if last >= 10:
        return [1, 5, 10] + ([last] if last > 10 else [])
    return sorted({1, (last + 1) // 2, last}) if last >= 1 else []


@dataclass(frozen=True)
class OptimizerRow:
    optimizer: str
    n: int  # trials summarised: 1 (the best searched trial) or the completed seeds
    source: str  # "trial 12" or "median of 3 seeds"
    val_acc: dict[int, float | None]  # epoch -> value
    val_loss: dict[int, float | None]
    best_val_acc: float | None
    test_acc: float | None  # final retraining only
    fit_seconds: float | None
    samples_per_second: float | None  # the median epoch's training throughput
    lr: float | None
    batch_size: int | None

    @property
    def score(self) -> float:
        """What ranks the rows: test accuracy where there is one, else the best validation accuracy."""
        value = self.test_acc if self.test_acc is not None else self.best_val_acc
        return -1.0 if value is None else value


def _summarised(trials: Sequence[TrialRecord], repeats: bool, study_name: str) -> tuple[list[TrialRecord], str]:
    complete = [t for t in trials if t.state == COMPLETE and t.best_val_acc is not None]
    if repeats:
        return complete, f"median of {len(complete)} seed{'s' if len(complete) != 1 else ''}"
    if not complete:
        return [], "no completed trial"
    top = best(complete, lambda t: t.best_val_acc)
    assert top is not None
    suffix = sub_study_suffix(top.study, study_name)  # a tuned protocol's sub-study, e.g. "adam"
    label = f"{suffix} trial {top.number}" if suffix else f"trial {top.number}"
    return [top], label


def _row(name: str, trials: list[TrialRecord], source: str, epochs: list[int]) -> OptimizerRow:
    throughput = [median(list(t.curves.get(SAMPLES_PER_SECOND, {}).values())) for t in trials]
    batches = [t.batch_size for t in trials if t.batch_size is not None]
    return OptimizerRow(
        optimizer=name,
        n=len(trials),
        source=source,
        val_acc={e: median([t.at(VAL_ACC, e) for t in trials]) for e in epochs},
        val_loss={e: median([t.at(VAL_LOSS, e) for t in trials]) for e in epochs},
        best_val_acc=median([t.best_val_acc for t in trials]),
        test_acc=median([t.test_acc for t in trials]),
        fit_seconds=median([t.fit_seconds for t in trials]),
        samples_per_second=median(throughput),
        lr=median([t.lr for t in trials]),
        batch_size=statistics.mode(batches) if batches else None,
    )


def optimizer_rows(data: StudyData) -> tuple[list[int], list[OptimizerRow]]:
    """The article-style table: its epoch columns and one row per optimizer, best first."""
    repeats = bool(data.repeat_trials)
    chosen = {name: _summarised(trials, repeats, data.name) for name, trials in by_optimizer(data.main_trials).items()}
    last = max((t.last_epoch for trials, _ in chosen.values() for t in trials), default=0)
    epochs = table_epochs(last)
    rows = [_row(name, trials, source, epochs) for name, (trials, source) in chosen.items()]
    return epochs, sorted(rows, key=lambda r: -r.score)


@dataclass(frozen=True)
class SeedRow:
    optimizer: str
    n: int
    ours: dict[int, float | None]  # epoch -> median validation accuracy over the seeds
    article: dict[int, float | None]

    def diff_pp(self, epoch: int) -> float | None:
        ours, theirs = self.ours.get(epoch), self.article.get(epoch)
        return None if ours is None or theirs is None else 100 * (ours - theirs)


def seed_rows(data: StudyData) -> list[SeedRow]:
    """Ours beside the article's, at the article's epochs, for every optimizer either side has."""
    groups = by_optimizer([t for t in data.main_trials if t.state == COMPLETE])
    # the article's optimizers we did not run still get a row, so a gap in our run shows
    names = list(groups) + [n for n in ARTICLE_VAL_ACC if n not in groups]
    return [
        SeedRow(
            optimizer=name,
            n=len(groups.get(name, [])),
            ours={e: median([t.at(VAL_ACC, e) for t in groups.get(name, [])]) for e in ARTICLE_EPOCHS},
            article={e: article_val_acc(name, e) for e in ARTICLE_EPOCHS},
        )
        for name in names
    ]


@dataclass(frozen=True)
class BatchCell:
    best: float
    median: float
    n: int


def batch_table(trials: Sequence[TrialRecord]) -> tuple[list[int], dict[str, dict[int, BatchCell]]]:
    """Best and median validation accuracy of the completed searched trials, per optimizer and batch size."""
    complete = [t for t in trials if t.state == COMPLETE and t.best_val_acc is not None and t.batch_size]
    sizes = sorted({t.batch_size for t in complete if t.batch_size})
    table: dict[str, dict[int, BatchCell]] = {}
    for name, mine in by_optimizer(complete).items():
        cells = {}
        for size in sizes:
            values = [t.best_val_acc for t in mine if t.batch_size == size and t.best_val_acc is not None]
            if values:
                cells[size] = BatchCell(max(values), statistics.median(values), len(values))
        table[name] = cells
    return sizes, table


@dataclass(frozen=True)
class MilestoneCell:
    reached: int  # trials that reached the threshold
    n: int  # trials that trained at least one epoch
    median_seconds: float | None  # among those that reached it
    median_epochs: float | None


def seconds_to(trial: TrialRecord, threshold: float) -> tuple[float | None, float | None]:
    """Seconds and epochs to first reach ``threshold``: the run's own end-of-trial metrics, else its curves."""
    seconds = trial.final.get(seconds_to_key(threshold))
    epochs = trial.final.get(epochs_to_key(threshold))
    if epochs is None:
        epochs = next((e for e, v in sorted(trial.curves.get(VAL_ACC, {}).items()) if v >= threshold), None)
        if epochs is not None:
            seconds = trial.at(CUMULATIVE_SECONDS, int(epochs))
    return seconds, (float(epochs) if epochs is not None else None)


def milestone_table(trials: Sequence[TrialRecord]) -> dict[str, dict[float, MilestoneCell]]:
    trained = [t for t in trials if t.curves.get(VAL_ACC)]
    table: dict[str, dict[float, MilestoneCell]] = {}
    for name, mine in by_optimizer(trained).items():
        row = {}
        for threshold in MILESTONES:
            hits = [seconds_to(t, threshold) for t in mine]
            reached = [h for h in hits if h[1] is not None]
            row[threshold] = MilestoneCell(
                reached=len(reached),
                n=len(mine),
                median_seconds=median([s for s, _ in reached]),
                median_epochs=median([e for _, e in reached]),
            )
        table[name] = row
    return table
