"""Shared fixtures: a small Census-shaped SOMA store with planted QC cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sclong.data.local_census import build_local_census
from tests.data.helpers import GENES, as_dataset, sim, with_rows


@pytest.fixture(scope="session")
def planted(tmp_path_factory):
    """A local Census with planted QC cases; returns (uri, inputs by dataset id, vocabulary IDs).

    a-raw: 120 cells + 2 exact duplicates of its cells 0, 1 + 3 cells with 5 non-zeros;
    b-raw: 100 cells + copies of a-raw's cells 5, 6; c-log1p: 80 log1p cells;
    d-nonprimary: copies of a-raw cells, not primary data; e-fewgenes: 40 genes measured;
    f-unknown: non-integer values up to > 20.
    """
    a = sim(120, seed=1)
    low = a.X[:3].copy()
    low.data[:] = 0
    for i in range(3):
        low.data[low.indptr[i] : low.indptr[i] + 5] = 1
    low.eliminate_zeros()
    a_all = with_rows(with_rows(a, a.X[:2], "dup"), low, "low")
    b = sim(100, seed=2)
    b_all = with_rows(b, a.X[5:7], "copy")
    c = sim(80, seed=3)
    c.X = sp.csr_matrix(np.log1p(c.X.toarray() / c.X.sum(axis=1).A * 1e4), dtype=np.float32)
    d = a[:30].copy()
    d.obs["is_primary_data"] = False
    e = sim(50, seed=5, genes=GENES[:40])
    f = sim(50, seed=6)
    f.X = f.X * 7.3
    inputs = {"a-raw": a_all, "b-raw": b_all, "c-log1p": c, "d-nonprimary": d, "e-fewgenes": e, "f-unknown": f}
    uri = tmp_path_factory.mktemp("census") / "census"
    build_local_census(uri, [as_dataset(name, cells) for name, cells in inputs.items()])
    rng = np.random.default_rng(0)
    vocabulary = list(rng.permutation(GENES[20:])) + [f"ENSG{i:011d}" for i in range(900, 910)]
    return uri, inputs, vocabulary
