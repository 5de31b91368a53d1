"""QC building blocks: vocabulary re-indexing, duplicate detection across blocks, the split."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sclong.data.qc import DuplicateFilter, to_vocabulary, train_val_split, vocabulary_lookup


def test_lookup_strips_versions_and_marks_unknown_genes():
    var = pd.DataFrame({"soma_joinid": [0, 1, 3], "feature_id": ["ENSG1.4", "ENSG2", "ENSG9"]})
    lookup = vocabulary_lookup(var, ["ENSG2", "ENSG1", "ENSG5"])
    assert lookup.tolist() == [1, 0, -1, -1]


def test_to_vocabulary_reorders_drops_and_sums():
    # var joinids 0..4 -> vocabulary: 0->2, 1->0, 2->absent, 3->1, 4->0 (two features of one gene)
    lookup = np.array([2, 0, -1, 1, 0], dtype=np.int32)
    block = sp.csr_matrix(np.array([[1, 2, 3, 4, 5], [0, 0, 7, 0, 0], [6, 0, 0, 8, 0]], dtype=np.float32))
    block.data[block.data == 4] = 0  # an explicit zero
    got = to_vocabulary(block, lookup, n_genes=3)
    assert got.has_canonical_format and got.shape == (3, 3)
    np.testing.assert_array_equal(got.toarray(), [[7, 0, 1], [0, 0, 0], [0, 8, 6]])
    assert got.nnz == 4


@pytest.mark.parametrize("chunk_nnz", [1, 37, 10_000])
def test_to_vocabulary_in_pieces_equals_one_whole_block_sort(chunk_nnz: int):
    # A shuffled vocabulary (rows must be re-sorted), three features of one gene (their sum's order matters
    # in float32), unmapped features and explicit zeros; pieces of a few rows, of one row and the whole block.
    rng = np.random.default_rng(1)
    n_vars, n_genes = 300, 200
    lookup = np.full(n_vars, -1, dtype=np.int32)
    lookup[:n_genes] = rng.permutation(n_genes)
    lookup[[250, 251, 252]] = lookup[7]
    dense = sp.random(120, n_vars, density=0.2, dtype=np.float32, random_state=rng).toarray() * np.float32(1e4)
    dense[:, [7, 250, 251, 252]] = rng.random((120, 4), dtype=np.float32) * np.float32(1e7) + np.float32(0.3)
    block = sp.csr_matrix(dense)  # the four features of gene lookup[7]: float32 sums that depend on the order
    block.data[::17] = 0
    got = to_vocabulary(block, lookup, n_genes, chunk_nnz=chunk_nnz)
    columns = lookup[block.indices]
    keep = (columns >= 0) & (block.data != 0)
    indptr = np.concatenate([[0], np.cumsum(keep)])[block.indptr]
    expected = sp.csr_matrix((block.data[keep], columns[keep], indptr), shape=(120, n_genes)).tocsc().tocsr()
    expected.sum_duplicates()
    assert got.has_canonical_format and got.nnz == expected.nnz
    np.testing.assert_array_equal(got.indptr, expected.indptr)
    np.testing.assert_array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data)


def test_to_vocabulary_leaves_the_input_block_alone():
    lookup = np.array([1, 0], dtype=np.int32)
    block = sp.csr_matrix(np.array([[1, 2], [3, 4]], dtype=np.float32))
    to_vocabulary(block, lookup, n_genes=2)
    np.testing.assert_array_equal(block.toarray(), [[1, 2], [3, 4]])


def test_duplicates_are_found_across_many_blocks():
    rng = np.random.default_rng(0)
    cells = sp.random(400, 50, density=0.3, format="csr", dtype=np.float32, random_state=rng)
    cells.data = np.ceil(cells.data * 5)
    order = rng.integers(0, 400, 1000)  # 1000 draws of 400 distinct cells
    seen = DuplicateFilter()
    kept = []
    for start in range(0, 1000, 37):
        rows = order[start : start + 37]
        kept.extend(rows[seen.first_seen(cells[rows])])
    distinct_rows = {cells[i].toarray().tobytes() for i in range(400)}
    assert len(kept) == len(set(kept)) == len(set(order.tolist())) == len(seen)
    assert len(distinct_rows) == 400
    assert len(seen._levels) <= int(np.log2(len(seen))) + 1


def test_same_genes_other_values_are_not_duplicates():
    a = sp.csr_matrix(np.array([[1, 0, 2], [1, 0, 3], [0, 1, 2], [1, 0, 2]], dtype=np.float32))
    assert DuplicateFilter().first_seen(a).tolist() == [True, True, True, False]


def test_split():
    train, val = train_val_split(1000, 0.05, seed=3)
    assert len(val) == 50 and len(train) == 950 and np.intersect1d(train, val).size == 0
    assert np.all(np.diff(train) > 0) and train.dtype == np.int64
    again = train_val_split(1000, 0.05, seed=3)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(train_val_split(1000, 0.05, seed=4)[1], val)
