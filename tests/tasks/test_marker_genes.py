"""Marker genes (Fig. 8): hand-computed scores and P-values, seaborn's clustermap as a second
implementation of the clustering, the data path on scanpy's real pbmc68k_reduced cells, the model path."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sclong.errors import ConfigError, InputError
from sclong.knowledge.genes import GeneTable, read_gene_table
from sclong.settings import from_mapping
from sclong.tasks.marker_genes import (
    TASK,
    Settings,
    analyse_cell_type,
    cell_type_metrics,
    cell_type_rows,
    cell_type_tables,
    cut_tree,
    match_markers,
    permutation_p,
    summed_similarity,
    tree_scores,
    unit_vectors,
)

REPO = Path(__file__).resolve().parents[2]
DEMO_GENES = REPO / "resources" / "demo" / "genes.tsv.gz"
# cos(a, b) = 0.8, cos(b, c) = 0.6, every other pair 0: 1 - cos gives a-b 0.2, b-c 0.4, the rest 1.
HAND = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
HAND_GENES = ["a", "b", "c", "d"]


def demo_block() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["tasks"]["marker_genes"]


def settings(**overrides) -> Settings:
    return from_mapping(Settings, {**demo_block(), "device": "cpu", "normalization": "paper", **overrides},
                        "tasks.marker_genes")  # fmt: skip


def analyse(vectors, genes, markers, seed=0, **overrides):
    options = {"top_genes": 3, "clusters": 2, "permutations": 7, "linkage": "average", "distance": "cosine"}
    return analyse_cell_type(vectors, genes, markers, rng=np.random.default_rng(seed), **{**options, **overrides})


def values(result, absent=(), top_genes=3) -> dict[str, float | None]:
    return {m.metric: m.value for m in cell_type_metrics(result, "T", list(absent), top_genes)}


@pytest.fixture(scope="module")
def demo_table() -> GeneTable:
    return read_gene_table(DEMO_GENES)


@pytest.fixture(scope="module")
def pbmc():
    import scanpy as sc

    return sc.datasets.pbmc68k_reduced()


def test_summed_similarity_is_the_row_sum_of_the_cosine_matrix() -> None:
    vectors = np.random.default_rng(0).normal(size=(40, 7))
    unit, valid = unit_vectors(vectors)
    brute = (vectors @ vectors.T) / np.outer(np.linalg.norm(vectors, axis=1), np.linalg.norm(vectors, axis=1))
    assert valid.all()
    np.testing.assert_allclose(summed_similarity(unit), brute.sum(axis=1), rtol=1e-12)
    assert summed_similarity(unit_vectors(HAND)[0]).tolist() == pytest.approx([1.8, 2.4, 1.6, 1.0])


def test_tree_scores_and_p_by_hand() -> None:
    # leaves 0..3: (0, 1) -> node 4 (2 leaves), (2, 4) -> node 5 (3 leaves), (3, 5) -> root (4 leaves);
    # 2 clusters {0, 1, 2}, {3}; 3 clusters {0, 1}, {2}, {3}
    tree = np.array([[0, 1, 0.2, 2], [2, 4, 0.7, 3], [3, 5, 1.0, 4]])
    assert tree_scores(tree, np.array([True, True, False, False]), 2) == (1, 2)
    assert tree_scores(tree, np.array([False, True, True, False]), 2) == (1, 3)
    assert tree_scores(tree, np.array([False, True, True, False]), 3) == (0, 3)
    assert tree_scores(tree, np.array([True, False, False, True]), 2) == (0, 4)
    assert tree_scores(tree, np.array([True, True, True, False]), 2) == (3, 3)
    assert tree_scores(tree, np.array([True, True, True, True]), 4) == (0, 4)
    assert permutation_p(np.array([True, False, False])) == 2 / 4
    assert permutation_p(np.zeros(9, dtype=bool)) == 1 / 10


def canonical(labels: np.ndarray) -> list[int]:
    """Labels renumbered 0.. by first appearance (a partition's canonical form)."""
    first = {label: number for number, label in enumerate(dict.fromkeys(labels.tolist()))}
    return [first[label] for label in labels.tolist()]


def test_cut_matches_scipy_maxclust_without_ties_and_tree_scores_count_its_pairs() -> None:
    from scipy.cluster import hierarchy

    hand = np.array([[0, 1, 0.2, 2], [2, 4, 0.7, 3], [3, 5, 1.0, 4]])
    assert canonical(cut_tree(hand, 2)) == [0, 0, 0, 1]
    assert canonical(cut_tree(hand, 3)) == [0, 0, 1, 2]
    for seed in range(5):
        points = np.random.default_rng(seed).normal(size=(30, 4))
        tree = hierarchy.linkage(points, "average")
        members = np.zeros(30, dtype=bool)
        members[np.random.default_rng(seed).choice(30, 5, replace=False)] = True
        for k in (2, 4, 7):
            labels = cut_tree(tree, k)
            assert canonical(labels) == canonical(hierarchy.fcluster(tree, k, "maxclust"))
            counts = np.bincount(labels[members])
            assert tree_scores(tree, members, k)[0] == (counts * (counts - 1) // 2).sum()
        _, nodes = hierarchy.to_tree(tree, rd=True)
        holding = [node.get_count() for node in nodes if set(np.flatnonzero(members)) <= set(node.pre_order())]
        assert tree_scores(tree, members, 2)[1] == min(holding)


def test_hand_example_markers_inside_the_top_genes() -> None:
    # top 3 by summed similarity: b (2.4), a (1.8), c (1.6); markers a, b. 1 - cos, average linkage:
    # a+b at 0.2, then c at (1 + 0.4) / 2 = 0.7 -> 2 clusters {a, b}, {c}; a, b are a clade of 2. The
    # only random set is {c, d} (d appended): tree a+b 0.2, +c 0.7, +d 1.0 -> {a, b, c}, {d}: c, d apart,
    # their smallest clade is the root (4 genes).
    result = analyse(HAND, HAND_GENES, ["a", "b"])
    assert result.genes == ["b", "a", "c"]
    assert result.rank.tolist() == [1, 2, 3]
    np.testing.assert_allclose(result.view.tree, [[0, 1, 0.2, 2], [2, 3, 0.7, 3]], atol=1e-12)
    assert result.order.tolist() == [2, 0, 1]  # scipy's leaves: c (leaf 2), then node 3 = (b, a)
    assert result.cluster.tolist() == [2, 2, 1]  # numbered by first appearance in that order
    got = values(result)
    assert got["marker_coclustering"] == 1.0
    assert got["marker_clade_purity"] == 1.0
    assert got["marker_similarity"] == pytest.approx(0.8)
    assert got["marker_coclustering_null"] == 0.0
    assert got["marker_clade_purity_null"] == 2 / 4
    assert got["marker_similarity_null"] == pytest.approx(0.0)
    for name in ("marker_coclustering_p", "marker_clade_purity_p", "marker_similarity_p"):
        assert got[name] == 1 / 8
    assert got["markers_in_top"] == 2.0


def test_hand_example_marker_outside_the_top_genes_is_appended_and_flagged() -> None:
    # markers a, d: d (rank 4) is shown after the top 3 and flagged; {a, b, c} and {d}: a and d apart,
    # their smallest clade is the root (4 genes). The only random set is {b, c}: shown b, a, c -> {a, b},
    # {c}: b, c apart, their smallest clade is the root of 3 genes.
    result = analyse(HAND, HAND_GENES, ["a", "d"])
    assert result.genes == ["b", "a", "c", "d"]
    assert result.in_top.tolist() == [True, True, True, False]
    assert result.view.is_member.tolist() == [False, True, False, True]
    got = values(result)
    assert (got["marker_coclustering"], got["marker_clade_purity"], got["marker_similarity"]) == (0.0, 0.5, 0.0)
    assert (got["marker_coclustering_null"], got["marker_clade_purity_null"]) == (0.0, 2 / 3)
    assert got["marker_similarity_null"] == pytest.approx(0.6)
    assert got["marker_coclustering_p"] == got["marker_clade_purity_p"] == got["marker_similarity_p"] == 1.0
    notes = {m.metric: m.note for m in cell_type_metrics(result, "T", [], 3)}
    assert got["markers_in_top"] == 1.0
    assert notes["markers_in_top"] == "(rank by summed similarity) in the top 3: a (2); outside: d (4)"


def test_clustering_is_seaborn_clustermap_and_the_tables_redraw_it(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import seaborn as sns

    vectors = np.random.default_rng(3).normal(size=(200, 16))
    genes = [f"g{i}" for i in range(200)]
    result = analyse(vectors, genes, ["g5", "g9", "g150"], top_genes=20, clusters=4,
                     distance="euclidean_rows")  # fmt: skip
    grid = sns.clustermap(pd.DataFrame(result.view.similarity, index=result.genes, columns=result.genes))
    np.testing.assert_allclose(grid.dendrogram_row.linkage, result.view.tree, rtol=1e-12)
    assert grid.dendrogram_row.reordered_ind == result.order.tolist()
    tables = {}
    for name, table in cell_type_tables(result, "T").items():  # through TSV, as the runner writes them
        text = table.to_csv(sep="\t", index=False, float_format="%.8g")
        tables[name] = pd.read_csv(io.StringIO(text), sep="\t")
    clusters = tables["clusters"].sort_values("leaf")
    names = clusters["gene"].tolist()
    matrix = tables["similarity"].pivot(index="gene_a", columns="gene_b", values="cosine").loc[names, names]
    tree = tables["linkage"][["left", "right", "distance", "size"]].to_numpy(float)
    redrawn = sns.clustermap(matrix, row_linkage=tree, col_linkage=tree)
    assert redrawn.dendrogram_row.reordered_ind == clusters.sort_values("order")["leaf"].tolist()
    assert set(clusters.loc[clusters["is_marker"], "gene"]) == {"g5", "g9", "g150"}
    assert clusters["cluster"].nunique() == 4
    matplotlib.pyplot.close("all")


def planted(seed: int, n: int = 400, dim: int = 16, spread: float = 0.2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim))
    vectors[:4] = 3 * rng.normal(size=dim) + spread * rng.normal(size=(4, dim))
    return vectors


@pytest.mark.parametrize("distance", ["cosine", "euclidean_rows"])
def test_planted_marker_cluster_scores_high_and_significant(distance: str) -> None:
    genes = [f"g{i}" for i in range(400)]
    result = analyse(planted(0), genes, genes[:4], top_genes=50, clusters=4, permutations=200, distance=distance)
    got = values(result, top_genes=50)
    assert got["marker_coclustering"] == 1.0 and got["marker_clade_purity"] == 1.0
    assert got["marker_coclustering_p"] < 0.05 and got["marker_clade_purity_p"] <= 0.05
    assert got["marker_similarity_p"] == 1 / 201
    assert got["marker_coclustering_null"] < 0.5 and got["marker_clade_purity_null"] < 0.5


def test_random_vectors_give_unremarkable_p_values() -> None:
    genes = [f"g{i}" for i in range(300)]
    p_values = []
    for seed in range(20):
        vectors = np.random.default_rng(100 + seed).normal(size=(300, 16))
        got = values(analyse(vectors, genes, genes[:4], seed=seed, top_genes=30, clusters=4, permutations=100,
                             distance="euclidean_rows"), top_genes=30)  # fmt: skip
        p_values.append([got["marker_coclustering_p"], got["marker_clade_purity_p"], got["marker_similarity_p"]])
    p_values = np.array(p_values)
    assert (p_values < 0.05).mean(axis=0).max() <= 0.15
    assert (p_values.mean(axis=0) > 0.3).all()  # co-clustering and clade P: discrete scores, ties count
    # the similarity P of a valid null is about uniform; random sets drawn from the shown (top) genes
    # only, which are more alike than genes outside the top, would push it to ~0.9
    assert 0.35 < p_values[:, 2].mean() < 0.65


def test_same_seed_same_result_other_seed_other_null() -> None:
    genes = [f"g{i}" for i in range(300)]
    vectors = planted(1, n=300, spread=1.5)
    first, again, other = (values(analyse(vectors, genes, genes[:4], seed=s, top_genes=30, clusters=4,
                                          permutations=50), top_genes=30) for s in (0, 0, 1))  # fmt: skip
    assert first == again
    assert first["marker_coclustering"] == other["marker_coclustering"]
    assert first["marker_similarity_null"] != other["marker_similarity_null"]


def test_zero_vectors_and_too_few_markers_are_reported_not_scored() -> None:
    vectors = np.vstack([HAND, np.zeros((1, 3))])
    result = analyse(vectors, [*HAND_GENES, "z"], ["a", "z"])
    metrics = {m.metric: m for m in cell_type_metrics(result, "T", ["CD14 (not in the dataset)"], 3)}
    assert metrics["genes_scored"].value == 4.0
    assert metrics["markers_scored"].value == 1.0
    assert metrics["markers_scored"].note == ("scored: a; absent: CD14 (not in the dataset), "
                                              "z (zero representation in the sampled cells)")  # fmt: skip
    for name in ("marker_coclustering", "marker_coclustering_p", "marker_clade_purity", "marker_similarity"):
        assert metrics[name].value is None and metrics[name].note.startswith("1 marker gene(s) with a vector")
    assert "z" not in result.genes
    assert not any(m.value is not None and math.isnan(m.value) for m in metrics.values())


def test_settings_from_the_shipped_block_and_cross_key_checks() -> None:
    assert settings().clusters < settings().top_genes
    with pytest.raises(ConfigError, match="'tasks.marker_genes.clusters'"):
        settings(clusters=50)
    with pytest.raises(ConfigError, match="'tasks.marker_genes.markers': 'X' has 1 distinct"):
        settings(markers={"X": ["A", "A"]})
    with pytest.raises(ConfigError, match="'tasks.marker_genes.linkage'"):
        from_mapping(Settings, {k: v for k, v in demo_block().items() if k != "linkage"}, "tasks.marker_genes")
    assert TASK.methods() == ("sclong", "wo_leg", "random_leg", "wo_go", "random_go")
    assert TASK.inputs("sclong") == ("dataset", "checkpoint", "gene_table")


def test_cell_types_of_real_pbmc68k_cells_and_their_errors(pbmc) -> None:
    obs = pbmc.obs[["bulk_labels"]].rename(columns={"bulk_labels": "cell_type"})
    rows = cell_type_rows(obs, settings(), "pbmc68k.h5ad")
    assert {name: len(r) for name, r in rows.items()} == {"CD14+ Monocyte": 129, "CD19+ B": 95}
    assert (obs["cell_type"].to_numpy()[rows["CD19+ B"]] == "CD19+ B").all()
    with pytest.raises(InputError) as err:
        cell_type_rows(obs, settings(cells_per_type=100), "pbmc68k.h5ad")
    assert str(err.value) == ("pbmc68k.h5ad: cell type 'CD19+ B' has 95 cells in obs['cell_type'], fewer than "
                              "tasks.marker_genes.cells_per_type = 100")  # fmt: skip
    with pytest.raises(InputError) as err:
        cell_type_rows(obs, settings(label_key="celltype"), "pbmc68k.h5ad")
    assert str(err.value) == ("pbmc68k.h5ad: obs has no column 'celltype' (tasks.marker_genes.label_key); "
                              "columns: cell_type")  # fmt: skip
    with pytest.raises(ConfigError) as err:
        cell_type_rows(obs, settings(markers={"CD14+ Monocytes": ["LYZ", "CD14"]}), "pbmc68k.h5ad")
    assert str(err.value).startswith("config key 'tasks.marker_genes.markers': cell type 'CD14+ Monocytes' is not "
                                     "in obs['cell_type'] of pbmc68k.h5ad (present: CD14+ Monocyte, CD19+ B, ")


def test_load_refuses_bad_labels_before_reading_the_checkpoint(tmp_path: Path) -> None:
    from sclong.data.pbmc68k import pbmc68k_cells

    dataset = tmp_path / "pbmc68k.h5ad"
    pbmc68k_cells().write_h5ad(dataset)
    inputs = {"dataset": dataset, "checkpoint": tmp_path / "no-checkpoint", "gene_table": DEMO_GENES}
    with pytest.raises(InputError) as err:
        TASK.load("sclong", inputs, settings(cells_per_type=96))
    assert str(err.value) == (f"{dataset}: cell type 'CD19+ B' has 95 cells in obs['cell_type'], fewer than "
                              "tasks.marker_genes.cells_per_type = 96")  # fmt: skip
    with pytest.raises(ConfigError, match=f"'tasks.marker_genes.markers': cell type 'B cell' is not in "
                                          f"obs\\['cell_type'\\] of {dataset} "):  # fmt: skip
        TASK.load("sclong", inputs, settings(markers={"B cell": ["MS4A1", "CD79A"]}))


def test_markers_in_real_pbmc68k_genes_and_the_demo_gene_table(pbmc, demo_table: GeneTable) -> None:
    var = list(pbmc.raw.var_names)
    block = demo_block()["markers"]
    present, absent = match_markers("CD14+ Monocyte", block["CD14+ Monocyte"], var, var, demo_table)
    assert present == ("LYZ", "S100A8", "S100A9", "FCN1")
    # the demo gene table (2,000 genes) lacks CD14, FCGR1A, CD68 and S100A12
    assert absent == ("CD14 (not in the dataset, nor in the gene table)",
                      "FCGR1A (not in the dataset, nor in the gene table)",
                      "CD68 (not in the dataset, nor in the gene table)",
                      "S100A12 (not in the dataset, nor in the gene table)")  # fmt: skip
    present, absent = match_markers("CD19+ B", ["CD19", "CD20", "CD79A", "NOTAGENE1"], var,
                                    [g for g in var if g != "CD79A"], demo_table)  # fmt: skip
    assert present == ("MS4A1",)  # CD20 is MS4A1's previous symbol
    assert absent == ("CD19 (not in the dataset, nor in the gene table)", "CD79A (not in the model's vocabulary)",
                      "NOTAGENE1 (not in the dataset, nor in the gene table)")  # fmt: skip
    with pytest.raises(ConfigError, match="'CD20' and 'MS4A1' of 'CD19\\+ B' are one gene \\(MS4A1\\)"):
        match_markers("CD19+ B", ["CD20", "MS4A1"], var, var, demo_table)
    ids = demo_table.frame.set_index("display_symbol")["ensembl_gene_id"]
    by_id = [ids[g] for g in ("MS4A1", "CD79A", "LYZ")]
    assert match_markers("B", ["MS4A1", "CD79A"], by_id, by_id, demo_table) == ((by_id[0], by_id[1]), ())


# needs the checkpoint bundle (fix-train branch)
def test_model_variant_on_real_pbmc68k_cells(tmp_path: Path, demo_table: GeneTable) -> None:
    import torch

    from sclong.data.pbmc68k import pbmc68k_cells
    from sclong.knowledge.genes import PRIMARY_CHROMOSOMES
    from sclong.model import EncoderConfig, ModelConfig, ScLong, save_model
    from sclong.settings import to_json
    from sclong.tasks.run import run_method

    frame = demo_table.frame
    genes = frame[(frame["biotype"] == "protein_coding") & frame["chromosome"].isin(PRIMARY_CHROMOSOMES)]
    genes = genes.sort_index()
    vocabulary = tmp_path / "vocabulary.tsv"
    pd.DataFrame({
        "index": range(len(genes)), "ensembl_id": genes["ensembl_gene_id"].to_numpy(),
        "symbol": genes["display_symbol"].to_numpy(), "biotype": "protein_coding",
        "entrez": genes["entrez"].to_numpy(), "nonzero_cells": 0, "top_expressed": 0, "protein_coding": 1,
        "go": 0, "gene2vec": 0,
    }).to_csv(vocabulary, sep="\t", index=False)  # fmt: skip
    torch.manual_seed(0)
    n = len(genes)
    small = EncoderConfig(depth=1, heads=2, dim_head=8, hidden=16, nb_features=16)
    config = ModelConfig(n_genes=n, gene_dim=16, expr_hidden=8, top_k=64, large=small, mini=small, full=small)
    ring = torch.arange(n)
    model = ScLong(config, torch.randn(n, 16), torch.stack([ring, (ring + 1) % n]), torch.rand(n)).eval()
    checkpoint = save_model(tmp_path / "ckpt", model, vocabulary=vocabulary, gene_table=DEMO_GENES)
    dataset = tmp_path / "pbmc68k.h5ad"
    pbmc68k_cells().write_h5ad(dataset)
    inputs = {"dataset": dataset, "checkpoint": checkpoint, "gene_table": DEMO_GENES}
    chosen = settings(cells_per_type=6, top_genes=12, clusters=3, permutations=20)
    data = TASK.load("sclong", inputs, chosen)
    assert [t.markers for t in data.types] == [("LYZ", "S100A8", "S100A9", "FCN1"), ("MS4A1", "CD79A", "CD79B")]
    first, again, other = (TASK.run("sclong", seed, data, chosen) for seed in (0, 0, 1))
    assert first.metrics == again.metrics
    assert first.metrics != other.metrics
    table = {(m.scenario, m.metric): m.value for m in first.metrics}
    assert table[("CD19+ B", "markers_scored")] == 3.0
    assert 0.0 <= table[("CD14+ Monocyte", "marker_coclustering")] <= 1.0
    assert set(first.artifacts) == {"similarity", "clusters", "linkage"}
    mapping = {key: value for key, value in chosen.__dict__.items() if key not in ("device", "normalization")}
    text = to_json({**mapping, "device": "cpu", "normalization": "paper"})
    run_method(TASK, "sclong", [0], text, inputs, tmp_path / "out", "demo")
    written = sorted(p.name for p in (tmp_path / "out" / "seed0").iterdir())
    assert written == ["clusters.tsv", "linkage.tsv", "metrics.tsv", "provenance.json", "similarity.tsv"]
