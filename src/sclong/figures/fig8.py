"""Fig. 8: marker genes co-cluster in scLong's gene space (Zheng68K; demo: pbmc68k_reduced).

For each marker cell type: the cosine similarity of the shown genes' averaged scLong representations,
ordered by the task's hierarchical clustering (its dendrogram drawn from the run's ``linkage`` table), with
the cluster of each gene as a colour strip and the marker genes in red (the ``similarity``, ``clusters``
and ``linkage`` artifacts of scLong's first seed); then the co-clustering score of the markers per seed.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1 import make_axes_locatable
from scipy.cluster.hierarchy import dendrogram

from sclong.errors import InputError
from sclong.figures.bars import draw_bars, legend, panel_data

TASK = "marker_genes"
REFERENCE = "sclong"


def draw(tables: object) -> Figure:
    """The figure from its tables (:class:`sclong.figures.make.FigureTables`)."""
    seed = min(seed for task, method, seed in tables.artifacts if task == TASK and method == REFERENCE)
    artifacts = tables.artifacts[(TASK, REFERENCE, seed)]
    if not {"similarity", "clusters", "linkage"} <= set(artifacts):
        where = f"{TASK}/{REFERENCE}/seed{seed}"
        raise InputError(where, "lacks the similarity, clusters and linkage tables of Fig. 8")
    cell_types = list(dict.fromkeys(artifacts["clusters"]["cell_type"]))
    fig = plt.figure(figsize=(6.2 * len(cell_types), 8.6))
    grid = fig.add_gridspec(2, len(cell_types), height_ratios=(3.6, 0.8), hspace=0.5, wspace=0.35)
    for col, cell_type in enumerate(cell_types):
        ax = fig.add_subplot(grid[0, col])
        top = _heatmap(ax, artifacts, cell_type)
        scores = tables.metrics[(tables.metrics["method"] == REFERENCE) & (tables.metrics["scenario"] == cell_type)
                                & (tables.metrics["seed"] == seed)].set_index("metric")["value"]  # fmt: skip
        summary = ""
        if {"marker_coclustering", "marker_coclustering_null", "marker_coclustering_p"} <= set(scores.index):
            summary = (f"markers co-clustered {scores['marker_coclustering']:.2f} (random sets "
                       f"{scores['marker_coclustering_null']:.2f}, P = {scores['marker_coclustering_p']:.3g})")
        top.set_title(f"{chr(ord('a') + col)}  {cell_type} (seed {seed})\n{summary}", fontsize=9, loc="left")
        bar = fig.add_subplot(grid[1, col])
        draw_bars(bar, panel_data(tables, TASK, cell_type, "marker_coclustering"), tables.methods[TASK],
                  "marker co-clustering")  # fmt: skip
    fig.suptitle(tables.spec.title, fontsize=11)
    fig.subplots_adjust(bottom=0.16, top=0.9)
    legend(fig, tables.scale, tables.seeds)
    return fig


def _heatmap(ax: plt.Axes, tables: dict[str, pd.DataFrame], cell_type: str) -> plt.Axes:
    """The clustered similarity matrix of one cell type: the task's dendrogram on top, markers in red, the
    cluster of each gene as a strip below; colours span the 2nd-98th percentile of the similarities.
    Returns the dendrogram's axes (the panel's top)."""
    genes = tables["clusters"][tables["clusters"]["cell_type"] == cell_type].set_index("leaf").sort_index()
    steps = tables["linkage"][tables["linkage"]["cell_type"] == cell_type].sort_values("step")
    linkage = steps[["left", "right", "distance", "size"]].to_numpy(dtype=float)
    divider = make_axes_locatable(ax)
    tree = divider.append_axes("top", size="12%", pad=0.02)
    leaves = dendrogram(linkage, ax=tree, no_labels=True, color_threshold=0, above_threshold_color="0.35")["leaves"]
    tree.set_axis_off()
    ordered = genes.loc[leaves]
    pairs = tables["similarity"][tables["similarity"]["cell_type"] == cell_type]
    matrix = pairs.pivot(index="gene_a", columns="gene_b", values="cosine")
    matrix = matrix.reindex(index=ordered["gene"], columns=ordered["gene"]).to_numpy()
    low, high = np.nanpercentile(matrix, [2, 98])
    colourbar = {"shrink": 0.6, "label": "cosine similarity"}
    # the cell mesh rasterised (a PDF viewer draws seams between thousands of vector cells), labels vector
    sns.heatmap(matrix, ax=ax, cmap="rocket_r", vmin=low, vmax=high, square=True, cbar_kws=colourbar,
                xticklabels=False, yticklabels=ordered["gene"].tolist(), rasterized=True)  # fmt: skip
    ax.tick_params(axis="y", labelsize=4.5, length=0)
    for label, marker in zip(ax.get_yticklabels(), ordered["is_marker"].astype(bool), strict=True):
        if marker:
            label.set_color("red")
            label.set_fontweight("bold")
    palette = sns.color_palette("tab10", int(ordered["cluster"].max()) + 1)
    strip = divider.append_axes("bottom", size="4%", pad=0.04)
    strip.imshow(np.array([palette[c] for c in ordered["cluster"]])[None, :, :], aspect="auto")
    strip.set_axis_off()
    strip.set_title("cluster of each gene", fontsize=6, y=-1.6)
    return tree
