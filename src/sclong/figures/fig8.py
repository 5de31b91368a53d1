"""Fig. 8: marker genes co-cluster in scLong's gene space (Zheng68K; demo: pbmc68k_reduced).

For each marker cell type: the cosine similarity of the shown genes' averaged scLong representations,
ordered as the task's hierarchical clustering left them, with the cluster of each gene as a colour strip
and the marker genes in red (from the run's ``similarity`` and ``clusters`` artifacts of scLong's first
seed); then the co-clustering score of the markers per seed, with its permutation P.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1 import make_axes_locatable

from sclong.errors import InputError
from sclong.figures.bars import draw_bars, legend, panel_data

TASK = "marker_genes"
REFERENCE = "sclong"


def draw(tables: object) -> Figure:
    """The figure from its tables (:class:`sclong.figures.make.FigureTables`)."""
    seed = min(seed for task, method, seed in tables.artifacts if task == TASK and method == REFERENCE)
    artifacts = tables.artifacts[(TASK, REFERENCE, seed)]
    if "similarity" not in artifacts or "clusters" not in artifacts:
        raise InputError(f"{TASK}/{REFERENCE}/seed{seed}", "lacks the similarity and clusters tables of Fig. 8")
    cell_types = list(dict.fromkeys(artifacts["clusters"]["cell_type"]))
    fig = plt.figure(figsize=(6.2 * len(cell_types), 8.6))
    grid = fig.add_gridspec(2, len(cell_types), height_ratios=(3.2, 1.0), hspace=0.55, wspace=0.35)
    for col, cell_type in enumerate(cell_types):
        ax = fig.add_subplot(grid[0, col])
        _heatmap(ax, artifacts["similarity"], artifacts["clusters"], cell_type)
        scores = tables.metrics[(tables.metrics["method"] == REFERENCE) & (tables.metrics["scenario"] == cell_type)
                                & (tables.metrics["seed"] == seed)].set_index("metric")["value"]  # fmt: skip
        summary = ", ".join(f"{name} {scores[name]:.3g}" for name in ("marker_coclustering", "marker_coclustering_p")
                            if name in scores.index)  # fmt: skip
        ax.set_title(f"{chr(ord('a') + col)}  {cell_type} (seed {seed})\n{summary}", fontsize=9, loc="left")
        bar = fig.add_subplot(grid[1, col])
        draw_bars(bar, panel_data(tables, TASK, cell_type, "marker_coclustering"), tables.methods[TASK],
                  "marker co-clustering")  # fmt: skip
    fig.suptitle(tables.spec.title, fontsize=11)
    fig.subplots_adjust(bottom=0.16, top=0.9)
    legend(fig, tables.scale, tables.seeds)
    return fig


def _heatmap(ax: plt.Axes, similarity: pd.DataFrame, clusters: pd.DataFrame, cell_type: str) -> None:
    """The ordered similarity matrix of one cell type, markers in red, clusters as a colour strip."""
    genes = clusters[clusters["cell_type"] == cell_type].sort_values("order")
    pairs = similarity[similarity["cell_type"] == cell_type]
    matrix = pairs.pivot(index="gene_a", columns="gene_b", values="cosine")
    matrix = matrix.reindex(index=genes["gene"], columns=genes["gene"])
    colourbar = {"shrink": 0.6, "label": "cosine"}
    sns.heatmap(matrix.to_numpy(), ax=ax, cmap="vlag", center=0, square=True, cbar_kws=colourbar,
                xticklabels=False, yticklabels=genes["gene"].tolist())  # fmt: skip
    ax.tick_params(axis="y", labelsize=4.5, length=0)
    for label, marker in zip(ax.get_yticklabels(), genes["is_marker"].astype(bool), strict=True):
        if marker:
            label.set_color("red")
            label.set_fontweight("bold")
    palette = sns.color_palette("tab10", int(genes["cluster"].max()) + 1)
    strip = make_axes_locatable(ax).append_axes("bottom", size="4%", pad=0.04)
    strip.imshow(np.array([palette[c] for c in genes["cluster"]])[None, :, :], aspect="auto")
    strip.set_axis_off()
    strip.set_title("cluster of each gene (clustered order)", fontsize=6, y=-1.6)
