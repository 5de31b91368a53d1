"""Build a local TileDB-SOMA store shaped like the CELLxGENE Census, for the offline demo and tests.

The store at ``uri`` is what ``cellxgene_census.open_soma(uri=uri)`` opens and what
:mod:`sclong.data.census` queries, exactly as it queries the real Census:

* ``census_info/datasets``: dataframe ``soma_joinid, dataset_id, dataset_title, collection_name,
  dataset_total_cell_count``;
* ``census_data/homo_sapiens``: experiment written by ``tiledbsoma.io.from_anndata`` (one call per
  dataset, appended through ``tiledbsoma.io.register_anndatas``) with ``obs`` columns ``dataset_id,
  assay, cell_type, tissue, tissue_general, disease, donor_id, sex, suspension_type, is_primary_data,
  nnz, raw_sum`` and measurement ``RNA`` with ``var`` ``feature_id, feature_name``, X layer ``raw``
  and the ``feature_dataset_presence_matrix`` (datasets x var, bool).

Inputs of the demo: scanpy's ``pbmc68k_reduced`` (its log-normalised ``.raw`` matrix, symbols mapped
to Ensembl IDs) and simulated raw counts split into one dataset per batch.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pyarrow as pa
import scanpy as sc
import scipy.sparse as sp
import tiledbsoma
import tiledbsoma.io

from sclong.cli import run_module_main
from sclong.data.normalize import detect_kind
from sclong.errors import InputError
from sclong.io.atomic import atomic_path
from sclong.knowledge.genes import map_symbols, read_gene_table

log = logging.getLogger(__name__)

EXPERIMENT = "homo_sapiens"
MEASUREMENT = "RNA"
LAYER = "raw"
OBS_COLUMNS = {
    "dataset_id": str,
    "assay": str,
    "cell_type": str,
    "tissue": str,
    "tissue_general": str,
    "disease": str,
    "donor_id": str,
    "sex": str,
    "suspension_type": str,
    "is_primary_data": bool,
}
MAPPING_PREFERENCE = ("ensembl_id", "current", "previous", "alias", "ambiguous")


@dataclass
class LocalDataset:
    """One Census dataset: ``cells`` has Ensembl IDs as ``var_names``, ``var['feature_name']`` and the
    :data:`OBS_COLUMNS` (except ``dataset_id``, filled in) in ``obs``; ``normalization`` is what its
    values claim to be (``raw``, ``log1p`` or ``None`` for unstated)."""

    dataset_id: str
    title: str
    cells: ad.AnnData
    source: str
    normalization: str | None = None


def validate(dataset: LocalDataset) -> None:
    """Refuse duplicate gene IDs, missing obs columns and NaN / negative / wrongly claimed values."""
    cells = dataset.cells
    duplicated = cells.var_names[cells.var_names.duplicated()]
    if len(duplicated):
        raise InputError(dataset.source, f"duplicate gene IDs, e.g. {duplicated[0]}")
    missing = [c for c in OBS_COLUMNS if c != "dataset_id" and c not in cells.obs]
    if missing:
        raise InputError(dataset.source, f"obs lacks columns {missing}")
    if "feature_name" not in cells.var:
        raise InputError(dataset.source, "var lacks column 'feature_name'")
    detect_kind(sp.csr_matrix(cells.X).data, dataset.source, claimed=dataset.normalization)


def _soma_ready(dataset: LocalDataset) -> ad.AnnData:
    """A bare AnnData (float32 CSR X, census obs and var columns) for ``from_anndata``."""
    cells = dataset.cells
    x = sp.csr_matrix(cells.X, dtype=np.float32)
    obs = pd.DataFrame(index=[f"{dataset.dataset_id}:{name}" for name in cells.obs_names])
    for column, kind in OBS_COLUMNS.items():
        value = dataset.dataset_id if column == "dataset_id" else cells.obs[column].to_numpy()
        obs[column] = np.broadcast_to(value, len(obs)).astype(kind)
    obs["nnz"] = np.diff(x.indptr).astype(np.int64)
    obs["raw_sum"] = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()
    var = pd.DataFrame({"feature_name": cells.var["feature_name"].astype(str).to_numpy()}, index=cells.var_names)
    obs.index.name, var.index.name = "obs_id", "feature_id"
    return ad.AnnData(X=x, obs=obs, var=var)


def build_local_census(uri: str | Path, datasets: list[LocalDataset]) -> None:
    """Write ``datasets`` as a Census-shaped SOMA store at ``uri`` (atomically, replacing it)."""
    if not datasets:
        raise ValueError("no datasets to write")
    ids = [d.dataset_id for d in datasets]
    if len(set(ids)) != len(ids):
        raise ValueError(f"dataset IDs are not unique: {ids}")
    for dataset in datasets:
        validate(dataset)
    adatas = [_soma_ready(d) for d in datasets]
    with atomic_path(uri, directory=True) as tmp:
        tmp.rmdir()  # TileDB creates the group directory itself
        with tiledbsoma.Collection.create(str(tmp)) as root:
            root.metadata["dataset_type"] = "sclong local census"
            with root.add_new_collection("census_info") as info:
                _write_datasets(info, datasets)
            root.add_new_collection("census_data").close()
        experiment_uri = str(tmp / "census_data" / EXPERIMENT)
        registration = tiledbsoma.io.register_anndatas(
            None, adatas, measurement_name=MEASUREMENT, obs_field_name="obs_id", var_field_name="feature_id"
        )
        for mode, cells in [("schema_only", adatas[0]), *(("write", cells) for cells in adatas)]:
            tiledbsoma.io.from_anndata(
                experiment_uri,
                cells,
                measurement_name=MEASUREMENT,
                obs_id_name="obs_id",
                var_id_name="feature_id",
                X_layer_name=LAYER,
                ingest_mode=mode,
                registration_mapping=registration,
            )
            if mode == "schema_only":
                registration.prepare_experiment(experiment_uri)
        with tiledbsoma.Collection.open(str(tmp / "census_data"), "w") as data:
            with tiledbsoma.Experiment.open(experiment_uri) as experiment:
                data.set(EXPERIMENT, experiment, use_relative_uri=True)
        _write_presence(experiment_uri, adatas)
    log.info("wrote local census %s: %d datasets, %d cells", uri, len(datasets), sum(a.n_obs for a in adatas))


def _write_datasets(info: tiledbsoma.Collection, datasets: list[LocalDataset]) -> None:
    table = pa.table(
        {
            "soma_joinid": pa.array(np.arange(len(datasets), dtype=np.int64)),
            "dataset_id": [d.dataset_id for d in datasets],
            "dataset_title": [d.title for d in datasets],
            "collection_name": ["sclong offline demo"] * len(datasets),
            "dataset_total_cell_count": pa.array([d.cells.n_obs for d in datasets], type=pa.int64()),
        }
    )
    with info.add_new_dataframe(
        "datasets", schema=table.schema, index_column_names=["soma_joinid"], domain=[(0, len(datasets) - 1)]
    ) as frame:
        frame.write(table)


def _write_presence(experiment_uri: str, adatas: list[ad.AnnData]) -> None:
    """Census ``feature_dataset_presence_matrix``: dataset ``i`` measured var ``j``."""
    with tiledbsoma.Experiment.open(experiment_uri) as experiment:
        var = experiment.ms[MEASUREMENT].var.read(column_names=["soma_joinid", "feature_id"]).concat()
    joinid = pd.Series(var["soma_joinid"].to_numpy(), index=var["feature_id"].to_numpy())
    rows = np.concatenate([np.full(a.n_vars, i, dtype=np.int64) for i, a in enumerate(adatas)])
    cols = np.concatenate([joinid.loc[a.var_names].to_numpy() for a in adatas]).astype(np.int64)
    with tiledbsoma.Experiment.open(experiment_uri, "w") as experiment:
        with experiment.ms[MEASUREMENT].add_new_sparse_ndarray(
            "feature_dataset_presence_matrix", type=pa.bool_(), shape=(len(adatas), len(var))
        ) as presence:
            presence.write(
                pa.Table.from_pydict(
                    {"soma_dim_0": rows, "soma_dim_1": cols, "soma_data": np.ones(len(rows), dtype=bool)}
                )
            )


def pbmc68k_dataset(gene_table: str | Path) -> LocalDataset:
    """scanpy's ``pbmc68k_reduced`` (700 Zheng68K cells): its log-normalised ``.raw`` matrix (``.X`` is
    z-scored), gene symbols mapped to Ensembl IDs (unmapped symbols dropped; of symbols mapping to the
    same ID the best-matched is kept)."""
    pbmc = sc.datasets.pbmc68k_reduced()
    mapping = map_symbols(pbmc.raw.var_names, read_gene_table(gene_table))
    mapping["rank"] = mapping["how"].map({how: i for i, how in enumerate(MAPPING_PREFERENCE)})
    keep = mapping.dropna(subset=["ensembl_id"]).sort_values("rank", kind="stable")
    keep = keep.drop_duplicates("ensembl_id").sort_index()
    log.info(
        "pbmc68k_reduced: %d of %d symbols mapped to distinct Ensembl IDs (%d unmapped, %d duplicates)",
        len(keep),
        len(mapping),
        mapping["ensembl_id"].isna().sum(),
        mapping["ensembl_id"].notna().sum() - len(keep),
    )
    x = sp.csr_matrix(pbmc.raw.X, dtype=np.float32)[:, keep.index.to_numpy()]
    obs = pd.DataFrame(
        {
            "assay": "10x 3' v1",
            "cell_type": pbmc.obs["bulk_labels"].astype(str).to_numpy(),
            "tissue": "blood",
            "tissue_general": "blood",
            "disease": "normal",
            "donor_id": "Zheng68K donor A",
            "sex": "male",
            "suspension_type": "cell",
            "is_primary_data": True,
        },
        index=pbmc.obs_names,
    )
    var = pd.DataFrame({"feature_name": keep["query"].to_numpy()}, index=keep["ensembl_id"].to_numpy())
    cells = ad.AnnData(X=x, obs=obs, var=var)
    return LocalDataset("pbmc68k-reduced", "Zheng68K PBMCs (scanpy pbmc68k_reduced)", cells, "pbmc68k_reduced")


def h5ad_datasets(path: str | Path, split_by: str | None, gene_table: str | Path) -> list[LocalDataset]:
    """Datasets from an ``.h5ad`` with Ensembl ``var_names`` (one per value of ``obs[split_by]``).

    ``uns['normalization']`` states what the values are; missing census obs columns get defaults
    (``cell_type`` from ``obs['cell_type']`` if present).
    """
    try:
        cells = ad.read_h5ad(path)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(path, f"unreadable h5ad ({err})") from None
    table = read_gene_table(gene_table).frame
    symbols = table["display_symbol"].reindex(cells.var_names).fillna("")
    cells.var["feature_name"] = np.where(symbols == "", cells.var_names, symbols)
    defaults = {
        "assay": "simulated",
        "cell_type": "unknown",
        "tissue": "simulated",
        "tissue_general": "simulated",
        "disease": "normal",
        "donor_id": "simulated",
        "sex": "unknown",
        "suspension_type": "cell",
        "is_primary_data": True,
    }
    for column, value in defaults.items():
        if column not in cells.obs:
            cells.obs[column] = value
    claim = cells.uns.get("normalization")
    stem = Path(path).name.removesuffix(".h5ad")
    if split_by is None:
        return [LocalDataset(stem, stem, cells, str(path), claim)]
    if split_by not in cells.obs:
        raise InputError(path, f"obs has no column {split_by!r} to split datasets by")
    return [
        LocalDataset(
            f"{stem}-{value}",
            f"{stem} {split_by} {value}",
            cells[cells.obs[split_by] == value].copy(),
            f"{path}[{split_by}={value}]",
            claim,
        )
        for value in sorted(cells.obs[split_by].astype(str).unique())
    ]


def main(argv: list[str] | None = None) -> int:
    """CLI: build the demo's local Census from pbmc68k_reduced and/or ``.h5ad`` files."""
    parser = argparse.ArgumentParser(prog="python -m sclong.data.local_census", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="directory of the SOMA store to write")
    parser.add_argument("--genes", required=True, help="gene table TSV (symbols -> Ensembl IDs)")
    parser.add_argument("--pbmc68k", action="store_true", help="include scanpy's pbmc68k_reduced")
    parser.add_argument("--h5ad", action="append", default=[], help="an .h5ad with Ensembl var_names")
    parser.add_argument("--split-by", help="obs column splitting each --h5ad into datasets (e.g. batch)")
    args = parser.parse_args(argv)
    datasets = [pbmc68k_dataset(args.genes)] if args.pbmc68k else []
    for path in args.h5ad:
        datasets.extend(h5ad_datasets(path, args.split_by, args.genes))
    if not datasets:
        parser.error("give --pbmc68k and/or --h5ad")
    build_local_census(args.out, datasets)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
