"""Fig. 4 b and c: cancer drug response (Pearson of predicted and measured ln IC50 on the test pairs) and
drug combination (AUROC of synergy on the independent set), scLong against each task's baselines."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from sclong.figures.bars import draw_bars, legend, panel_data

PANELS = (
    ("b", "drug_response", "pearson", "Pearson (ln IC50)", "Cancer drug response"),
    ("c", "drug_combination", "auroc", "AUROC (synergy)", "Drug combination"),
)


def draw(tables: object) -> Figure:
    """The figure from its tables (:class:`sclong.figures.make.FigureTables`)."""
    widths = [max(3.2, 0.45 * len(tables.methods[task]) + 1.2) for _, task, *_ in PANELS]
    fig, axes = plt.subplots(1, len(PANELS), figsize=(sum(widths) + 0.6, 4.0), width_ratios=widths)
    for ax, (panel, task, metric, label, title) in zip(axes, PANELS, strict=True):
        draw_bars(ax, panel_data(tables, task, "all", metric), tables.methods[task], label)
        ax.set_title(f"{panel}  {title}", fontsize=9, loc="left")
    fig.suptitle(tables.spec.title, fontsize=11)
    fig.tight_layout(rect=(0, 0.1, 1, 0.94))
    legend(fig, tables.scale, tables.seeds)
    return fig
