"""GENIE3 (Huynh-Thu et al. 2010) with sklearn's random forests, as ``vahuynh/GENIE3``'s ``GENIE3.py`` does it.

For every target gene: its expression divided by its SD (ddof 0) is regressed on the candidate regulators
(the TFs other than the target) with ``RandomForestRegressor(n_estimators=n_trees, max_features=sqrt | all)``
(other parameters sklearn's defaults, as GENIE3 leaves them: bootstrap samples, fully grown trees); the
score of regulator -> target is the regulator's importance averaged over the trees, each tree's
*unnormalised* impurity decrease (``tree_.compute_feature_importances(normalize=False)``), which makes
scores comparable across targets. A constant target has nothing to explain: its regulators score 0.
Non-regulators and self-pairs are not predicted (NaN). Each target's forest is seeded from
``SeedSequence([seed, target])`` and fits in one process (``n_jobs=1``).
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import RandomForestRegressor

from sclong.tasks.grn.settings import Genie3Settings


def genie3(expression: np.ndarray, regulators: np.ndarray, settings: Genie3Settings, seed: int) -> np.ndarray:
    """Scores ``[regulator, target]`` (genes x genes float32, NaN where not predicted) of cells x genes
    ``expression`` with candidate regulators at positions ``regulators``."""
    n_genes = expression.shape[1]
    scores = np.full((n_genes, n_genes), np.nan, dtype=np.float32)
    inputs = np.asarray(expression, dtype=np.float32)
    for target in range(n_genes):
        candidates = regulators[regulators != target]
        if not len(candidates):
            continue
        output = inputs[:, target].astype(np.float64)
        sd = output.std()
        if sd == 0:
            scores[candidates, target] = 0
            continue
        forest = RandomForestRegressor(
            n_estimators=settings.n_trees,
            max_features="sqrt" if settings.max_features == "sqrt" else 1.0,
            n_jobs=1,
            random_state=int(np.random.SeedSequence([seed, target]).generate_state(1)[0]),
        )
        forest.fit(inputs[:, candidates], output / sd)
        importances = [tree.tree_.compute_feature_importances(normalize=False) for tree in forest.estimators_]
        scores[candidates, target] = np.mean(importances, axis=0)
    return scores
