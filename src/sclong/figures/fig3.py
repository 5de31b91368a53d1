"""Fig. 3: chemical perturbation (L1000), the five DeepCE metrics of scLong and DeepCE on the test drugs."""

from __future__ import annotations

from matplotlib.figure import Figure

from sclong.figures.grid import metric_grid

METRICS = (
    ("rmse", "RMSE"),
    ("pearson", "Pearson"),
    ("spearman", "Spearman"),
    ("pos_precision_100", "Pos-P@100"),
    ("neg_precision_100", "Neg-P@100"),
)


def draw(tables: object) -> Figure:
    """The figure from its tables (:class:`sclong.figures.make.FigureTables`)."""
    return metric_grid(tables, "chemical_perturbation", METRICS, tables.spec.title)
