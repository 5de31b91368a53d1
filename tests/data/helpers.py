"""Helpers of the data tests: simulated datasets wrapped as local Census datasets, vocabulary files."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from sclong.data.local_census import LocalDataset
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
    params = SimulationParams(
        n_cells=n_cells, n_cell_types=3, n_batches=1, n_tfs=15, library_size=3000, seed=seed, cell_seed=0
    )
    return simulate(genes, params)


def with_rows(cells: ad.AnnData, rows: sp.csr_matrix, prefix: str) -> ad.AnnData:
    """``cells`` with ``rows`` appended (obs copied from the first cell)."""
    extra = ad.AnnData(
        X=sp.csr_matrix(rows, dtype=np.float32),
        obs=pd.concat([cells.obs.iloc[:1]] * rows.shape[0]).set_axis([f"{prefix}{i}" for i in range(rows.shape[0])]),
        var=cells.var,
    )
    return ad.concat([cells, extra], merge="same", uns_merge="same")


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
