"""Raw/log1p detection and the paper / scanpy normalisations against dense references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sclong.data.normalize import count_structure, detect_kind, normalize
from sclong.errors import InputError


def counts(seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    dense = rng.negative_binomial(1, 0.3, size=(60, 80)).astype(np.float32)
    dense[:, :10] *= 400  # a few highly expressed genes
    dense[3] = 0  # an empty cell
    return sp.csr_matrix(dense)


def paper_reference(dense: np.ndarray, raw: bool) -> np.ndarray:
    x = np.log(dense.astype(np.float64) / 10000 + 1) if raw else dense.astype(np.float64)
    out = np.zeros_like(x)
    for i, cell in enumerate(x):
        top = cell.max()
        if top > 10:
            out[i] = np.minimum(cell, 10)
        elif top > 0:
            out[i] = cell * 10 / top
    return out


def scanpy_reference(dense: np.ndarray) -> np.ndarray:
    total = dense.sum(axis=1, keepdims=True)
    return np.log1p(np.divide(dense * 1e4, total, out=np.zeros_like(dense, dtype=np.float64), where=total > 0))


def test_paper_raw_matches_dense_reference():
    m = counts()
    got = normalize(m, "raw", "paper")
    np.testing.assert_allclose(got.toarray(), paper_reference(m.toarray(), raw=True), rtol=1e-5, atol=1e-6)
    assert got.dtype == np.float32 and got.has_canonical_format
    assert np.allclose(got.max(axis=1).toarray().ravel()[[0, 1, 2, 4]], 10)
    assert m.data.max() >= 400  # input untouched


def test_paper_log1p_clips_large_and_scales_small_cells():
    dense = np.array([[0, 1.5, 3.0, 0], [12.0, 0, 5.0, 11.0], [0, 0, 0, 0], [10.0, 2.0, 0, 0]], np.float32)
    got = normalize(sp.csr_matrix(dense), "log1p", "paper").toarray()
    np.testing.assert_allclose(got, [[0, 5, 10, 0], [10, 0, 5, 10], [0, 0, 0, 0], [10, 2, 0, 0]], rtol=1e-6)
    np.testing.assert_allclose(got, paper_reference(dense, raw=False), rtol=1e-6)


def test_scanpy_raw_matches_dense_reference_and_keeps_log1p():
    m = counts(1)
    m = m[m.getnnz(axis=1) > 0]
    got = normalize(m, "raw", "scanpy")
    np.testing.assert_allclose(got.toarray(), scanpy_reference(m.toarray()), rtol=1e-5, atol=1e-6)
    logged = sp.csr_matrix(np.log1p(m.toarray()))
    np.testing.assert_allclose(normalize(logged, "log1p", "scanpy").toarray(), logged.toarray())


def test_detection():
    assert detect_kind(np.array([1.0, 3.0, 250.0]), "d") == "raw"
    assert detect_kind(np.array([0.3, 2.2, 9.2], np.float32), "d") == "log1p"
    assert detect_kind(np.array([0.5, 35.2]), "d") == "unknown"
    assert detect_kind(np.array([1.0, 2.0]), "d", claimed="log1p") == "log1p"
    assert detect_kind(np.array([]), "d") == "raw"


@pytest.mark.parametrize(
    ("values", "claimed", "message"),
    [
        ([1.0, np.nan], None, "NaN"),
        ([1.0, np.inf], "raw", "NaN or infinite"),
        ([1.0, -2.0], None, "negative"),
        ([1.0, 2.5], "raw", "claimed to be raw counts"),
        ([1.0, 25.0], "log1p", "claimed to be log1p"),
    ],
)
def test_detection_errors_name_the_source(values, claimed, message):
    with pytest.raises(InputError, match=rf"^dataset-7: .*{message}"):
        detect_kind(np.array(values), "dataset-7", claimed=claimed)


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown"):
        normalize(counts(), "unknown")


@pytest.mark.parametrize("method", ["paper", "scanpy"])
def test_explicit_zeros_and_unsorted_input(method):
    m = sp.csr_matrix((np.array([5.0, 0.0, 2.0], np.float32), np.array([3, 1, 0]), np.array([0, 3])), shape=(1, 4))
    got = normalize(m, "raw", method)
    assert got.indices.tolist() == [0, 3] and got.has_canonical_format
    expected = normalize(sp.csr_matrix(m.toarray()), "raw", method)
    np.testing.assert_allclose(got.toarray(), expected.toarray())
    assert m.data.tolist() == [5.0, 0.0, 2.0]


@pytest.fixture(scope="module")
def celltypist_counts(shared_data) -> sp.csr_matrix:
    import anndata as ad

    return sp.csr_matrix(ad.read_h5ad(shared_data / "cells/celltypist_sample_counts.h5ad").X)


def per_cell(matrix: sp.csr_matrix, factors: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix(sp.diags(factors) @ matrix, dtype=np.float32)


def test_count_structure_of_real_log_normalised_cells():
    import scanpy as sc

    pbmc = sc.datasets.pbmc68k_reduced()  # .raw: log1p of library-size-normalised counts, 3 decimals
    assert count_structure(sp.csr_matrix(pbmc.raw.X), logged=True) > 0.99


def test_count_structure_tells_normalised_counts_from_tpm(celltypist_counts):
    counts = celltypist_counts
    normalised = per_cell(counts, 1e4 / np.asarray(counts.sum(1)).ravel())
    length = np.random.default_rng(0).uniform(500, 10_000, counts.shape[1])  # gene lengths make TPM
    per_kb = sp.csr_matrix(counts @ sp.diags(1e3 / length))
    tpm = per_cell(per_kb, 1e6 / np.asarray(per_kb.sum(1)).ravel())
    assert count_structure(counts, logged=False) == 1.0
    assert count_structure(normalised, logged=False) > 0.99
    assert count_structure(normalised.log1p(), logged=True) > 0.99
    assert count_structure(tpm, logged=False) < 0.3
    assert count_structure(tpm.log1p(), logged=True) < 0.3
    log2 = normalised.copy()
    log2.data = np.log2(log2.data + 1)
    assert count_structure(log2, logged=True) < 0.7
    assert detect_kind(tpm.data, "tpm") == "unknown" and detect_kind(tpm.log1p().data, "tpm") == "log1p"


def test_count_structure_needs_two_values_in_a_cell():
    assert count_structure(sp.csr_matrix(np.array([[0, 2.5, 0], [0, 0, 0]])), logged=True) is None
