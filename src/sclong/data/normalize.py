"""Raw-count / log1p detection and the corpus normalisations, vectorised on CSR matrices.

Detection rule (per dataset, applied to every block of it):

* NaN, infinite or negative values are an error;
* all values integers -> ``raw`` (counts);
* otherwise, maximum < :data:`LOG1P_MAX` (20) -> ``log1p`` (log1p of library-size normalised values:
  ``log1p(1e4)`` = 9.2, ``log1p(1e6)`` = 13.8);
* otherwise ``unknown`` (e.g. TPM, scaled or z-scored data), which the corpus drops as the paper does.

A dataset whose normalisation is known (claimed, or detected on its first block) must stay consistent:
non-integer values in data claimed raw, or values >= 20 in data claimed log1p, are an error.

Count structure (:func:`count_structure`, used to tell log1p of library-size-normalised counts from
log1p of TPM/FPKM, log2 data and the like): library-size normalisation multiplies a cell's counts by one
factor, so within a cell ``expm1(x)`` (or ``x`` itself, for values not logged) is an integer multiple of
the cell's smallest non-zero value, a count of 1 in practice. The check takes up to
:data:`STRUCTURE_CELLS` cells spread over the matrix and, among the values at most
:data:`STRUCTURE_MAX_RATIO` times their cell's smallest one (where float32 rounding, or values rounded to
three decimals, cannot blur integers), counts those within :data:`STRUCTURE_TOLERANCE` of an integer
multiple. Normalised counts score ~1; TPM/FPKM (divided by gene length) score ~0.2. At least
:data:`STRUCTURE_MIN_FRACTION` (0.9) passes.

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

from sclong.data.kinds import KINDS, NORMALIZATIONS
from sclong.errors import InputError

__all__ = ["KINDS", "NORMALIZATIONS", "count_structure", "detect_kind", "normalize"]

LOG1P_MAX = 20.0
CELL_MAX = 10.0
PAPER_SCALE = 1e4
STRUCTURE_CELLS = 500
STRUCTURE_MAX_RATIO = 10.0
STRUCTURE_TOLERANCE = 0.1
STRUCTURE_MIN_FRACTION = 0.9


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


def count_structure(matrix: sp.spmatrix | sp.sparray, logged: bool) -> float | None:
    """Fraction of judged values that are integer multiples of their cell's smallest value (rule in the
    module doc), after ``expm1`` when ``logged``; ``None`` when no cell has two non-zero values."""
    csr = sp.csr_matrix(matrix)
    lengths = np.diff(csr.indptr)
    rows = np.flatnonzero(lengths >= 2)
    if not len(rows):
        return None
    rows = rows[np.unique(np.linspace(0, len(rows) - 1, min(STRUCTURE_CELLS, len(rows))).astype(np.int64))]
    sample = csr[rows]
    sample.eliminate_zeros()
    values = sample.data.astype(np.float64)
    if logged:
        values = np.expm1(values)
    lengths = np.diff(sample.indptr)
    filled = lengths > 0
    unit = np.minimum.reduceat(values, sample.indptr[:-1][filled])
    ratio = values / np.repeat(unit, lengths[filled])
    judged = ratio <= STRUCTURE_MAX_RATIO
    integral = judged & (np.abs(ratio - np.rint(ratio)) <= STRUCTURE_TOLERANCE)
    n_cells = int(filled.sum())  # each cell's smallest value is trivially a multiple: not counted
    if judged.sum() <= n_cells:
        return None
    return float((integral.sum() - n_cells) / (judged.sum() - n_cells))


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
