"""Draws and writes the report's PNG figures under ``figures/``; a figure with nothing to show is not written."""

from __future__ import annotations

from pathlib import Path

from study.report.analysis import ReportContent
from study.report.plots import batch_effect, learning_curves, lr_scatter, seed_spread, time_to_accuracy
from study.report.records import by_optimizer
from study.report.style import save
from study.schema import COMPLETE, SEED_PROTOCOL, VAL_ACC

__all__ = ["BATCH", "CURVES", "FIGURE_NAMES", "LR", "SEEDS", "TIME", "write_figures"]

CURVES = "learning_curves.png"
LR = "lr_vs_accuracy.png"
BATCH = "batch_size.png"
TIME = "time_to_accuracy.png"
SEEDS = "seed_spread.png"
FIGURE_NAMES = (CURVES, LR, BATCH, TIME, SEEDS)


def write_figures(content: ReportContent, folder: Path) -> dict[str, Path]:
    """Writes every figure the study has data for; returns file name -> path. Stale figures of an earlier
    report in the same folder are removed, so the folder never shows a figure report.md does not describe."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in FIGURE_NAMES:
        (folder / name).unlink(missing_ok=True)
    data = content.data
    written: dict[str, Path] = {}
    curves = by_optimizer([t for t in data.main_trials if t.state == COMPLETE and t.curves.get(VAL_ACC)])
    if curves:
        over = "seeds" if data.repeat_trials else "completed trials"
        fig = learning_curves(curves, over, article=data.protocol == SEED_PROTOCOL)
        written[CURVES] = save(fig, folder / CURVES)
    searched = by_optimizer(data.search_trials)
    if searched:
        ranges = {f.optimizer: f.lr_range for f in content.lr_findings}
        written[LR] = save(lr_scatter(searched, ranges, content.flagged), folder / LR)
    if content.batch_sizes:
        written[BATCH] = save(batch_effect(content.batch_sizes, content.batch_cells), folder / BATCH)
    if any(cell.reached for row in content.milestones.values() for cell in row.values()):
        written[TIME] = save(time_to_accuracy(content.milestones), folder / TIME)
    sig = content.significance
    if sig and sig.spreads:
        title = f"{sig.metric.capitalize()} per seed: mean and 95% t interval"
        written[SEEDS] = save(seed_spread(sig.values, sig.spreads, sig.metric, title), folder / SEEDS)
    return written
