"""GEARS' evaluation metrics, per test condition and averaged over each scenario's conditions.

For a condition with mean predicted profile ``p``, mean true profile ``t``, control mean ``c`` (all control
cells) and DE genes ``de`` (its top-20 non-dropout genes): ``mse``/``pearson``/``pearson_delta`` over every
measured gene, ``mse_de``/``pearson_de``/``pearson_delta_de`` over ``de`` (the paper's MSE and Pearson are
``mse_de`` and ``pearson_delta_de``), and ``frac_correct_direction_de``/``frac_opposite_direction_de``: the
fractions of ``de`` where ``sign(p - c)`` equals / is opposite to ``sign(t - c)``. As in GEARS' code, a
Pearson of a constant vector counts as 0.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sclong.tasks.base import Metric
from sclong.tasks.perturbation.screen import SCENARIOS, Predictions, Scenario, Screen, Split

CONDITION_METRICS = ("mse_de", "pearson_delta_de", "mse", "pearson", "pearson_delta", "pearson_de",
                     "frac_correct_direction_de", "frac_opposite_direction_de")  # fmt: skip
NO_CONDITION = "no test condition in this scenario"


def constant(x: np.ndarray) -> bool:
    """Whether ``x`` is constant up to rounding (relative spread below 1e-9)."""
    return bool(np.ptp(x) <= 1e-9 * max(1.0, float(np.abs(x).max(initial=0.0))))


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; 0 when either vector is constant (GEARS' convention for its NaN)."""
    if constant(x) or constant(y):
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))


def condition_metrics(pred: np.ndarray, true: np.ndarray, control: np.ndarray, de: np.ndarray) -> dict[str, float]:
    """The metrics of :data:`CONDITION_METRICS` for one condition."""
    direction = np.abs(np.sign(pred[de] - control[de]) - np.sign(true[de] - control[de]))
    return {
        "mse_de": float(np.mean((pred[de] - true[de]) ** 2)),
        "pearson_delta_de": pearson(pred[de] - control[de], true[de] - control[de]),
        "mse": float(np.mean((pred - true) ** 2)),
        "pearson": pearson(pred, true),
        "pearson_delta": pearson(pred - control, true - control),
        "pearson_de": pearson(pred[de], true[de]),
        "frac_correct_direction_de": float(np.mean(direction == 0)),
        "frac_opposite_direction_de": float(np.mean(direction == 2)),
    }


def condition_table(screen: Screen, split: Split, predictions: Predictions) -> pd.DataFrame:
    """Artifact ``conditions``: one row per predicted test condition (condition, scenario, metrics)."""
    control = screen.control_mean()
    rows = [
        {"condition": c, "scenario": split.scenario[c],
         **condition_metrics(predictions[c], screen.mean(c), control, screen.de_genes[c])}
        for c in split.test
        if c in predictions
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["condition", "scenario", *CONDITION_METRICS])


def scenario_metrics(split: Split, table: pd.DataFrame, not_applicable: Mapping[Scenario, str]) -> list[Metric]:
    """Every metric averaged over the predicted test conditions of each scenario.

    A scenario without test conditions gets ``None`` and :data:`NO_CONDITION`; one listed in
    ``not_applicable`` gets ``None`` and that note; a scenario some of whose conditions the method did not
    predict says how many in the note.
    """
    metrics = []
    for scenario in SCENARIOS:
        wanted = split.in_scenario(scenario)
        rows = table[table["scenario"] == scenario]
        note = ""
        if not wanted:
            note = NO_CONDITION
        elif scenario in not_applicable:
            note = not_applicable[scenario]
        elif len(rows) < len(wanted):
            note = f"{len(wanted) - len(rows)} of {len(wanted)} test conditions not predicted"
        for name in CONDITION_METRICS:
            value = None if not wanted or scenario in not_applicable or not len(rows) else float(rows[name].mean())
            metrics.append(Metric(scenario, name, value, note or ("" if value is not None else "no prediction")))
    return metrics
