"""Fig. 2: genetic perturbation outcomes (paper: Norman 2019; demo: the simulated Perturb-seq screen).

b  Pearson of the predicted vs true expression change and MSE, both on the top-20 DE genes, per scenario;
c  predicted vs true genetic-interaction magnitude of the test doubles, scLong and GEARS (the ``gi`` table
   of each one's first seed: the split changes with the seed, so seeds are not pooled);
d  overlap of the predicted with the true top 15 (synergy) and bottom 15 (suppressor) doubles, per method;
e  scLong's absolute errors on the test doubles (first seed's ``double_errors``): the doubles (rows, at most
   40) and genes (columns, at most 90) with the largest errors, the doubles clustered hierarchically as
   seaborn's clustermap does (average linkage, Euclidean distance).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from mpl_toolkits.axes_grid1 import make_axes_locatable
from scipy.cluster.hierarchy import dendrogram, leaves_list, linkage

from sclong.errors import InputError
from sclong.figures import display_name
from sclong.figures.bars import REFERENCE_COLOUR, draw_bars, legend, panel_data

TASK = "genetic_perturbation"
REFERENCE = "sclong"
SCENARIO_LABELS = {"seen_0_2": "Seen 0/2", "seen_1_2": "Seen 1/2", "seen_2_2": "Seen 2/2", "seen_0_1": "Seen 0/1"}
BAR_METRICS = (("pearson_delta_de", "Pearson (DE genes)"), ("mse_de", "MSE (DE genes)"))
GI_METRICS = (("gi_synergy_overlap", "synergy: top-15 overlap"),
              ("gi_suppressor_overlap", "suppressor: bottom-15 overlap"))  # fmt: skip
SCATTER_METHODS = ("sclong", "gears")
ARTIFACT_COLUMNS = {"gi": ("condition", "magnitude_true", "magnitude_pred"),
                    "double_errors": ("condition", "gene", "abs_error")}  # fmt: skip
HEATMAP_GENES = 90
HEATMAP_CONDITIONS = 40


def draw(tables: object) -> Figure:
    """The figure from its tables (:class:`sclong.figures.make.FigureTables`)."""
    methods = tables.methods[TASK]
    scatter = {m: _artifact(tables, m, "gi") for m in SCATTER_METHODS if m in methods}
    if REFERENCE not in scatter:
        raise InputError(f"{TASK}/{REFERENCE}", "no scLong run: Fig. 2 compares every method with scLong")
    seed, errors = _artifact(tables, REFERENCE, "double_errors")
    fig = plt.figure(figsize=(18, 13.5))
    outer = fig.add_gridspec(2, 1, height_ratios=(2, 1.25), hspace=0.32, left=0.045, right=0.955, top=0.94,
                             bottom=0.1)  # fmt: skip
    top = outer[0].subgridspec(2, 6, hspace=0.6, wspace=0.55)
    for row, (metric, label) in enumerate(BAR_METRICS):
        for col, (scenario, name) in enumerate(SCENARIO_LABELS.items()):
            ax = fig.add_subplot(top[row, col])
            draw_bars(ax, panel_data(tables, TASK, scenario, metric), methods, label)
            ax.set_title(f"{'b  ' if row == col == 0 else ''}{name}", fontsize=9, loc="left")
    scatter_axes = [fig.add_subplot(top[0, 4 + col]) for col in range(len(SCATTER_METHODS))]
    for ax, method in zip(scatter_axes, SCATTER_METHODS, strict=True):
        _scatter(ax, tables, method, scatter.get(method), "c  " if method == SCATTER_METHODS[0] else "")
    _share_limits(scatter_axes)
    for col, (metric, label) in enumerate(GI_METRICS):
        ax = fig.add_subplot(top[1, 4 + col])
        draw_bars(ax, panel_data(tables, TASK, "all", metric), methods, label)
        ax.set_title(f"{'' if col else 'd  '}{label.split(':')[0]}", fontsize=9, loc="left")
    _heatmap(fig.add_subplot(outer[1]), errors, seed, f"{TASK}/{REFERENCE}/seed{seed}/double_errors.tsv")
    fig.suptitle(tables.spec.title, fontsize=12)
    legend(fig, tables.scale, tables.seeds)
    return fig


def _artifact(tables: object, method: str, name: str) -> tuple[int, pd.DataFrame]:
    """(first seed, that run's ``name`` table), its columns checked."""
    seeds = sorted(seed for task, m, seed in tables.artifacts if task == TASK and m == method)
    if not seeds:
        raise InputError(f"{TASK}/{method}", f"no run of {method} to read its {name}.tsv from")
    where = f"{TASK}/{method}/seed{seeds[0]}"
    table = tables.artifacts[(TASK, method, seeds[0])].get(name)
    if table is None:
        raise InputError(where, f"lacks the {name}.tsv table Fig. 2 draws")
    missing = [c for c in ARTIFACT_COLUMNS[name] if c not in table.columns]
    if missing:
        raise InputError(f"{where}/{name}.tsv", f"lacks column(s) {', '.join(missing)}")
    return seeds[0], table


def _scatter(ax: Axes, tables: object, method: str, run: tuple[int, pd.DataFrame] | None, letter: str) -> None:
    """Predicted against true magnitude of one method's first seed, with Pearson r (and r over all seeds)."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_xlabel("true GI magnitude", fontsize=8)
    ax.set_ylabel("predicted GI magnitude", fontsize=8)
    ax.tick_params(labelsize=7)
    if run is None:
        ax.set_title(f"{letter}{display_name(method)}", fontsize=9, loc="left")
        ax.text(0.5, 0.5, "not run in this config", ha="center", va="center", fontsize=8, transform=ax.transAxes)
        return
    seed, gi = run
    true, pred = gi["magnitude_true"].to_numpy(float), gi["magnitude_pred"].to_numpy(float)
    colour = REFERENCE_COLOUR if method == REFERENCE else "#34495e"
    ax.scatter(true, pred, s=14, color=colour, alpha=0.8, linewidths=0, zorder=3)
    summary = f"{len(gi)} test doubles"
    if len(gi) >= 2 and np.ptp(true) > 0 and np.ptp(pred) > 0:
        summary = f"r = {np.corrcoef(true, pred)[0, 1]:.2f}, {summary}"
    over_seeds = tables.metrics[(tables.metrics["task"] == TASK) & (tables.metrics["method"] == method)
                                & (tables.metrics["metric"] == "gi_magnitude_pearson")]["value"].dropna()  # fmt: skip
    if len(over_seeds) > 1:
        summary += f"\nr over {len(over_seeds)} seeds {over_seeds.mean():.2f} ± {over_seeds.std(ddof=1):.2f}"
    ax.set_title(f"{letter}{display_name(method)}, seed {seed}\n{summary}", fontsize=8, loc="left")
    if gi.empty:
        ax.text(0.5, 0.5, "no test double in this split", ha="center", va="center", fontsize=8,
                transform=ax.transAxes)  # fmt: skip


def _share_limits(axes: list[Axes]) -> None:
    """One square range over the scatter panels, with the identity line."""
    low = min(min(ax.get_xlim()[0], ax.get_ylim()[0]) for ax in axes)
    high = max(max(ax.get_xlim()[1], ax.get_ylim()[1]) for ax in axes)
    for ax in axes:
        ax.plot([low, high], [low, high], color="0.6", linestyle="--", linewidth=0.8, zorder=1)
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect("equal", adjustable="box")


def largest_errors(errors: pd.DataFrame, where: str, n_genes: int = HEATMAP_GENES,
                   n_conditions: int = HEATMAP_CONDITIONS) -> pd.DataFrame:  # fmt: skip
    """Conditions x genes of absolute errors: the ``n_conditions`` test doubles with the largest mean error over
    all genes, then the ``n_genes`` genes with the largest mean error over those doubles (fewer when the table
    has fewer); genes in decreasing error, conditions in the leaf order of their hierarchical clustering."""
    if errors.duplicated(["condition", "gene"]).any():
        raise InputError(where, "repeats (condition, gene) pairs")
    matrix = errors.pivot(index="condition", columns="gene", values="abs_error")
    if matrix.isna().to_numpy().any():
        raise InputError(where, "lacks the error of some genes in some conditions (or has empty values)")
    conditions = matrix.mean(axis=1).sort_values(ascending=False, kind="stable").index[:n_conditions]
    genes = matrix.loc[conditions].mean(axis=0).sort_values(ascending=False, kind="stable").index[:n_genes]
    chosen = matrix.loc[conditions, genes]
    return chosen.iloc[leaves_list(_linkage(chosen))] if len(chosen) > 2 else chosen


def _linkage(matrix: pd.DataFrame) -> np.ndarray:
    """Average-linkage clustering of the rows by Euclidean distance (seaborn clustermap's defaults)."""
    return linkage(matrix.to_numpy(float), method="average", metric="euclidean")


def _heatmap(ax: Axes, errors: pd.DataFrame, seed: int, where: str) -> None:
    """Panel e: the largest errors, the doubles' dendrogram on the left, their names on the right."""
    title = f"e  scLong's absolute error |predicted - true| on the test doubles, seed {seed}"
    if errors.empty:
        ax.set_axis_off()
        ax.set_title(title, fontsize=9, loc="left")
        ax.text(0.5, 0.5, "no test double in this split", ha="center", va="center", fontsize=8)
        return
    matrix = largest_errors(errors, where)
    n_conditions, n_genes = matrix.shape
    fewer = [f"only {n} {what}" for n, asked, what in ((n_conditions, HEATMAP_CONDITIONS, "test doubles"),
             (n_genes, HEATMAP_GENES, "genes")) if n < asked]  # fmt: skip
    title += f": the {n_conditions} doubles x {n_genes} genes with the largest errors"
    title += f" ({', '.join(fewer)} in this split)" if fewer else ""
    divider = make_axes_locatable(ax)
    if n_conditions > 2:
        tree = divider.append_axes("left", size="5%", pad=0.02)
        dendrogram(_linkage(matrix), ax=tree, orientation="left", no_labels=True, color_threshold=0,
                   above_threshold_color="0.35")  # fmt: skip
        tree.set_ylim(10 * n_conditions, 0)  # leaf i at 10 i + 5: row i of the heatmap, top to bottom
        tree.set_axis_off()
    colourbar = divider.append_axes("right", size="1%", pad=0.75)
    # the cell mesh rasterised (a PDF viewer draws seams between thousands of vector cells), labels vector
    mesh = ax.pcolormesh(matrix.to_numpy(float), cmap="magma_r", vmin=0, vmax=float(np.percentile(matrix, 99)),
                         rasterized=True)  # fmt: skip
    ax.set_ylim(n_conditions, 0)
    ax.set_yticks(np.arange(n_conditions) + 0.5, matrix.index.tolist(), fontsize=min(7.0, 230 / n_conditions))
    ax.set_xticks(np.arange(n_genes) + 0.5, matrix.columns.tolist(), fontsize=min(7.0, 560 / n_genes),
                  rotation=90)  # fmt: skip
    ax.yaxis.tick_right()
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    bar = ax.figure.colorbar(mesh, cax=colourbar)
    bar.set_label("absolute error\n(colours capped at the 99th percentile)", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    ax.set_xlabel("gene", fontsize=8)
    ax.set_title(title, fontsize=9, loc="left")
