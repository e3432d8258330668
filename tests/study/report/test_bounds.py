"""No interval or axis of an accuracy leaves [0, 1], and a one-epoch curve reads as epoch 1: the intervals read from
ReportContent and report.md, the axes from the matplotlib figures the report builds."""

from __future__ import annotations

import math
import re
import statistics
from pathlib import Path

from matplotlib.figure import Figure

from study.report.analysis import ReportContent, analyse
from study.report.build import write_report
from study.report.figures import CURVES, LR, build_figures
from study.report.load import load_study_data
from study.report.plots import epoch_axis
from study.report.stats import MAX_DIFF_PP, compare_to_best, t_interval
from study.report.style import new_figure
from study.schema import FINAL_ROLE, SEARCH, SEED_PROTOCOL, SEED_ROLE, TUNED, sub_study

from .conftest import EXPERIMENT, Built, Spec, Stores

_CI_CELL = re.compile(r"\| (\d\.\d{4}) – (\d\.\d{4}) \|")


def _content(stores: Stores, name: str) -> ReportContent:
    return analyse(load_study_data(name, stores.journal, stores.tracking_uri, EXPERIMENT))


def _accuracy_axes(fig: Figure) -> list[tuple[str, tuple[float, float]]]:
    return [(ax.get_ylabel(), ax.get_ylim()) for ax in fig.axes if ax.get_visible() and "accuracy" in ax.get_ylabel()]


def _assert_accuracy_axes_in_bounds(figures: dict[str, Figure]) -> int:
    checked = 0
    for name, fig in figures.items():
        for label, (low, high) in _accuracy_axes(fig):
            assert 0.0 <= low < high <= 1.0, f"{name}: {label} spans {low} – {high}"
            checked += 1
    return checked


def _assert_report_intervals_in_bounds(content: ReportContent, text: str) -> None:
    sig = content.significance
    assert sig is not None
    for s in sig.spreads:
        if s.ci_low is not None and s.ci_high is not None:
            assert 0.0 <= s.ci_low <= s.ci_high <= 1.0, s
    for c in sig.comparisons:
        if c.ci_low is not None and c.ci_high is not None:
            assert -MAX_DIFF_PP <= c.ci_low <= c.ci_high <= MAX_DIFF_PP, c
    cells = _CI_CELL.findall(text)
    assert cells
    assert all(0.0 <= float(low) <= float(high) <= 1.0 for low, high in cells)


def test_a_two_seed_interval_near_the_bounds_stays_inside_them(tmp_path: Path) -> None:
    """The issue's tuned report: sgd at 0.735 and 0.788 on two seeds printed 95% CI 0.4248 – 1.0982."""
    stores = Stores(tmp_path)
    for name in ("adam", "sgd"):
        stores.add_study(sub_study("two", name), "two", TUNED, [Spec(name, 1e-3, 64, 0.95, 1)])
    tests = {"adam": (0.996, 0.999), "sgd": (0.735, 0.788)}
    finals = [
        Spec(n, 1e-3, 64, 0.95, 1, seed=s, role=FINAL_ROLE, test_acc=a)
        for n, accs in tests.items()
        for s, a in enumerate(accs)
    ]
    stores.add_study(sub_study("two", "final"), "two", TUNED, finals)
    report = write_report("two", stores.journal, stores.tracking_uri, EXPERIMENT, tmp_path / "out")
    content = _content(stores, "two")
    for accs in tests.values():  # a plain t interval on these seeds leaves [0, 1]
        mean, sd = statistics.fmean(accs), statistics.stdev(accs)
        low, high = t_interval(mean, sd / math.sqrt(2), 1)
        assert low < 0.0 or high > 1.0
    text = report.read_text()
    _assert_report_intervals_in_bounds(content, text)
    assert "t interval of the mean computed on the logit scale" in text
    assert _assert_accuracy_axes_in_bounds(build_figures(content)) >= 3


def test_difference_intervals_are_capped_at_100_pp() -> None:
    (c,) = compare_to_best({"adam": {0: 0.99, 1: 0.98}, "sgd": {0: 0.10, 1: 0.95}})
    diffs = [100 * (0.99 - 0.10), 100 * (0.98 - 0.95)]
    raw = t_interval(statistics.fmean(diffs), statistics.stdev(diffs) / math.sqrt(2), 1)
    assert raw[0] < -MAX_DIFF_PP and raw[1] > MAX_DIFF_PP
    assert (c.ci_low, c.ci_high) == (-MAX_DIFF_PP, MAX_DIFF_PP)


def test_accuracy_axes_of_every_report_stay_in_0_1(built: Built, tmp_path: Path) -> None:
    """The session's three protocols, and a search whose accuracies come near 1 (the lr axis once reached 1.02)."""
    stores = built.stores
    for name in built.reports:
        _assert_accuracy_axes_in_bounds(build_figures(_content(stores, name)))
    for name in ("seedy", "tune"):
        _assert_report_intervals_in_bounds(_content(stores, name), built.reports[name].read_text())
    high = Stores(tmp_path)
    # lr -> accuracy: a wide spread up to near 1, so matplotlib's margin would reach past 1
    tops = {"adam": {1e-4: 0.45, 1e-3: 0.8, 3e-3: 0.996}, "sgd": {0.01: 0.4, 0.1: 0.99}}
    specs = [Spec(n, lr, 64, top, 3) for n, by_lr in tops.items() for lr, top in by_lr.items()]
    high.add_study("near", "near", SEARCH, specs)
    figures = build_figures(_content(high, "near"))
    assert _assert_accuracy_axes_in_bounds(figures) >= 4
    lr_axes = _accuracy_axes(figures[LR])
    assert all(top == 1.0 for _, (_, top) in lr_axes)  # the data reach past the autoscale margin: clipped at 1


def test_a_one_epoch_curve_panel_shows_epoch_1(tmp_path: Path) -> None:
    stores = Stores(tmp_path)
    specs = [Spec(n, 1e-3, 64, 0.9, 1, seed=0, role=SEED_ROLE) for n in ("adam", "sgd")]
    stores.add_study("once", "once", SEED_PROTOCOL, specs)
    figures = build_figures(_content(stores, "once"))
    for ax in figures[CURVES].axes:
        low, high = ax.get_xlim()
        assert 0.0 < low < 1.0 < high < 2.0
        assert list(ax.get_xticks()) == [1.0] and [t.get_text() for t in ax.get_xticklabels()] == ["1"]
    _assert_accuracy_axes_in_bounds(figures)


def test_epoch_axis_has_whole_epochs_from_1() -> None:
    for last, expected in ((1, [1]), (3, [1, 2, 3]), (10, list(range(1, 11))), (30, [1, *range(3, 31, 3)])):
        ax = new_figure(4, 3).subplots()
        epoch_axis(ax, last)
        assert [int(t) for t in ax.get_xticks()] == expected
        low, high = ax.get_xlim()
        assert 0.0 < low < 1.0 and last < high < last + 1
