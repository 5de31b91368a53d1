"""Chemical-perturbation metrics as DeepCE's ``utils/metric.py`` defines them.

Inputs: ``true`` and ``predicted``, profiles x genes (the 978 landmarks), same shape and order.

* RMSE: the square root of the mean squared error over every entry.
* Pearson / Spearman: per profile, across its genes (Spearman = Pearson of the ranks, ties averaged, as
  scipy's ``spearmanr``), then the mean over profiles. A profile whose true or predicted values are all
  equal has no correlation: the metric is then not computed (``None`` with a note), never averaged over
  the rest.
* Pos-P@k / Neg-P@k: per profile, the overlap of the k genes with the highest (lowest) true values and
  the k with the highest (lowest) predicted values, divided by k; the mean over profiles. DeepCE fixes the
  true set at 100 genes and reports k = 100. Ties are ordered by gene position (a stable sort).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from sclong.tasks.base import Metric

TOP_K = 100
METRICS = ("rmse", "pearson", "spearman", "pos_precision_100", "neg_precision_100")


def _check(true: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    true, predicted = np.asarray(true, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if true.shape != predicted.shape or true.ndim != 2:
        raise ValueError(f"true {true.shape} and predicted {predicted.shape} must be the same profiles x genes shape")
    return true, predicted


def rmse(true: np.ndarray, predicted: np.ndarray) -> float:
    """Root mean squared error over all entries."""
    true, predicted = _check(true, predicted)
    return float(np.sqrt(np.mean((true - predicted) ** 2)))


def per_profile_correlation(
    true: np.ndarray, predicted: np.ndarray, kind: Literal["pearson", "spearman"]
) -> np.ndarray:
    """Each profile's correlation across genes (NaN where either side is constant)."""
    from scipy.stats import rankdata

    true, predicted = _check(true, predicted)
    if kind == "spearman":
        true, predicted = rankdata(true, axis=1), rankdata(predicted, axis=1)
    a = true - true.mean(axis=1, keepdims=True)
    b = predicted - predicted.mean(axis=1, keepdims=True)
    norms = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norms > 0, (a * b).sum(axis=1) / norms, np.nan)


def precision_at_k(
    true: np.ndarray, predicted: np.ndarray, k: int, direction: Literal["positive", "negative"]
) -> float:
    """Mean over profiles of |top-k true & top-k predicted| / k (lowest k for ``negative``)."""
    true, predicted = _check(true, predicted)
    if not 0 < k <= true.shape[1]:
        raise ValueError(f"k = {k} must be between 1 and the number of genes ({true.shape[1]})")
    sign = -1.0 if direction == "positive" else 1.0
    true_top = np.argsort(sign * true, axis=1, kind="stable")[:, :k]
    predicted_top = np.argsort(sign * predicted, axis=1, kind="stable")[:, :k]
    hits = [len(np.intersect1d(t, p, assume_unique=True)) for t, p in zip(true_top, predicted_top, strict=True)]
    return float(np.mean(hits) / k)


def l1000_metrics(true: np.ndarray, predicted: np.ndarray, scenario: str) -> list[Metric]:
    """The five metrics of Fig. 3 (names in :data:`METRICS`)."""
    result = [Metric(scenario, "rmse", rmse(true, predicted))]
    for kind in ("pearson", "spearman"):
        values = per_profile_correlation(true, predicted, kind)
        if np.isnan(values).any():
            note = f"{int(np.isnan(values).sum())} of {len(values)} profiles are constant (no correlation)"
            result.append(Metric(scenario, kind, None, note))
        else:
            result.append(Metric(scenario, kind, float(values.mean())))
    result.append(Metric(scenario, "pos_precision_100", precision_at_k(true, predicted, TOP_K, "positive")))
    result.append(Metric(scenario, "neg_precision_100", precision_at_k(true, predicted, TOP_K, "negative")))
    return result
