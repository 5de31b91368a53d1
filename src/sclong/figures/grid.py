"""A grid of bar panels: one row per scenario, one column per metric, of one task."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from sclong.figures.bars import draw_bars, legend, panel_data


def metric_grid(tables: object, task: str, metrics: Sequence[tuple[str, str]], title: str) -> Figure:
    """Bars of ``metrics`` ((name, axis label) pairs) for every scenario of ``task``."""
    methods = tables.methods[task]
    present = tables.metrics[tables.metrics["task"] == task]
    scenarios = sorted(set(present["scenario"]))
    shown = [(name, label) for name, label in metrics if name in set(present["metric"])]
    width = max(3.2, 0.45 * len(methods) + 1.2)
    fig, axes = plt.subplots(len(scenarios), len(shown), figsize=(width * len(shown), 3.1 * len(scenarios) + 0.9),
                             squeeze=False)  # fmt: skip
    for row, scenario in enumerate(scenarios):
        for col, (metric, label) in enumerate(shown):
            ax = axes[row][col]
            draw_bars(ax, panel_data(tables, task, scenario, metric), methods, label)
            panel = chr(ord("a") + row * len(shown) + col)
            where = "" if scenario == "all" else f" - {scenario}"
            ax.set_title(f"{panel}  {label}{where}", fontsize=9, loc="left")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    legend(fig, tables.scale, tables.seeds)
    return fig
