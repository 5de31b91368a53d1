"""The bar panels every comparison figure uses: mean bars, SD error bars, one dot per seed, BH-adjusted
significance stars of scLong against each method, and the paper's reported value as a marker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from sclong.figures import display_name

REFERENCE_COLOUR = "#c0392b"
OTHER_COLOUR = "#7f8c9d"
PAPER_MARKER = {"marker": "D", "s": 38, "facecolor": "white", "edgecolor": "black", "linewidth": 1.2, "zorder": 5}


@dataclass(frozen=True)
class PanelData:
    """What one panel shows: per-seed values of one (task, scenario, metric), its tests, the paper's values."""

    runs: pd.DataFrame  # columns method, seed, value, note
    stats: pd.DataFrame  # rows of the statistics table for this (task, scenario, metric)
    reported: dict[str, float]  # method -> the paper's value


def panel_data(tables: object, task: str, scenario: str, metric: str) -> PanelData:
    """Select one panel's rows from a figure's tables (see :class:`sclong.figures.make.FigureTables`)."""
    metrics, stats, reported = tables.metrics, tables.stats, tables.reported
    keep = (metrics["task"] == task) & (metrics["scenario"] == scenario) & (metrics["metric"] == metric)
    tests = stats[(stats["task"] == task) & (stats["scenario"] == scenario) & (stats["metric"] == metric)]
    paper = reported[(reported["task"] == task) & (reported["metric"] == metric)
                     & reported["scenario"].isin([scenario, "all"])]  # fmt: skip
    values = pd.to_numeric(paper["value"], errors="coerce")
    return PanelData(
        metrics.loc[keep, ["method", "seed", "value", "note"]], tests,
        {m: float(v) for m, v in zip(paper["method"], values, strict=True) if np.isfinite(v)},
    )  # fmt: skip


def draw_bars(ax: Axes, data: PanelData, methods: Sequence[str], ylabel: str, reference: str = "sclong") -> None:
    """Draw one bar panel of ``methods`` (in order) on ``ax``."""
    tops = []
    for i, method in enumerate(methods):
        rows = data.runs[data.runs["method"] == method]
        values = rows["value"].dropna().to_numpy(float)
        colour = REFERENCE_COLOUR if method == reference else OTHER_COLOUR
        if len(values) == 0:
            note = rows["note"].iloc[0] if len(rows) else "not run"
            ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=7, color="0.3")
            ax.annotate(note[:40], (i, 0), xytext=(0, 12), textcoords="offset points", ha="center", fontsize=5,
                        rotation=90, color="0.4")  # fmt: skip
            tops.append(None)  # no test mark above an n/a
            continue
        mean = values.mean()
        sd = values.std(ddof=1) if len(values) > 1 else 0.0
        ax.bar(i, mean, width=0.7, color=colour, alpha=0.85, zorder=2)
        if len(values) > 1:
            ax.errorbar(i, mean, yerr=sd, color="black", capsize=3, linewidth=1, zorder=3)
        offsets = np.linspace(-0.18, 0.18, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(i + offsets, values, s=12, color="black", alpha=0.75, zorder=4, linewidths=0)
        top = max(mean + sd, values.max())
        if method in data.reported:
            ax.scatter(i, data.reported[method], **PAPER_MARKER)
            top = max(top, data.reported[method])
        tops.append(top)
    low, high = _limits(data, methods)
    ax.set_ylim(low - 0.06 * (high - low) if low < 0 else low, high + 0.12 * (high - low))  # dots below 0 in view
    for i, method in enumerate(methods):
        test = data.stats[data.stats["method"] == method]
        if method == reference or test.empty or tops[i] is None:
            continue
        mark = test["significance"].iloc[0] or "n.t."
        ax.text(i, tops[i] + 0.03 * (high - low), mark, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(methods)), [display_name(m) for m in methods], rotation=35, ha="right", fontsize=8)
    ax.set_xlim(-0.6, max(len(methods), 3) - 0.4)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(axis="y", labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", color="0.9", zorder=0)


def _limits(data: PanelData, methods: Sequence[str]) -> tuple[float, float]:
    """Y range covering bars from 0, SDs, seed dots and the paper's values."""
    values = data.runs.loc[data.runs["method"].isin(methods), "value"].dropna().to_numpy(float)
    paper = np.array([v for m, v in data.reported.items() if m in methods])
    everything = np.concatenate([values, paper, [0.0]])
    means = data.runs.groupby("method")["value"].agg(["mean", "std"]).fillna(0.0)
    everything = np.concatenate([everything, (means["mean"] + means["std"]).to_numpy(), (means["mean"] - means["std"])])
    low, high = float(np.nanmin(everything)), float(np.nanmax(everything))
    return (min(low, 0.0), high if high > low else low + 1.0)


def legend(fig: Figure, scale: str, seeds: Sequence[int]) -> None:
    """The shared legend and the footnote saying at which scale and with which seeds the figure was made."""
    handles = [
        Patch(color=REFERENCE_COLOUR, label="scLong (mean)"), Patch(color=OTHER_COLOUR, label="other methods (mean)"),
        Line2D([], [], color="black", marker="|", linestyle="", label="SD"),
        Line2D([], [], color="black", marker="o", markersize=3, linestyle="", label="one seed"),
        Line2D([], [], marker="D", markerfacecolor="white", markeredgecolor="black", linestyle="",
               label="paper (Bai et al. 2026)"),
    ]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=7, frameon=False, bbox_to_anchor=(0.5, 0.015))
    note = (f"{scale} scale, seeds {', '.join(map(str, seeds))}; stars: BH-adjusted two-sided t-test of scLong vs "
            "each method (* <0.05, ** <0.01, *** <0.001, ns, n.t. = not testable)")  # fmt: skip
    if scale != "paper":
        note += "; demo numbers are not the paper's"
    fig.text(0.5, 0.0, note, ha="center", va="bottom", fontsize=6, color="0.35")
