"""Genetic-interaction magnitude scores of the test doubles, as scLong's figure code computes them.

For a double ``A+B``: ordinary least squares with intercept ``D_AB ~ a D_A + b D_B + c`` over the top-50 DE
genes of the double, where ``D = mean - control mean``, the regressors ``D_A``, ``D_B`` are the **true**
single-gene deltas and only ``D_AB`` comes from the method; the magnitude is ``sqrt(a^2 + b^2)``. The
method's magnitudes are compared with the true ones by Pearson, and by the overlap of the top-15
(synergy) and bottom-15 (suppressor) doubles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sclong.tasks.base import Metric
from sclong.tasks.perturbation.metrics import constant, pearson
from sclong.tasks.perturbation.screen import CONTROL, Predictions, Screen, Split

TOP = 15
SCENARIO = "all"
GI_COLUMNS = ["condition", "magnitude_true", "magnitude_pred"]


def magnitude(double_delta: np.ndarray, delta_a: np.ndarray, delta_b: np.ndarray) -> float:
    """``sqrt(a^2 + b^2)`` of the OLS fit ``double_delta ~ a delta_a + b delta_b + c``."""
    design = np.column_stack([delta_a, delta_b, np.ones_like(delta_a)])
    (a, b, _), *_ = np.linalg.lstsq(design, double_delta, rcond=None)
    return float(np.hypot(a, b))


def gi_table(screen: Screen, split: Split, predictions: Predictions) -> pd.DataFrame:
    """Artifact ``gi``: the true and predicted magnitude of every predicted test double whose two singles
    were measured."""
    measured = set(screen.conditions.tolist())
    control = screen.control_mean()
    rows = []
    for condition in split.test:
        genes = screen.perturbed(condition)
        singles = [f"{g}+{CONTROL}" for g in genes]
        if len(genes) != 2 or condition not in predictions or not set(singles) <= measured:
            continue
        top = screen.de_genes_50[condition]
        delta_a, delta_b = ((screen.mean(s) - control)[top] for s in singles)
        rows.append((condition, magnitude((screen.mean(condition) - control)[top], delta_a, delta_b),
                     magnitude((predictions[condition] - control)[top], delta_a, delta_b)))  # fmt: skip
    return pd.DataFrame(rows, columns=GI_COLUMNS)


def gi_metrics(table: pd.DataFrame) -> list[Metric]:
    """``gi_magnitude_pearson``, ``gi_synergy_overlap`` and ``gi_suppressor_overlap`` (scenario ``all``).

    With fewer than 30 doubles the top and bottom sets are ``n // 2`` doubles each (the note says so).
    Predicted magnitudes that are all equal (the additive model's are all sqrt 2) rank nothing: no values.
    """
    n = len(table)
    names = ("gi_magnitude_pearson", "gi_synergy_overlap", "gi_suppressor_overlap")
    if n < 2:
        return [Metric(SCENARIO, name, None, f"needs at least 2 test doubles, has {n}") for name in names]
    if constant(table["magnitude_pred"].to_numpy()):
        note = "every predicted magnitude is the same, so they neither correlate nor rank"
        return [Metric(SCENARIO, name, None, note) for name in names]
    k = min(TOP, n // 2)
    note = "" if k == TOP else f"top/bottom {k} of {n} test doubles"
    true_order = table.sort_values(["magnitude_true", "condition"])["condition"].tolist()
    pred_order = table.sort_values(["magnitude_pred", "condition"])["condition"].tolist()
    synergy = len(set(true_order[-k:]) & set(pred_order[-k:]))
    suppressor = len(set(true_order[:k]) & set(pred_order[:k]))
    corr = pearson(table["magnitude_pred"].to_numpy(), table["magnitude_true"].to_numpy())
    return [Metric(SCENARIO, names[0], corr), Metric(SCENARIO, names[1], float(synergy), note),
            Metric(SCENARIO, names[2], float(suppressor), note)]  # fmt: skip


def double_errors(screen: Screen, split: Split, predictions: Predictions) -> pd.DataFrame:
    """Artifact ``double_errors``: |mean predicted - mean true| per predicted test double and gene."""
    frames = [
        pd.DataFrame({"condition": c, "gene": screen.genes, "abs_error": np.abs(predictions[c] - screen.mean(c))})
        for c in split.test
        if len(screen.perturbed(c)) == 2 and c in predictions
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["condition", "gene", "abs_error"])
