"""The report's figures. Each function returns its ``Figure`` (tests read its axes), ``style.save`` writes it.

Conventions across all of them: one colour per optimizer (``style.colour``), a title that says what is
plotted and over what, labelled axes, learning rates and batch sizes on log axes, an accuracy axis kept inside
[0, 1] (``accuracy_axis``: matplotlib's margin would show 1.02, a value no accuracy takes) and epochs as whole
numbers from 1 (``epoch_axis``: one epoch would otherwise span 0.945–1.055).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import NullLocator

from study.report.article import ARTICLE_VAL_ACC
from study.report.lr_range import EDGE_FRACTION, EDGE_WARNING
from study.report.records import TrialRecord
from study.report.stats import Spread
from study.report.style import colour, new_figure
from study.report.tables import BatchCell, MilestoneCell
from study.schema import COMPLETE, VAL_ACC, VAL_LOSS, best

__all__ = [
    "ACCURACY_LIMITS",
    "accuracy_axis",
    "batch_effect",
    "epoch_axis",
    "learning_curves",
    "lr_scatter",
    "seed_spread",
    "time_to_accuracy",
]

ACCURACY_LIMITS = (0.0, 1.0)  # what an accuracy can be
_MAX_EPOCH_TICKS = 10
_EPOCH_PAD = 0.25  # of an epoch, either side of the first and last


def accuracy_axis(ax: Axes) -> None:
    """Clamps the y-axis, autoscaled to the data with matplotlib's margin, to [0, 1]: the margin stays inside."""
    low, high = ax.get_ylim()
    ax.set_ylim(max(low, ACCURACY_LIMITS[0]), min(high, ACCURACY_LIMITS[1]))


def epoch_axis(ax: Axes, last: int) -> None:
    """Whole epochs 1..last on the x-axis (at most ``_MAX_EPOCH_TICKS`` ticks, 1 always among them), a quarter
    epoch of room either side: a single epoch reads as epoch 1, not as a span of 0.945–1.055."""
    last = max(last, 1)
    step = max(1, math.ceil(last / _MAX_EPOCH_TICKS))
    ticks = sorted({1, *range(step, last + 1, step)})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlim(1 - _EPOCH_PAD, last + _EPOCH_PAD)


def _band(trials: Sequence[TrialRecord], key: str) -> tuple[list[int], list[float], list[float], list[float]]:
    """Per epoch: median, min and max over the trials that reached that epoch (finite values only: a blown-up
    loss would flatten every other line)."""
    epochs = sorted({e for t in trials for e, v in t.curves.get(key, {}).items() if math.isfinite(v)})
    med, low, high = [], [], []
    for e in epochs:
        values = [v for t in trials if (v := t.at(key, e)) is not None and math.isfinite(v)]
        med.append(statistics.median(values))
        low.append(min(values))
        high.append(max(values))
    return epochs, med, low, high


def learning_curves(groups: Mapping[str, Sequence[TrialRecord]], over: str, article: bool = False) -> Figure:
    """Validation accuracy and loss per epoch: one median line and a min–max band per optimizer.

    ``over`` names what the band spans ("seeds", "completed trials"); ``article`` adds the article's
    accuracies at epochs 1, 5 and 10 as crosses in the optimizer's colour.
    """
    fig = new_figure(11, 4.4)
    acc_ax, loss_ax = fig.subplots(1, 2)
    last = max((e for trials in groups.values() for t in trials for e in t.curves.get(VAL_ACC, {})), default=1)
    for name, trials in groups.items():
        for ax, key in ((acc_ax, VAL_ACC), (loss_ax, VAL_LOSS)):
            epochs, med, low, high = _band(trials, key)
            if not epochs:
                continue
            ax.plot(epochs, med, marker="o", ms=3, color=colour(name), label=f"{name} (n={len(trials)})")
            if len(trials) > 1:
                ax.fill_between(epochs, low, high, color=colour(name), alpha=0.18, linewidth=0)
        if article and name in ARTICLE_VAL_ACC:  # the article's epochs this study reached
            points = {e: v for e, v in ARTICLE_VAL_ACC[name].items() if e <= last}
            acc_ax.scatter(list(points), list(points.values()), marker="x", s=60, color=colour(name), zorder=3)
    acc_ax.set(title="Validation accuracy", xlabel="epoch", ylabel="validation accuracy")
    loss_ax.set(title="Validation loss", xlabel="epoch", ylabel="validation loss (log scale)")
    if loss_ax.has_data():
        loss_ax.set_yscale("log")
    for ax in (acc_ax, loss_ax):
        epoch_axis(ax, last)
        ax.grid(alpha=0.3)
    accuracy_axis(acc_ax)
    handles, labels = acc_ax.get_legend_handles_labels()
    if article:
        handles.append(Line2D([], [], marker="x", color="black", linestyle="none"))
        labels.append("article (×)")
    if handles:
        acc_ax.legend(handles, labels, fontsize=8, loc="lower right")
    fig.suptitle(f"Learning curves per optimizer — median line, band = min–max over {over}")
    return fig


