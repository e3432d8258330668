"""Draws and writes the report's PNG figures under ``figures/``; a figure with nothing to show is not drawn."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from study.report.analysis import ReportContent
from study.report.plots import batch_effect, learning_curves, lr_scatter, seed_spread, time_to_accuracy
from study.report.records import by_optimizer
from study.report.style import save
from study.schema import COMPLETE, SEED_PROTOCOL, VAL_ACC

__all__ = ["BATCH", "CURVES", "FIGURE_NAMES", "LR", "SEEDS", "TIME", "build_figures", "write_figures"]

CURVES = "learning_curves.png"
LR = "lr_vs_accuracy.png"
BATCH = "batch_size.png"
TIME = "time_to_accuracy.png"
SEEDS = "seed_spread.png"
FIGURE_NAMES = (CURVES, LR, BATCH, TIME, SEEDS)


def build_figures(content: ReportContent) -> dict[str, Figure]:
    """Every figure the study has data for, by file name: what ``write_figures`` saves and the tests read."""
    data = content.data
    figures: dict[str, Figure] = {}
    curves = by_optimizer([t for t in data.main_trials if t.state == COMPLETE and t.curves.get(VAL_ACC)])
    if curves:
        over = "seeds" if data.repeat_trials else "completed trials"
        figures[CURVES] = learning_curves(curves, over, article=data.protocol == SEED_PROTOCOL)
    searched = by_optimizer(data.search_trials)
    if searched:
        ranges = {f.optimizer: f.lr_range for f in content.lr_findings}
        figures[LR] = lr_scatter(searched, ranges, content.flagged)
    if content.batch_sizes:
        figures[BATCH] = batch_effect(content.batch_sizes, content.batch_cells)
    if any(cell.reached for row in content.milestones.values() for cell in row.values()):
        figures[TIME] = time_to_accuracy(content.milestones)
    sig = content.significance
    if sig and sig.spreads:
        title = f"{sig.metric.capitalize()} per seed\nmean and 95% interval (t on logits)"
        figures[SEEDS] = seed_spread(sig.values, sig.spreads, sig.metric, title)
    return figures


def write_figures(content: ReportContent, folder: Path) -> dict[str, Path]:
    """Writes every figure the study has data for; returns file name -> path. Stale figures of an earlier
    report in the same folder are removed, so the folder never shows a figure report.md does not describe."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in FIGURE_NAMES:
        (folder / name).unlink(missing_ok=True)
    return {name: save(fig, folder / name) for name, fig in build_figures(content).items()}
