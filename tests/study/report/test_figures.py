"""Each figure function on hand-made records: titles, axis labels, scales, one series per optimizer, colours."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb

from study.report.lr_range import EDGE_WARNING
from study.report.plots import batch_effect, learning_curves, lr_scatter, seed_spread, time_to_accuracy
from study.report.records import TrialRecord
from study.report.stats import spread
from study.report.style import colour
from study.report.tables import BatchCell, MilestoneCell
from study.schema import VAL_ACC, VAL_LOSS


def _trial(optimizer: str, number: int, lr: float, accs: list[float], state: str = "COMPLETE") -> TrialRecord:
    return TrialRecord(
        study="s",
        number=number,
        state=state,
        optimizer=optimizer,
        lr=lr,
        batch_size=64,
        seed=number,
        role="search",
        value=max(accs) if state == "COMPLETE" else None,
        epochs=len(accs),
        fit_seconds=1.0,
        curves={
            VAL_ACC: dict(enumerate(accs, start=1)),
            VAL_LOSS: {e: 1 - a for e, a in enumerate(accs, start=1)},
        },
    )


def _legend(ax: Axes) -> list[str]:
    """The texts of the axes' legend, which the figure has."""
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


GROUPS = {
    "adam": [_trial("adam", 0, 9e-3, [0.9, 0.95, 0.97]), _trial("adam", 1, 1e-4, [0.8, 0.9, 0.93])],
    "sgd": [_trial("sgd", 2, 0.05, [0.7, 0.85, 0.9]), _trial("sgd", 3, 0.9, [0.3, 0.4], state="PRUNED")],
}


def test_learning_curves_have_two_labelled_panels_and_one_line_per_optimizer() -> None:
    fig = learning_curves(GROUPS, "completed trials", article=True)
    acc, loss = fig.axes
    assert acc.get_title() == "Validation accuracy" and loss.get_title() == "Validation loss"
    assert acc.get_xlabel() == "epoch" and acc.get_ylabel() == "validation accuracy"
    assert loss.get_yscale() == "log"
    legend = _legend(acc)
    assert legend == ["adam (n=2)", "sgd (n=2)", "article (×)"]
    lines = {line.get_label(): line for line in acc.get_lines()}
    assert to_rgb(lines["adam (n=2)"].get_color()) == colour("adam")
    assert "min–max over completed trials" in fig.get_suptitle()


def test_lr_scatter_is_log_scale_per_optimizer_and_flags_the_edge() -> None:
    ranges = {"adam": (1e-5, 1e-2), "sgd": (1e-3, 1.0)}
    fig = lr_scatter(GROUPS, ranges, flagged=["adam"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title().split("\n")[0] for ax in axes] == ["adam", "sgd"]
    assert all(ax.get_xscale() == "log" for ax in axes)
    assert all(ax.get_xlabel() == "learning rate (log scale)" for ax in axes)
    assert axes[0].get_title() == f"adam\n{EDGE_WARNING}"
    assert EDGE_WARNING not in axes[1].get_title()
    low, high = axes[0].get_xlim()
    assert low < 1e-5 and high > 1e-2  # the whole searched range is visible


def test_batch_effect_has_a_log2_axis_and_one_legend_entry_per_optimizer() -> None:
    table = {
        "adam": {32: BatchCell(0.98, 0.97, 3), 64: BatchCell(0.97, 0.95, 2)},
        "sgd": {64: BatchCell(0.9, 0.9, 1)},
    }
    fig = batch_effect([32, 64], table)
    (ax,) = fig.axes
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "batch size (log scale)"
    assert _legend(ax) == ["adam", "sgd"]
    assert "best (solid) and median (dashed)" in ax.get_title()


def test_time_to_accuracy_bars_carry_reached_counts() -> None:
    table = {
        "adam": {0.97: MilestoneCell(2, 3, 10.0, 2.0), 0.98: MilestoneCell(1, 3, 20.0, 4.0)},
        "sgd": {0.97: MilestoneCell(0, 2, None, None), 0.98: MilestoneCell(0, 2, None, None)},
    }
    fig = time_to_accuracy(table)
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["97%", "98%"]
    assert ax.get_ylabel() == "seconds of training (median)"
    assert _legend(ax) == ["adam", "sgd"]
    assert {t.get_text() for t in ax.texts} == {"2/3", "1/3", "0/2"}


def test_seed_spread_orders_best_first_with_intervals_and_lines_up_seeds() -> None:
    values = {"adam": {0: 0.99, 1: 0.991, 2: 0.992}, "sgd": {1: 0.97, 2: 0.972}}
    spreads = sorted((spread(n, list(v.values())) for n, v in values.items()), key=lambda s: -s.mean)
    fig = seed_spread(values, spreads, "test accuracy", "Test accuracy per seed")
    (ax,) = fig.axes
    assert ax.get_ylabel() == "test accuracy" and ax.get_title() == "Test accuracy per seed"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["adam\n(n=3)", "sgd\n(n=2)"]
    assert _legend(ax) == ["adam", "sgd"]
    adam, sgd = (np.asarray(c.get_offsets()) for c in ax.collections if c.get_label() in ("adam", "sgd"))
    by_value = {round(float(y), 4): float(x) for x, y in [*adam, *sgd]}
    # seed 1 and seed 2 sit at the same offset from their column in both columns: the pairs line up
    assert by_value[0.97] - 1 == pytest.approx(by_value[0.991]) and by_value[0.972] - 1 == pytest.approx(
        by_value[0.992]
    )
    assert by_value[0.99] < by_value[0.991] < by_value[0.992]


def test_each_optimizer_keeps_its_colour() -> None:
    assert colour("adam") != colour("sgd")
    assert colour("adam") == colour("adam")
    assert colour("not-registered") not in {colour(n) for n in ("adam", "sgd", "rmsprop")}