def _grid(fig: Figure, n: int, cols: int = 3) -> list[Axes]:
    cols = min(cols, max(n, 1))
    rows = max(1, math.ceil(n / cols))
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def lr_scatter(
    groups: Mapping[str, Sequence[TrialRecord]],
    ranges: Mapping[str, tuple[float, float] | None],
    flagged: Sequence[str] = (),
) -> Figure:
    """One panel per optimizer: each searched trial's best validation accuracy against its lr.

    Filled: completed; hollow: pruned or failed; star: the best. Grey bands are the outer 10% (log scale) of
    the searched range; a best trial inside one gets the panel title's warning to widen the range.
    """
    n = len(groups)
    fig = new_figure(4.2 * min(3, max(n, 1)), 3.5 * max(1, math.ceil(n / 3)) + 0.5)
    for ax, (name, trials) in zip(_grid(fig, n), groups.items(), strict=True):
        c = colour(name)
        points = [(t.lr, t.best_val_acc, t.state) for t in trials if t.lr is not None and t.best_val_acc is not None]
        done = [(lr, acc) for lr, acc, state in points if state == COMPLETE]
        other = [(lr, acc) for lr, acc, state in points if state != COMPLETE]
        ax.scatter([p[0] for p in done], [p[1] for p in done], color=c, s=22, label="completed")
        ax.scatter([p[0] for p in other], [p[1] for p in other], facecolors="none", edgecolors=c, s=22)
        top = best(done, lambda p: p[1])
        if top is not None:
            ax.scatter([top[0]], [top[1]], marker="*", s=220, color=c, edgecolors="black", zorder=3)
        lr_range = ranges.get(name)
        if lr_range:
            low, high = lr_range
            ratio = (high / low) ** EDGE_FRACTION
            ax.axvspan(low, low * ratio, color="0.85", zorder=0)
            ax.axvspan(high / ratio, high, color="0.85", zorder=0)
            ax.set_xlim(low / ratio**0.3, high * ratio**0.3)
        ax.set_xscale("log")
        warn = name in flagged
        ax.set_title(f"{name}\n{EDGE_WARNING}" if warn else name, color="tab:red" if warn else "black", fontsize=10)
        ax.set(xlabel="learning rate (log scale)", ylabel="best validation accuracy")
        ax.grid(alpha=0.3, which="both")
        accuracy_axis(ax)
    fig.legend(
        handles=[
            Line2D([], [], marker="o", color="0.3", linestyle="none", label="completed"),
            Line2D([], [], marker="o", markerfacecolor="none", color="0.3", linestyle="none", label="pruned / failed"),
            Line2D(
                [], [], marker="*", markersize=12, color="0.3", markeredgecolor="black", linestyle="none", label="best"
            ),
        ],
        loc="outside lower center",
        ncols=3,
        fontsize=8,
    )
    fig.suptitle("Validation accuracy against learning rate (grey: outer 10% of the searched range, log scale)")
    return fig


