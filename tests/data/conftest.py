"""Shared fixtures: small Census-shaped SOMA stores built with sclong.data.local_census."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sclong.data.local_census import LocalDataset, build_local_census
from sclong.data.simulate import SimulationParams, simulate

GENES = [f"ENSG{i:011d}" for i in range(300)]
OBS_DEFAULTS = {
    "assay": "simulated",
    "tissue": "blood",
    "tissue_general": "blood",
    "disease": "normal",
    "donor_id": "d1",
    "sex": "female",
    "suspension_type": "cell",
    "is_primary_data": True,
}


def as_dataset(dataset_id: str, cells: ad.AnnData, normalization: str | None = None) -> LocalDataset:
    """Wrap simulated cells as a Census dataset (obs and var columns filled in)."""
    cells = cells.copy()
    cells.uns.clear()
    for column, value in OBS_DEFAULTS.items():
        if column not in cells.obs:
            cells.obs[column] = value
    cells.var = pd.DataFrame({"feature_name": [f"G{g[-4:]}" for g in cells.var_names]}, index=cells.var_names)
    return LocalDataset(dataset_id, f"title of {dataset_id}", cells, f"test:{dataset_id}", normalization)


def sim(n_cells: int, seed: int, genes: list[str] = GENES) -> ad.AnnData:
    params = SimulationParams(n_cells=n_cells, n_cell_types=3, n_batches=1, n_tfs=15, library_size=3000, seed=seed)
    return simulate(genes, params)


def with_rows(cells: ad.AnnData, rows: sp.csr_matrix, prefix: str) -> ad.AnnData:
    """``cells`` with ``rows`` appended (obs copied from the first cell)."""
    extra = ad.AnnData(
        X=sp.csr_matrix(rows, dtype=np.float32),
        obs=pd.concat([cells.obs.iloc[:1]] * rows.shape[0]).set_axis([f"{prefix}{i}" for i in range(rows.shape[0])]),
        var=cells.var,
    )
    return ad.concat([cells, extra], merge="same", uns_merge="same")


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


def write_vocabulary(path, ensembl_ids: list[str]) -> None:
    """A vocabulary TSV with the columns sclong.knowledge.vocabulary reads."""
    n = len(ensembl_ids)
    frame = pd.DataFrame({"index": range(n), "ensembl_id": ensembl_ids, "symbol": ensembl_ids})
    for column in ("biotype", "entrez"):
        frame[column] = ""
    frame["nonzero_cells"] = 1
    for column in ("top_expressed", "protein_coding", "go", "gene2vec"):
        frame[column] = True
    frame.to_csv(path, sep="\t", index=False)
