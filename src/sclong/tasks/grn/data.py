"""The GRN task's data: BEELINE's CSV files as AnnData, the ground truth, expression values and evaluated genes.

* Dataset: an AnnData (cells x genes) with the ground-truth network in ``uns['grn_edges']`` (columns
  ``tf``, ``target``; names = var names). :func:`read_beeline` builds one from BEELINE's
  ``ExpressionData.csv`` (genes x cells) and network CSV (``Gene1`` = TF, ``Gene2`` = target).
* Ground truth: edges naming a gene absent from the expression are counted, reported in a WARNING and
  dropped; if none remain the dataset is refused.
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

from sclong.errors import InputError

log = logging.getLogger(__name__)

EDGES_KEY = "grn_edges"
COUNTS_PER_CELL = 1e4
EXAMPLES = 5


def read_beeline(expression_csv: str | Path, network_csv: str | Path) -> object:
    """AnnData (cells x genes, CSR float32) of BEELINE's ``ExpressionData.csv`` (genes x cells) with the
    network CSV's edges (``Gene1`` -> ``Gene2``) in ``uns['grn_edges']`` as ``tf``, ``target``."""
    import anndata as ad
    import scipy.sparse as sp

    frame = _read_expression_csv(expression_csv)
    try:
        network = pd.read_csv(network_csv, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(network_csv, f"cannot read the network CSV ({err})") from err
    missing = [column for column in ("Gene1", "Gene2") if column not in network.columns]
    if missing:
        raise InputError(network_csv, f"network CSV lacks column(s) {', '.join(missing)} (BEELINE: Gene1, Gene2)")
    edges = network[["Gene1", "Gene2"]].rename(columns={"Gene1": "tf", "Gene2": "target"})
    edges = check_edges(edges, frame.index, network_csv)
    cells = ad.AnnData(
        X=sp.csr_matrix(frame.to_numpy(np.float32).T),
        obs=pd.DataFrame(index=frame.columns.astype(str)),
        var=pd.DataFrame(index=frame.index.astype(str)),
    )
    cells.uns[EDGES_KEY] = edges.reset_index(drop=True)
    return cells


def _read_expression_csv(path: str | Path) -> pd.DataFrame:
    """BEELINE's genes x cells expression CSV, checked: unique genes and cells, finite numbers."""
    try:
        frame = pd.read_csv(path, index_col=0)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read the expression CSV ({err})") from err
    if frame.empty:
        raise InputError(path, "expression CSV has no genes or no cells")
    text = [str(column) for column, dtype in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if text:
        raise InputError(path, f"expression CSV has non-numeric values in {len(text)} cell column(s), e.g. {text[0]}")
    for what, names in (("gene", frame.index), ("cell", frame.columns)):
        duplicated = names[names.duplicated()]
        if len(duplicated):
            problem = f"expression CSV has {len(duplicated)} duplicate {what} name(s), e.g. {duplicated[0]}"
            raise InputError(path, problem)
    if not np.isfinite(frame.to_numpy(np.float64)).all():
        raise InputError(path, "expression CSV has missing or infinite values")
    return frame


def check_edges(edges: pd.DataFrame, genes: pd.Index, source: str | Path) -> pd.DataFrame:
    """The edges (``tf``, ``target``) between ``genes``; the others are counted, reported and dropped.

    Raises :class:`InputError` naming ``source`` when the table is malformed or no edge remains.
    """
    if not isinstance(edges, pd.DataFrame) or not {"tf", "target"} <= set(edges.columns):
        raise InputError(source, "ground-truth network needs columns tf and target")
    if edges.empty:
        raise InputError(source, "ground-truth network has no edges")
    if edges[["tf", "target"]].isna().to_numpy().any():
        raise InputError(source, "ground-truth network has missing gene names")
    edges = edges[["tf", "target"]].astype(str)
    known = edges["tf"].isin(genes) & edges["target"].isin(genes)
    if not known.any():
        problem = f"none of the {len(edges)} ground-truth edges is between genes of the expression data"
        raise InputError(source, problem)
    if not known.all():
        names = pd.concat([edges["tf"], edges["target"]])
        absent = pd.unique(names[~names.isin(genes)])
        log.warning("%s: %d of %d ground-truth edges name %d gene(s) absent from the expression data (e.g. %s): "
                    "dropped", source, (~known).sum(), len(edges), len(absent),
                    ", ".join(absent[:EXAMPLES]))  # fmt: skip
    return edges[known]


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
