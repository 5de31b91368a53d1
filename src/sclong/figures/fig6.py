"""Fig. 6: zero-shot batch integration, batch ASW of scLong cell vectors and the baselines."""

from __future__ import annotations

from matplotlib.figure import Figure

from sclong.figures.grid import metric_grid

METRICS = (("batch_asw", "batch ASW"),)


def draw(tables: object) -> Figure:
    """The figure from its tables (:class:`sclong.figures.make.FigureTables`)."""
    return metric_grid(tables, "batch_integration", METRICS, tables.spec.title)
