"""Fig. 7: the ablation studies. Row a: scLong against w/o LEG and Random LEG; row b: against w/o GO and
Random GO; one panel per task and scenario of the metric the paper shows (genetic perturbation: MSE on the top
20 DE genes in each scenario; GRN inference: AUPR ratio; batch integration: batch ASW). Tasks without runs in
this configuration are left out; which metrics and which comparisons come from the figure's spec."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from sclong.errors import InputError
from sclong.figures.bars import draw_bars, legend, panel_data

TASK_LABELS = {
    "genetic_perturbation": "Genetic perturbation", "grn_inference": "GRN inference",
    "batch_integration": "Batch integration",
}  # fmt: skip
METRIC_LABELS = {
    "mse_de": "MSE, top 20 DE genes (lower is better)", "aupr_ratio": "AUPR ratio", "batch_asw": "batch ASW",
}  # fmt: skip
STUDY_LABELS = {"a_leg": "a  Low-expression genes", "b_go": "b  Gene Ontology graph"}


def panels(tables: object) -> list[tuple[str, str, str]]:
    """(task, scenario, metric) of every panel of a row, for the shown metrics the runs computed, scenarios in
    the order the runs list them."""
    found = []
    for task, metric in tables.spec.shown:
        rows = tables.metrics[(tables.metrics["task"] == task) & (tables.metrics["metric"] == metric)]
        found += [(task, scenario, metric) for scenario in dict.fromkeys(rows["scenario"])]
    return found


def draw(tables: object) -> Figure:
    """The figure from its tables (:class:`sclong.figures.make.FigureTables`)."""
    columns = panels(tables)
    if not columns:
        shown = ", ".join(f"{task} {metric}" for task, metric in tables.spec.shown)
        raise InputError("fig7", f"no run computed any metric the figure shows ({shown})")
    fig, axes = plt.subplots(len(tables.spec.families), len(columns), figsize=(2.1 * len(columns) + 0.6, 6.9),
                             squeeze=False)  # fmt: skip
    for row, (family, compared) in enumerate(tables.spec.families):
        for col, (task, scenario, metric) in enumerate(columns):
            methods = [m for m in ("sclong", *compared) if m in tables.methods[task]]
            ax = axes[row][col]
            draw_bars(ax, panel_data(tables, task, scenario, metric), methods, METRIC_LABELS.get(metric, metric))
            where = "" if scenario == "all" else "\n" + scenario.replace("seen_", "Seen ").replace("_", "/")
            ax.set_title(f"{TASK_LABELS.get(task, task)}{where}", fontsize=8)
        axes[row][0].annotate(STUDY_LABELS.get(family, family), (0, 1), xytext=(-34, 30), xycoords="axes fraction",
                              textcoords="offset points", fontsize=10, fontweight="bold", ha="left")  # fmt: skip
    fig.suptitle(f"{tables.spec.title} (BH correction within each study)", fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95), h_pad=3.0)
    legend(fig, tables.scale, tables.seeds)
    return fig
