"""The paper's figures: one module per figure, each drawing only from tidy tables (metrics, statistics,
the paper's reported numbers, run artifacts). This module holds what the workflow needs at parse time
(which tasks and methods each figure shows) and imports no plotting library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sclong.errors import ConfigError
from sclong.tasks.base import MODEL_METHODS

DISPLAY_NAMES = {
    "sclong": "scLong", "wo_leg": "w/o LEG", "random_leg": "Random LEG", "wo_go": "w/o GO", "random_go": "Random GO",
    "gears": "GEARS", "additive": "Additive", "no_change": "No-Change",
    "deepce": "DeepCE", "deepcdr": "DeepCDR", "linear": "Linear", "deepdds": "DeepDDS",
    "random_forest": "Random forest",
    "deepsem": "DeepSEM", "genie3": "GENIE3", "go_graph": "GO Graph", "raw": "Raw", "hvg": "HVG", "scvi": "scVI",
}  # fmt: skip


@dataclass(frozen=True)
class FigureSpec:
    """A figure: its tasks, and which of their configured methods it shows.

    ``methods`` ``main``: scLong and the task's baselines (the paper's comparison figures); ``variants``:
    the model variants (the ablation figure). ``shown``: the (task, metric) pairs the figure shows and its
    statistics test (empty: every metric of its runs). ``families``: the Benjamini-Hochberg families of its
    statistics, each a name and the methods it compares with scLong (empty: the whole figure is one).
    ``partial``: drawn from whichever of its tasks the config runs (else it needs every one of them).
    """

    name: str
    title: str
    tasks: tuple[str, ...]
    methods: Literal["main", "variants"]
    module: str
    shown: tuple[tuple[str, str], ...] = ()
    families: tuple[tuple[str, tuple[str, ...]], ...] = ()
    partial: bool = False


FIGURES = {
    "fig2": FigureSpec("fig2", "Genetic perturbation outcome prediction", ("genetic_perturbation",), "main",
                       "sclong.figures.fig2"),
    "fig3": FigureSpec("fig3", "Chemical perturbation outcome prediction (L1000)", ("chemical_perturbation",), "main",
                       "sclong.figures.fig3"),
    "fig4": FigureSpec("fig4", "Cancer drug response and drug combination", ("drug_response", "drug_combination"),
                       "main", "sclong.figures.fig4",
                       families=(("b_drug_response", ("deepcdr", "linear")),
                                 ("c_drug_combination", ("deepdds", "random_forest")))),
    "fig5": FigureSpec("fig5", "Gene regulatory network inference", ("grn_inference",), "main", "sclong.figures.fig5"),
    "fig6": FigureSpec("fig6", "Zero-shot batch integration", ("batch_integration",), "main", "sclong.figures.fig6"),
    "fig7": FigureSpec("fig7", "Ablation studies: low-expression genes and the GO graph",
                       ("genetic_perturbation", "grn_inference", "batch_integration"), "variants",
                       "sclong.figures.fig7",
                       shown=(("genetic_perturbation", "mse_de"), ("grn_inference", "aupr_ratio"),
                              ("batch_integration", "batch_asw")),
                       families=(("a_leg", ("wo_leg", "random_leg")), ("b_go", ("wo_go", "random_go"))), partial=True),
    "fig8": FigureSpec("fig8", "Marker genes co-cluster in scLong gene space", ("marker_genes",), "main",
                       "sclong.figures.fig8"),
}  # fmt: skip


def get_figure(name: str) -> FigureSpec:
    """The figure called ``name``."""
    if name not in FIGURES:
        raise ConfigError("figure", f"unknown figure {name!r} (known: {', '.join(FIGURES)})")
    return FIGURES[name]


def figure_methods(spec: FigureSpec, configured: list[str]) -> list[str]:
    """The configured methods of a task that ``spec`` shows, in configured order."""
    if spec.methods == "variants":
        return [m for m in configured if m in MODEL_METHODS]
    return [m for m in configured if m == "sclong" or m not in MODEL_METHODS]


def display_name(method: str) -> str:
    """How a method is labelled in figures."""
    return DISPLAY_NAMES.get(method, method)
