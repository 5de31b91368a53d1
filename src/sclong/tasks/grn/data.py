"""The GRN task's data: BEELINE's CSV files as AnnData, the ground truth, expression values and evaluated genes.

* Dataset: an AnnData (cells x genes) with the ground-truth network in ``uns['grn_edges']`` (columns
  ``tf``, ``target``; names = var names): the demo simulator's cells, or BEELINE's files converted by
  :func:`sclong.data.datasets.read_beeline`.
* Ground truth: :func:`sclong.data.datasets.check_edges`: edges naming a gene absent from the expression
  are counted, reported in a WARNING and dropped; if none remain the dataset is refused.
* Expression given to DeepSEM and GENIE3 (and used for the variance): raw counts (all values integers)
  are library-size normalised to 10,000 and log1p-transformed (what scanpy's ``normalize_total`` +
  ``log1p`` compute, done here in numpy: scanpy's numba kernels would reset the process's OpenMP thread
  count, and with it torch's, to all cores); log1p or other non-negative values (BEELINE's are already
  log-transformed) are used as stored.
* Evaluated genes (BEELINE's ``generateExpInputs.py`` style): the TFs = the truth's sources, plus the
  ``n_variable_genes`` other genes with the highest variance across cells (sample variance, ddof 1, of
  the expression above; ties: var order); ``None`` = all genes. They keep the var order. The truth is
  then restricted to edges between evaluated genes.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.data.datasets import EDGES_KEY, check_edges
from sclong.errors import InputError

log = logging.getLogger(__name__)

COUNTS_PER_CELL = 1e4


def ground_truth(cells: object, source: str | Path) -> pd.DataFrame:
    """The checked ground-truth edges of a dataset (``uns['grn_edges']``; see :func:`check_edges`)."""
    if EDGES_KEY not in cells.uns:
        raise InputError(source, f"dataset has no ground-truth network (uns['{EDGES_KEY}'] with columns tf, target)")
    return check_edges(cells.uns[EDGES_KEY], cells.var_names, source)


def expression_values(cells: object, source: str | Path) -> np.ndarray:
    """Dense cells x genes float32 expression for DeepSEM and GENIE3 (rule in the module docstring)."""
    import scipy.sparse as sp

    from sclong.data.normalize import detect_kind

    matrix = sp.csr_matrix(cells.X, dtype=np.float32)
    kind = detect_kind(matrix.data, source)
    if kind == "raw":
        totals = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
        scale = np.divide(COUNTS_PER_CELL, totals, out=np.zeros_like(totals), where=totals > 0)
        matrix = sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ matrix)
        np.log1p(matrix.data, out=matrix.data)
    log.info("%s: %s values%s", source, kind, " -> log1p of counts per 10,000" if kind == "raw" else ", used as stored")
    return matrix.toarray()


def select_genes(expression: np.ndarray, tfs: np.ndarray, n_variable: int | None) -> np.ndarray:
    """Positions of the evaluated genes: the TFs plus the ``n_variable`` most variable other genes
    (``None``: all genes), in var order."""
    n_genes = expression.shape[1]
    if n_variable is None:
        return np.arange(n_genes)
    others = np.setdiff1d(np.arange(n_genes), tfs)
    variance = expression[:, others].astype(np.float64).var(axis=0, ddof=1)
    chosen = others[np.argsort(-variance, kind="stable")[:n_variable]]
    return np.union1d(tfs, chosen)
