"""DeepCE's chemical-perturbation metrics against hand-computed values and scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from sclong.tasks.drugs.l1000_metrics import (
    METRICS,
    l1000_metrics,
    per_profile_correlation,
    precision_at_k,
    rmse,
)


def test_rmse_by_hand():
    # squared errors 1, 1, 1, 9: mean 3
    assert rmse(np.zeros((2, 2)), np.array([[1.0, 1.0], [1.0, 3.0]])) == pytest.approx(np.sqrt(3))


def test_pearson_per_profile_by_hand():
    true = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    predicted = np.array([[2.0, 4.0, 6.0], [3.0, 2.0, 1.0], [1.0, 3.0, 2.0]])
    # centred [-1, 0, 1] against [-1, 1, 0]: 1 / (sqrt 2 sqrt 2) = 0.5
    np.testing.assert_allclose(per_profile_correlation(true, predicted, "pearson"), [1.0, -1.0, 0.5])


def test_spearman_per_profile_by_hand():
    true = np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    predicted = np.array([[10.0, 20.0, 40.0, 30.0], [1.0, 1.0, 2.0, 3.0]])
    # ranks 1 2 4 3: 1 - 6 * 2 / (4 * 15) = 0.8; tied ranks 1.5 1.5 3 4: 4.5 / sqrt(5 * 4.5)
    np.testing.assert_allclose(per_profile_correlation(true, predicted, "spearman"), [0.8, 4.5 / np.sqrt(22.5)])


def test_correlations_match_scipy_on_random_profiles():
    rng = np.random.default_rng(0)
    true, predicted = rng.normal(size=(6, 978)), rng.normal(size=(6, 978))
    predicted[:, :100] += true[:, :100]
    predicted[0, :10] = predicted[0, 0]  # ties
    for kind, reference in (("pearson", pearsonr), ("spearman", spearmanr)):
        expected = [reference(t, p)[0] for t, p in zip(true, predicted, strict=True)]
        np.testing.assert_allclose(per_profile_correlation(true, predicted, kind), expected, rtol=1e-10)


def test_precision_at_k_by_hand():
    true = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    predicted = np.array([[5.0, 3.0, 4.0, 0.0, 1.0, 2.0]])
    assert precision_at_k(true, predicted, 2, "positive") == 0.5  # {0, 1} vs {0, 2}
    assert precision_at_k(true, predicted, 2, "negative") == 0.5  # {5, 4} vs {3, 4}
    assert precision_at_k(true, predicted, 3, "positive") == 1.0  # {0, 1, 2} both
    two = np.vstack([true, true])
    assert precision_at_k(two, np.vstack([predicted, true]), 2, "positive") == 0.75  # mean of 0.5 and 1
    with pytest.raises(ValueError, match="k = 7"):
        precision_at_k(true, predicted, 7, "positive")


def test_l1000_metrics_against_deepce_definitions():
    rng = np.random.default_rng(1)
    true = rng.normal(size=(4, 978))
    predicted = true + rng.normal(scale=2.0, size=true.shape)
    result = {m.metric: m.value for m in l1000_metrics(true, predicted, "test")}
    assert tuple(result) == METRICS
    assert result["rmse"] == pytest.approx(np.sqrt(((true - predicted) ** 2).mean()))
    assert result["pearson"] == pytest.approx(
        np.mean([pearsonr(t, p)[0] for t, p in zip(true, predicted, strict=True)])
    )
    assert result["spearman"] == pytest.approx(
        np.mean([spearmanr(t, p)[0] for t, p in zip(true, predicted, strict=True)])
    )
    # DeepCE: top/bottom 100 genes by value, as sets, overlap / 100, averaged
    pos = [
        len(set(np.argsort(t)[-100:]) & set(np.argsort(p)[-100:])) / 100 for t, p in zip(true, predicted, strict=True)
    ]
    neg = [len(set(np.argsort(t)[:100]) & set(np.argsort(p)[:100])) / 100 for t, p in zip(true, predicted, strict=True)]
    assert result["pos_precision_100"] == pytest.approx(np.mean(pos))
    assert result["neg_precision_100"] == pytest.approx(np.mean(neg))
    assert 0 < result["pos_precision_100"] < 1


def test_constant_prediction_has_no_correlation():
    true = np.random.default_rng(2).normal(size=(3, 978))
    predicted = true.copy()
    predicted[1] = 0.5
    result = {m.metric: m for m in l1000_metrics(true, predicted, "test")}
    assert result["pearson"].value is None and "1 of 3 profiles are constant" in result["pearson"].note
    assert result["spearman"].value is None
    assert result["rmse"].value > 0


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="same profiles x genes shape"):
        rmse(np.zeros((2, 3)), np.zeros((3, 2)))
