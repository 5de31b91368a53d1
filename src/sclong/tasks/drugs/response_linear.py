"""The drug-response task's linear baseline: ridge regression on [cell-line expression; drug Morgan fingerprint].

Features of a pair: the cell line's expression (the same 697 values the DeepCDR baseline gets) followed
by its drug's Morgan fingerprint bits (:func:`sclong.tasks.drugs.molecules.fingerprints`; radius and bits
from the settings, ECFP4-like at radius 2). Every feature is standardised with the training pairs'
mean and SD, then scikit-learn's ``Ridge`` is fitted once per ``alpha`` of the settings on the training
pairs; the alpha with the lowest validation MSE is kept (the test pairs choose nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


def pair_features(expression: np.ndarray, fingerprints: np.ndarray, cells: np.ndarray, drugs: np.ndarray) -> np.ndarray:
    """float32 [pairs, genes + bits]: row ``cells[i]`` of ``expression`` beside row ``drugs[i]`` of ``fingerprints``."""
    return np.hstack([expression[cells], fingerprints[drugs]]).astype(np.float32, copy=False)


@dataclass(frozen=True)
class LinearFit:
    """The fitted pipeline (standardisation + ridge), its alpha and the validation MSE of every alpha."""

    model: object
    alpha: float
    validation_mse: pd.Series


def fit_linear(
    train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray], alphas: Sequence[float]
) -> LinearFit:
    """Fit one standardised ridge per alpha on ``train`` (features, targets); keep the best on ``validation``."""
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not alphas:
        raise ValueError("alphas is empty")
    scores, models = {}, {}
    for alpha in alphas:
        model = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(*train)
        scores[alpha] = float(np.mean((model.predict(validation[0]) - validation[1]) ** 2))
        models[alpha] = model
    mse = pd.Series(scores, name="validation_mse")
    best = float(mse.idxmin())
    log.info("linear baseline: ridge alpha %g chosen on the validation pairs (MSE %s)", best,
             ", ".join(f"{a:g}: {v:.4f}" for a, v in scores.items()))  # fmt: skip
    return LinearFit(models[best], best, mse)
