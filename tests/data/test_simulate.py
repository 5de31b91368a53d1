"""Simulator: determinism, ground truth consistent with the counts, CLI outputs."""

from __future__ import annotations

import anndata as ad
import networkx as nx
import numpy as np
import pandas as pd
import pytest

from sclong.data.simulate import SimulationParams, main, simulate
from sclong.errors import InputError

GENES = [f"ENSG{i:011d}" for i in range(400)]
SMALL = SimulationParams(n_cells=300, n_cell_types=3, n_batches=2, n_tfs=20, seed=3, cell_seed=0)


@pytest.fixture(scope="module")
def cells():
    return simulate(GENES, SMALL)


def test_deterministic_given_seed(cells):
    again = simulate(GENES, SMALL)
    assert (again.X != cells.X).nnz == 0
    pd.testing.assert_frame_equal(again.uns["grn_edges"], cells.uns["grn_edges"])
    other = simulate(GENES, SimulationParams(**{**SMALL.__dict__, "seed": 4}))
    assert (other.X != cells.X).nnz > 0


def test_cell_seed_draws_new_cells_of_the_same_tissue(cells):
    held_out = simulate(GENES, SimulationParams(**{**SMALL.__dict__, "cell_seed": 1}))
    pd.testing.assert_frame_equal(held_out.uns["grn_edges"], cells.uns["grn_edges"])
    assert (held_out.X != cells.X).nnz > 0


def test_counts_and_labels(cells):
    assert cells.shape == (300, 400) and list(cells.var_names) == GENES
    assert np.array_equal(cells.X.data, np.rint(cells.X.data)) and cells.X.data.min() > 0
    assert set(cells.obs["cell_type"]) == {"type0", "type1", "type2"}
    assert set(cells.obs["batch"]) == {"batch0", "batch1"}
    assert cells.uns["normalization"] == "raw"
    assert np.diff(cells.X.indptr).min() >= 100


def test_network_is_a_dag_with_regulated_targets(cells):
    edges = cells.uns["grn_edges"]
    tfs = list(cells.var_names[cells.var["is_tf"]])
    assert len(tfs) == 20 and set(edges["tf"]) <= set(tfs)
    assert (edges["weight"] != 0).all() and (edges["weight"] > 0).any() and (edges["weight"] < 0).any()
    per_target = edges.groupby("target").size()
    non_tf = [g for g in GENES if g not in tfs]
    assert per_target.reindex(non_tf).between(1, 3).all()
    assert nx.is_directed_acyclic_graph(nx.DiGraph(list(zip(edges["tf"], edges["target"], strict=True))))


def test_expression_follows_the_network():
    sim = simulate(GENES, SimulationParams(n_cells=1500, n_cell_types=4, n_batches=1, n_tfs=20, seed=1, cell_seed=0))
    x = np.log1p(sim.X.toarray() / sim.X.sum(axis=1).A * 1e4)
    corr = np.corrcoef(x.T)
    pos = {g: i for i, g in enumerate(sim.var_names)}
    edges = sim.uns["grn_edges"]
    single = edges[edges.groupby("target")["tf"].transform("size") == 1]
    signs = np.sign([corr[pos[t], pos[g]] for t, g in zip(single["tf"], single["target"], strict=True)])
    assert np.mean(signs == np.sign(single["weight"])) > 0.8


def test_cli_writes_h5ad_and_network(tmp_path):
    table = tmp_path / "genes.tsv"
    pd.DataFrame({"ensembl_gene_id": GENES, "symbol": GENES}).to_csv(table, sep="\t", index=False)
    out, net = tmp_path / "sim.h5ad", tmp_path / "net.tsv"
    args = ["--genes", str(table), "--n-genes", "300", "--out", str(out), "--network", str(net)]
    settings = '{"n_cells": 200, "n_cell_types": 5, "n_batches": 2, "n_tfs": 15, "seed": 2, "cell_seed": 0}'
    assert main([*args, "--settings", settings]) == 0
    written = ad.read_h5ad(out)
    assert written.shape == (200, 300) and written.uns["simulation"]["seed"] == 2
    network = pd.read_csv(net, sep="\t")
    pd.testing.assert_frame_equal(network, written.uns["grn_edges"].reset_index(drop=True), check_dtype=False)


def test_duplicate_gene_ids_are_refused(tmp_path):
    table = tmp_path / "genes.tsv"
    pd.DataFrame({"ensembl_id": ["ENSG1", "ENSG2", "ENSG1"]}).to_csv(table, sep="\t", index=False)
    with pytest.raises(InputError, match="genes.tsv: duplicate gene IDs, e.g. ENSG1"):
        settings = '{"n_cells": 10, "n_cell_types": 2, "n_batches": 1, "seed": 0, "cell_seed": 0}'
        main(["--genes", str(table), "--out", str(tmp_path / "x.h5ad"), "--settings", settings])
    assert not (tmp_path / "x.h5ad").exists()
