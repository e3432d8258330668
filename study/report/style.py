"""Figure plumbing shared by every plot: one fixed colour per optimizer, and Agg figures without pyplot.

Figures are built as ``matplotlib.figure.Figure`` on an Agg canvas rather than through ``pyplot``: no global
backend switch in the host process (the runner calls the report in-process), nothing for pyplot to keep alive.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from study.schema import SEARCHABLE

__all__ = ["colour", "new_figure", "save"]

_PALETTE = [to_rgb(colormaps["tab10"](i)) for i in range(10)]
# Registry order -> tab10, so an optimizer has the same colour in every figure of every report.
_COLOURS = {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(SEARCHABLE)}
_SPARE = (0.35, 0.35, 0.35)  # an optimizer the registry does not know


def colour(optimizer: str) -> tuple[float, float, float]:
    return _COLOURS.get(optimizer, _SPARE)


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
