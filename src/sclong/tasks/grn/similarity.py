"""The scLong variants' initial GRN: cosine similarity of per-gene vectors across cells, scaled for DeepSEM.

* Vectors: for every evaluated gene, its scLong value in each cell (the representation averaged over its
  features, :func:`sclong.tasks.representations.gene_representations` with ``reduce="features"``), i.e.
  the columns of a cells x genes matrix. A gene without a representation (not in the model's vocabulary)
  has the zero vector.
* Cosine similarity between genes (no centring), diagonal 0; a zero vector has similarity 0 with every
  gene. One float32 matrix product into the genes x genes output (peak memory: the output and a
  normalised copy of the vectors; 1.26 GB + 54 MB for 17,735 genes x 758 cells).
* Initial A for DeepSEM (``A[target, regulator]``): each target's row divided by its sum of absolute
  values, the scale of DeepSEM's own initialisation (each row of 1/(n-1) + U(0, 2e-4) sums to about 1)
  and of the scLong code's L1-normalised rows. Unscaled, a row of n cosines sums to O(n): I - A^T would
  be far from the regime DeepSEM's learning rate for A (2e-5) and sparsity weight are tuned for, and A
  would barely move. Signs are kept: DeepSEM's A is signed and both metrics rank by |score|, so a
  strongly negative similarity (anti-correlation, a repressor's signature) is as much evidence of an
  edge as a positive one. A row that is all 0 (a gene without a representation) gets DeepSEM's uniform
  1/(n-1), as the scLong code does.
"""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 2048


def cosine_adjacency(vectors: np.ndarray) -> np.ndarray:
    """Genes x genes cosine similarity (float32, diagonal 0) of the columns of cells x genes ``vectors``."""
    columns = np.asarray(vectors, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->j", columns, columns, dtype=np.float64))
    unit = np.divide(columns, norms, out=np.zeros_like(columns), where=norms > 0).T.copy()
    similarity = np.matmul(unit, unit.T, out=np.empty((len(unit), len(unit)), dtype=np.float32))
    np.fill_diagonal(similarity, 0)
    return similarity


def deepsem_init(similarity: np.ndarray) -> np.ndarray:
    """DeepSEM's initial A from a similarity matrix, in place (row blocks: no full-size temporary): rows
    scaled to unit L1 norm, zero rows uniform 1/(n-1), diagonal 0 (module docstring)."""
    n_genes = len(similarity)
    for start in range(0, n_genes, BLOCK_ROWS):
        rows = similarity[start : start + BLOCK_ROWS]
        total = np.abs(rows).sum(axis=1, dtype=np.float64)
        rows[total == 0] = 1.0 / (n_genes - 1)
        rows /= np.where(total > 0, total, 1.0).astype(np.float32)[:, None]
    np.fill_diagonal(similarity, 0)
    return similarity
