"""The random-forest baseline of the drug-combination task (no public code; the paper cites DeepDDS' use of it).

Features of a pair: [Morgan bits of drug 1; Morgan bits of drug 2; the cell line's expression] (the
fingerprint's radius and length are settings: radius 2 and 1,024 bits make ECFP4-like bits; rdkit's Morgan
generator through :func:`sclong.tasks.drugs.molecules.fingerprints`). sklearn's
``RandomForestClassifier`` with the given trees, ``random_state=seed``, other settings sklearn's defaults;
the score of a pair is the forest's class-1 probability. Nothing is tuned, so nothing is selected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def pair_features(pairs: pd.DataFrame, fingerprints: pd.DataFrame, cells: pd.DataFrame) -> np.ndarray:
    """Pairs x [fingerprint bits of drug 1, of drug 2, cell expression] (float32); ``fingerprints`` and
    ``cells`` are indexed by SMILES and cell id."""
    drug1 = fingerprints.loc[pairs["drug1"]].to_numpy(dtype=np.float32)
    drug2 = fingerprints.loc[pairs["drug2"]].to_numpy(dtype=np.float32)
    cell = cells.loc[pairs["cell"]].to_numpy(dtype=np.float32)
    return np.hstack([drug1, drug2, cell])


def random_forest_scores(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, n_trees: int, seed: int, n_jobs: int
) -> np.ndarray:
    """Class-1 probabilities of ``test_x`` from a random forest fitted on ``train_x``, ``train_y``."""
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=n_trees, random_state=seed, n_jobs=n_jobs)
    forest.fit(train_x, train_y)
    return forest.predict_proba(test_x)[:, list(forest.classes_).index(1)]
