"""The local Census: input validation, pbmc68k_reduced, and the demo chain through the CLIs."""

from __future__ import annotations

import json

import cellxgene_census
import numpy as np
import pandas as pd
import pytest
import scanpy as sc

from sclong.data import corpus, local_census, simulate
from sclong.data.normalize import detect_kind
from sclong.errors import InputError
from tests.data.helpers import GENES, as_dataset, sim, write_vocabulary


@pytest.fixture(scope="module")
def gene_table(tmp_path_factory, shared_data):
    """The real gene table cut to pbmc68k_reduced's genes (by any symbol) plus 400 protein-coding genes."""
    path = shared_data / "genes" / "ensembl100_grch38_genes.tsv.gz"
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    symbols = set(sc.datasets.pbmc68k_reduced().raw.var_names)
    names = table[["symbol", "hgnc_symbol", "previous_symbols", "alias_symbols"]].agg(", ".join, axis=1)
    hits = names.str.split(", ").map(lambda items: bool(symbols.intersection(items)))
    coding = table[(table["biotype"] == "protein_coding") & ~hits].iloc[:400]
    path = tmp_path_factory.mktemp("genes") / "genes.tsv.gz"
    pd.concat([table[hits], coding]).to_csv(path, sep="\t", index=False)
    return path, coding["ensembl_gene_id"].tolist()


@pytest.mark.parametrize(
    ("plant", "normalization", "message"),
    [
        ("nan", None, "NaN"),
        ("negative", None, "negative"),
        ("fraction", "raw", "claimed to be raw counts"),
        ("duplicate_gene", None, "duplicate gene IDs, e.g. ENSG00000000001"),
        ("no_cell_type", None, r"obs lacks columns \['cell_type'\]"),
    ],
)
def test_bad_datasets_are_refused_without_output(tmp_path, plant, normalization, message):
    cells = sim(40, seed=1, genes=GENES[:50])
    cells.X = cells.X.copy()
    if plant == "nan":
        cells.X.data[3] = np.nan
    elif plant == "negative":
        cells.X.data[3] = -2
    elif plant == "fraction":
        cells.X.data[3] = 0.5
    elif plant == "no_cell_type":
        del cells.obs["cell_type"]
    dataset = as_dataset("bad", cells, normalization)
    if plant == "duplicate_gene":
        dataset.cells.var_names = [GENES[1]] + GENES[1:50]
    with pytest.raises(InputError, match=rf"^test:bad: .*{message}"):
        local_census.build_local_census(tmp_path / "census", [dataset])
    assert list(tmp_path.iterdir()) == []


def test_h5ad_that_is_not_one(tmp_path, gene_table):
    path = tmp_path / "x.h5ad"
    path.write_text("not hdf5")
    with pytest.raises(InputError, match="x.h5ad: unreadable h5ad"):
        local_census.h5ad_datasets(path, None, gene_table[0])


def test_pbmc68k_is_log_normalised_with_ensembl_ids(gene_table):
    dataset = local_census.pbmc68k_dataset(gene_table[0])
    cells = dataset.cells
    assert cells.n_obs == 700 and 740 <= cells.n_vars <= 765
    assert cells.var_names.is_unique and all(g.startswith("ENSG") for g in cells.var_names)
    assert detect_kind(cells.X.data, "pbmc") == "log1p"
    raw = sc.datasets.pbmc68k_reduced().raw
    cd3e = list(cells.var["feature_name"]).index("CD3E")
    np.testing.assert_array_equal(cells.X[:, cd3e].toarray(), raw[:, "CD3E"].X.toarray())
    assert "CD14+ Monocyte" in set(cells.obs["cell_type"])


def test_demo_chain_through_the_clis(tmp_path, gene_table):
    table, coding = gene_table
    sim_path = tmp_path / "sim.h5ad"
    simulator = {"n_cells": 300, "n_batches": 2, "n_cell_types": 5, "seed": 0, "cell_seed": 0}
    args = ["--genes", str(table), "--n-genes", "800", "--settings", json.dumps(simulator)]
    assert simulate.main([*args, "--out", str(sim_path), "--network", str(tmp_path / "net.tsv")]) == 0
    uri = tmp_path / "census"
    argv = ["--out", str(uri), "--genes", str(table), "--pbmc68k", "--h5ad", str(sim_path), "--split-by", "batch"]
    assert local_census.main(argv) == 0
    with cellxgene_census.open_soma(uri=str(uri)) as census:
        datasets = census["census_info"]["datasets"].read().concat().to_pandas()
        obs = census["census_data"]["homo_sapiens"].obs.read(column_names=["dataset_id", "cell_type"])
        obs = obs.concat().to_pandas()
    assert list(datasets["dataset_id"]) == ["pbmc68k-reduced", "sim-batch0", "sim-batch1"]
    assert len(obs) == 1000 and datasets["dataset_total_cell_count"].sum() == 1000
    census = {"uri": str(uri), "version": None, "organism": "Homo sapiens", "obs_value_filter": "", "dataset_ids": []}
    source = ["--census", json.dumps(census)]
    assert corpus.main(["gene-counts", *source, "--out", str(tmp_path / "counts.tsv")]) == 0
    counts = pd.read_csv(tmp_path / "counts.tsv", sep="\t")
    top = counts.sort_values("nonzero_cells", ascending=False)["feature_id"].iloc[:1000].tolist()
    write_vocabulary(tmp_path / "vocabulary.tsv", top)
    build = ["build", *source, "--vocabulary", str(tmp_path / "vocabulary.tsv"), "--out", str(tmp_path / "corpus")]
    options = {"min_genes_per_dataset": 500, "min_nonzero": 100, "normalization": "paper", "max_value": 10.0,
               "cells_per_shard": 500000, "val_fraction": 0.05, "split_seed": 0}  # fmt: skip
    assert corpus.main([*build, "--settings", json.dumps(options)]) == 0
    manifest = json.loads((tmp_path / "corpus" / "manifest.json").read_text())
    kinds = {d["dataset_id"]: d.get("normalization") for d in manifest["datasets"]}
    assert kinds == {"pbmc68k-reduced": "log1p", "sim-batch0": "raw", "sim-batch1": "raw"}
    assert manifest["qc"]["cells_kept"] == manifest["n_cells"] > 900
