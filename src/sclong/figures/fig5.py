"""Fig. 5: GRN inference, AUPR ratio and EPR of scLong (gene-similarity initialised DeepSEM) and baselines."""

from __future__ import annotations

from matplotlib.figure import Figure

from sclong.figures.grid import metric_grid

METRICS = (("aupr_ratio", "AUPR ratio"), ("epr", "EPR"))


def draw(tables: object) -> Figure:
    """The figure from its tables (:class:`sclong.figures.make.FigureTables`)."""
    return metric_grid(tables, "grn_inference", METRICS, tables.spec.title)
