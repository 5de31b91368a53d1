"""Differentially expressed genes of each condition, as GEARS computes them.

GEARS ranks genes with ``scanpy.tl.rank_genes_groups(groupby=condition, reference=ctrl, rankby_abs=True,
method='t-test', use_raw=False)`` over every measured gene (its ``rank_genes_groups_cov_all``), then keeps
the first 20 "non-dropout" genes of that ranking: genes whose mean in the condition is non-zero, or zero in
both the condition and the control (GEARS' ``get_dropout_non_zero_genes``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sclong.tasks.perturbation.screen import CONTROL

N_DE = 20
N_DE_GI = 50


def rank_genes(adata, conditions: Sequence[str]) -> dict[str, np.ndarray]:
    """Condition -> every gene's position (into ``adata.var``), most differentially expressed first.

    ``adata.obs['condition']`` names each cell's condition; the control group is :data:`CONTROL`.
    """
    import scanpy as sc

    work = adata.copy()
    work.obs = work.obs[["condition"]].astype(str).astype("category")
    with warnings.catch_warnings():  # scanpy fills its result table one column at a time
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        sc.tl.rank_genes_groups(
            work,
            groupby="condition",
            groups=[c for c in conditions if c != CONTROL],
            reference=CONTROL,
            rankby_abs=True,
            method="t-test",
            n_genes=work.n_vars,
            use_raw=False,
        )
    names = work.uns["rank_genes_groups"]["names"]
    position = {gene: i for i, gene in enumerate(work.var_names)}
    return {c: np.array([position[g] for g in names[c]], dtype=np.int64) for c in conditions if c != CONTROL}


def non_dropout_top(ranking: np.ndarray, condition_mean: np.ndarray, control_mean: np.ndarray,
                    n: int = N_DE) -> np.ndarray:  # fmt: skip
    """The first ``n`` genes of ``ranking`` that are non-zero in the condition or zero in both means."""
    keep = (condition_mean != 0) | (control_mean == 0)
    return ranking[keep[ranking]][:n]
