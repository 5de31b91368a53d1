"""Corpus quality control on CSR blocks: vocabulary alignment, low-count cells, exact duplicates, split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
import xxhash

from sclong.knowledge.genes import strip_version


def vocabulary_lookup(var: pd.DataFrame, vocabulary_ids: Sequence[str]) -> np.ndarray:
    """Map var ``soma_joinid`` -> vocabulary index (-1: not in the vocabulary) by unversioned
    ``feature_id``; the array covers joinids ``0..max``."""
    position = pd.Series(np.arange(len(vocabulary_ids), dtype=np.int32), index=list(vocabulary_ids))
    lookup = np.full(int(var["soma_joinid"].max()) + 1, -1, dtype=np.int32)
    ids = var["feature_id"].astype(str).map(strip_version)
    lookup[var["soma_joinid"].to_numpy()] = position.reindex(ids).fillna(-1).to_numpy(dtype=np.int32)
    return lookup


SORT_CHUNK_NNZ = 1 << 18  # entries per re-sorted piece: about 2 MiB of indices and values, cache-resident


def to_vocabulary(
    block: sp.csr_matrix, lookup: np.ndarray, n_genes: int, chunk_nnz: int = SORT_CHUNK_NNZ
) -> sp.csr_matrix:
    """Re-index the columns of ``block`` (var joinids) to the vocabulary, dropping other genes and
    explicit zeros; the result is canonical (sorted, duplicates of one gene summed).

    Where the lookup keeps every row's columns in order (it maps them monotonically) nothing is sorted.
    Otherwise rows are sorted by two stable O(nnz) counting sorts (CSR -> CSC -> CSR), done on pieces of
    about ``chunk_nnz`` entries so that the scattered writes stay in cache (about twice as fast as on a
    whole 4,096-cell block); the stable order keeps the sums of duplicates those of a whole-block sort.
    """
    columns = lookup[block.indices]
    keep = (columns >= 0) & (block.data != 0)
    if keep.all():
        data, indptr = block.data, block.indptr
    else:
        data, columns = block.data[keep], columns[keep]
        indptr = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])[block.indptr]
    mapped = sp.csr_matrix((data.astype(np.float32, copy=False), columns, indptr), shape=(block.shape[0], n_genes))
    if mapped.has_canonical_format:
        return mapped
    n_rows = mapped.shape[0]
    step = max(1, chunk_nnz * n_rows // max(mapped.nnz, 1))
    indptr, indices, values = mapped.indptr, np.empty_like(mapped.indices), np.empty_like(mapped.data)
    for start in range(0, n_rows, step):
        stop = min(start + step, n_rows)
        first, last = indptr[start], indptr[stop]
        piece = sp.csr_matrix((mapped.data[first:last], mapped.indices[first:last], indptr[start : stop + 1] - first),
                              shape=(stop - start, n_genes)).tocsc().tocsr()  # fmt: skip
        indices[first:last], values[first:last] = piece.indices, piece.data
    mapped = sp.csr_matrix((values, indices, indptr), shape=mapped.shape)
    mapped.sum_duplicates()
    return mapped


def row_hashes(block: sp.csr_matrix) -> np.ndarray:
    """64-bit hash of each row's (gene indices, float32 values) (xxh3; canonical CSR expected)."""
    indices = np.ascontiguousarray(block.indices, dtype=np.int32)
    data = np.ascontiguousarray(block.data, dtype=np.float32)
    out = np.empty(block.shape[0], dtype=np.uint64)
    for row, (start, end) in enumerate(zip(block.indptr[:-1].tolist(), block.indptr[1:].tolist(), strict=True)):
        seed = xxhash.xxh3_64_intdigest(indices[start:end])
        out[row] = xxhash.xxh3_64_intdigest(data[start:end], seed=seed)
    return out


class DuplicateFilter:
    """Remembers every cell seen (8 bytes per cell: its 64-bit hash, in a few sorted arrays merged
    like a binary counter) and flags exact repeats. With 64-bit hashes the chance that any two of
    48M distinct cells collide is about 6e-5."""

    def __init__(self) -> None:
        self._levels: list[np.ndarray] = []

    def __len__(self) -> int:
        return sum(len(level) for level in self._levels)

    def first_seen(self, block: sp.csr_matrix) -> np.ndarray:
        """Boolean mask of rows not seen before (in earlier blocks or earlier in this block); remembers them."""
        hashes = row_hashes(block)
        _, first = np.unique(hashes, return_index=True)
        new = np.zeros(len(hashes), dtype=bool)
        new[first] = True
        for level in self._levels:
            position = np.minimum(np.searchsorted(level, hashes), len(level) - 1)
            new &= level[position] != hashes
        self._insert(np.sort(hashes[new]))
        return new

    def _insert(self, hashes: np.ndarray) -> None:
        if not len(hashes):
            return
        self._levels.append(hashes)
        while len(self._levels) > 1 and len(self._levels[-2]) <= len(self._levels[-1]):
            newer, older = self._levels.pop(), self._levels.pop()
            self._levels.append(np.sort(np.concatenate([older, newer])))


def train_val_split(n_cells: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic random split of ``0..n_cells-1``: ``round(val_fraction * n)`` validation cells;
    both index arrays sorted, int64."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n_cells)
    n_val = int(round(val_fraction * n_cells))
    return np.sort(order[n_val:]).astype(np.int64), np.sort(order[:n_val]).astype(np.int64)