def batch_effect(sizes: Sequence[int], table: Mapping[str, Mapping[int, BatchCell]]) -> Figure:
    """Per optimizer, best (solid) and median (dashed) validation accuracy of the trials at each batch size."""
    fig = new_figure(7.5, 4.6)
    ax = fig.subplots()
    for name, cells in table.items():
        xs = [s for s in sizes if s in cells]
        if not xs:
            continue
        ax.plot(xs, [cells[s].best for s in xs], marker="o", color=colour(name), label=name)
        ax.plot(xs, [cells[s].median for s in xs], marker="o", ms=3, linestyle="--", color=colour(name), alpha=0.7)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(sizes), [str(s) for s in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set(
        title="Batch size effect: best (solid) and median (dashed) validation accuracy",
        xlabel="batch size (log scale)",
        ylabel="validation accuracy",
    )
    ax.grid(alpha=0.3)
    accuracy_axis(ax)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return fig


def time_to_accuracy(table: Mapping[str, Mapping[float, MilestoneCell]]) -> Figure:
    """Grouped bars: per accuracy threshold, each optimizer's median seconds, labelled k/n reached."""
    fig = new_figure(8.5, 4.6)
    ax = fig.subplots()
    thresholds = sorted({th for row in table.values() for th in row})
    width = 0.8 / max(len(table), 1)
    for i, (name, row) in enumerate(table.items()):
        xs = [j + (i - (len(table) - 1) / 2) * width for j in range(len(thresholds))]
        heights = [(cell.median_seconds if (cell := row.get(th)) else None) or 0.0 for th in thresholds]
        bars = ax.bar(xs, heights, width=width * 0.95, color=colour(name), label=name)
        for bar, th in zip(bars, thresholds, strict=True):
            cell = row.get(th)
            if cell:
                ax.annotate(
                    f"{cell.reached}/{cell.n}",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=7,
                )
    ax.set_xticks(range(len(thresholds)), [f"{th:.0%}" for th in thresholds])
    ax.set(
        title="Time to reach a validation accuracy (median over the trials that reached it; k/n reached)",
        xlabel="validation accuracy threshold",
        ylabel="seconds of training (median)",
    )
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3, axis="y")
    if table:
        ax.legend(fontsize=8)
    return fig


def seed_spread(
    values: Mapping[str, Mapping[int, float]], spreads: Sequence[Spread], metric: str, title: str
) -> Figure:
    """Every seed as a dot, the mean as a diamond beside them with its 95% interval (``stats.bounded_interval``,
    drawn as a capped line from its low to its high end: on the logit scale it need not be centred on the mean),
    best optimizer first. A seed keeps its horizontal offset in every column, so the pairs the tests compare line
    up."""
    fig = new_figure(max(5.0, 1.2 * len(spreads) + 2), 4.6)
    ax = fig.subplots()
    seeds = sorted({seed for by_seed in values.values() for seed in by_seed})
    step = min(0.06, 0.36 / max(len(seeds), 1))  # many seeds squeeze together, clear of the mean at x + 0.25
    offset = {seed: (k - (len(seeds) - 1) / 2) * step for k, seed in enumerate(seeds)}
    for x, s in enumerate(spreads):
        mine = sorted(values[s.optimizer].items())
        xs = [x + offset[seed] for seed, _ in mine]
        ax.scatter(xs, [v for _, v in mine], color=colour(s.optimizer), alpha=0.6, s=18, label=s.optimizer)
        if s.ci_low is not None and s.ci_high is not None:
            ax.vlines([x + 0.25], [s.ci_low], [s.ci_high], color=colour(s.optimizer))
            ax.scatter([x + 0.25] * 2, [s.ci_low, s.ci_high], marker="_", s=80, color=colour(s.optimizer))
        ax.scatter([x + 0.25], [s.mean], marker="D", color=colour(s.optimizer))
    ax.set_xticks(range(len(spreads)), [f"{s.optimizer}\n(n={s.n})" for s in spreads])
    ax.set(title=title, xlabel="optimizer (best mean first)", ylabel=metric)
    ax.grid(alpha=0.3, axis="y")
    accuracy_axis(ax)
    if spreads:
        ax.legend(fontsize=8, loc="lower left")
    return fig
