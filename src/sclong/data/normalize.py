"""Raw-count / log1p detection and the corpus normalisations, vectorised on CSR matrices.

Detection rule (per dataset, applied to every block of it):

* NaN, infinite or negative values are an error;
* all values integers -> ``raw`` (counts);
* otherwise, maximum < :data:`LOG1P_MAX` (20) -> ``log1p`` (log1p of library-size normalised values:
  ``log1p(1e4)`` = 9.2, ``log1p(1e6)`` = 13.8);
* otherwise ``unknown`` (e.g. TPM, scaled or z-scored data), which the corpus drops as the paper does.

A dataset whose normalisation is known (claimed, or detected on its first block) must stay consistent:
non-integer values in data claimed raw, or values >= 20 in data claimed log1p, are an error.

Normalisations (``paper`` follows METHODS.md; ``scanpy`` is the usual alternative):

* ``paper``: raw counts ``x <- log(x / 10000 + 1)``, log1p data kept; then per cell, if its maximum
  exceeds ``max_value`` (:data:`CELL_MAX`, 10) values are clipped to it, else the cell is multiplied by
  ``max_value / max``.
* ``scanpy``: raw counts ``sc.pp.normalize_total(target_sum=1e4)`` then log1p (as ``sc.pp.log1p``, in
  place on the stored values); log1p data kept.
"""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp

from sclong.errors import InputError

LOG1P_MAX = 20.0
CELL_MAX = 10.0
PAPER_SCALE = 1e4
NORMALIZATIONS = ("paper", "scanpy")
KINDS = ("raw", "log1p", "unknown")


def detect_kind(values: np.ndarray, source: str | Path, claimed: str | None = None) -> str:
    """Classify stored non-zero ``values`` as ``raw``, ``log1p`` or ``unknown`` (rule in the module doc).

    ``source`` names the dataset or file in errors. With ``claimed`` (``raw`` or ``log1p``) the values
    must be consistent with it and the claim is returned.
    """
    if claimed not in (None, "raw", "log1p"):
        raise ValueError(f"claimed must be None, 'raw' or 'log1p', not {claimed!r}")
    values = np.asarray(values)
    if values.size == 0:
        return claimed or "raw"
    lowest, highest = values.min(), values.max()
    if not (np.isfinite(lowest) and np.isfinite(highest)):
        raise InputError(source, "expression values contain NaN or infinite values")
    if lowest < 0:
        raise InputError(source, f"expression values are negative (minimum {lowest:g})")
    integer = bool(np.array_equal(np.rint(values), values))
    if claimed == "raw" and not integer:
        raise InputError(source, "values are claimed to be raw counts but are not all integers")
    if claimed == "log1p" and highest >= LOG1P_MAX:
        raise InputError(source, f"values are claimed to be log1p-normalised but reach {highest:g}")
    if claimed:
        return claimed
    if integer:
        return "raw"
    return "log1p" if highest < LOG1P_MAX else "unknown"


def normalize(
    matrix: sp.spmatrix | sp.sparray, kind: str, method: str = "paper", max_value: float = CELL_MAX
) -> sp.csr_matrix:
    """Normalise cells x genes ``matrix`` holding ``kind`` (``raw``/``log1p``) values with ``method``
    (``max_value``: the per-cell maximum of ``paper``).

    Returns a float32 CSR matrix without explicit zeros, which may share its index arrays with the
    input; the input is not modified.
    """
    if kind not in ("raw", "log1p"):
        raise ValueError(f"cannot normalise values of kind {kind!r}")
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalisation must be one of {NORMALIZATIONS}, not {method!r}")
    csr = sp.csr_matrix(matrix)
    if not csr.data.all():
        csr = csr.copy()
        csr.eliminate_zeros()
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    if method == "scanpy":
        if kind == "log1p" or csr.shape[0] == 0:
            return sp.csr_matrix(csr, dtype=np.float32, copy=True)
        cells = ad.AnnData(sp.csr_matrix(csr, dtype=np.float32, copy=True))
        sc.pp.normalize_total(cells, target_sum=PAPER_SCALE)
        normalised = sp.csr_matrix(cells.X)
        np.log1p(normalised.data, out=normalised.data)  # what sc.pp.log1p computes, without a copy
        return normalised
    data = csr.data.astype(np.float32, copy=True)
    if kind == "raw":
        data /= np.float32(PAPER_SCALE)
        np.log1p(data, out=data)
    out = sp.csr_matrix((data, csr.indices, csr.indptr), shape=csr.shape, copy=False)
    _scale_to_max(out, max_value)
    return out


def _scale_to_max(csr: sp.csr_matrix, ceiling: float) -> None:
    """In place: clip cells whose maximum exceeds ``ceiling``; scale the others so their maximum is it."""
    lengths = np.diff(csr.indptr)
    row_max = np.zeros(csr.shape[0], dtype=np.float32)
    filled = lengths > 0
    if csr.nnz:
        row_max[filled] = np.maximum.reduceat(csr.data, csr.indptr[:-1][filled])
    factor = np.ones_like(row_max)
    scale = filled & (row_max > 0) & (row_max <= ceiling)
    factor[scale] = np.float32(ceiling) / row_max[scale]
    csr.data *= np.repeat(factor, lengths)
    np.minimum(csr.data, np.float32(ceiling), out=csr.data)
