"""GO graph: ontology semantics, term sets, Jaccard top-k against brute force, ties, I/O, random GO."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sclong.errors import ConfigError, InputError
from sclong.knowledge import go_graph, random_go, vocabulary
from sclong.knowledge.gaf import map_gaf_genes, read_gaf
from sclong.knowledge.go_graph import (
    annotation_pairs,
    build_edges,
    load_go_dag,
    read_graph,
    term_matrix,
)
from sclong.settings import to_json

from .conftest import GAF_SETTINGS


def brute_force_edges(dense: np.ndarray, k: int, min_jaccard: float) -> list[tuple[int, int, float]]:
    """Reference: Jaccard of every pair from Python sets, top-k per target by (-J, source)."""
    sets = [set(np.flatnonzero(row)) for row in dense]
    edges = []
    for target, terms in enumerate(sets):
        scored = []
        for source, other in enumerate(sets):
            union = len(terms | other)
            jaccard = len(terms & other) / union if union else 0.0
            if source != target and jaccard > min_jaccard:
                scored.append((-jaccard, source))
        edges += [(source, target, -neg) for neg, source in sorted(scored)[:k]]
    return edges


@pytest.mark.parametrize(("k", "min_jaccard", "block_size"), [(3, 0.0, 7), (5, 0.2, 64), (1, 0.0, 1), (50, 0.0, 10)])
def test_edges_match_brute_force(k: int, min_jaccard: float, block_size: int):
    rng = np.random.default_rng(0)
    dense = (rng.random((40, 12)) < 0.25).astype(np.int32)
    dense[[5, 17]] = 0  # genes without terms
    dense[[8, 9, 30]] = dense[3]  # identical term sets: ties at J = 1
    edges = build_edges(sp.csr_matrix(dense), k=k, min_jaccard=min_jaccard, block_size=block_size)
    expected = brute_force_edges(dense, k, min_jaccard)
    assert list(zip(edges["source"], edges["target"], strict=True)) == [(s, t) for s, t, _ in expected]
    np.testing.assert_allclose(edges["weight"], [w for _, _, w in expected], rtol=1e-12)


def test_ties_prefer_lower_index_and_top_k_caps_in_degree():
    dense = np.zeros((30, 2), dtype=np.int32)
    dense[:, 0] = 1  # every gene shares one term: all pairs have J = 1
    edges = build_edges(sp.csr_matrix(dense), k=4, min_jaccard=0.0, block_size=8)
    assert (edges.groupby("target").size() == 4).all()
    assert edges[edges["target"] == 0]["source"].tolist() == [1, 2, 3, 4]
    assert edges[edges["target"] == 2]["source"].tolist() == [0, 1, 3, 4]
    assert not (edges["source"] == edges["target"]).any()


def test_ontology_keeps_is_a_and_same_namespace_part_of(small_obo: Path):
    dag = load_go_dag(small_obo)
    assert "GO:0000099" not in dag  # obsolete
    assert dag["GO:0000007"].id == "GO:0000003"  # alt_id
    assert {t.id for t in dag["GO:0000004"].relationship["part_of"]} == {"GO:0000002"}
    assert dag["GO:0000005"].relationship == {}  # regulates dropped
    assert dag["GO:0000011"].relationship == {}  # part_of across namespaces dropped


def test_bad_ontology_is_an_input_error(tmp_path: Path):
    path = tmp_path / "empty.obo"
    path.write_text("format-version: 1.2\n")
    with pytest.raises(InputError, match="empty.obo: no GO terms"):
        load_go_dag(path)


@pytest.fixture
def small_world(small_inputs, small_table):
    vocab, _ = vocabulary.build_vocabulary(small_table, read_gaf(small_inputs["gaf"], 0.25), small_inputs["counts"], 1,
                                           small_inputs["gene2vec"])  # fmt: skip
    annotations = read_gaf(small_inputs["gaf"], 0.25)
    return vocab, annotations, map_gaf_genes(annotations, small_table), load_go_dag(small_inputs["obo"])


def term_sets(matrix: sp.csr_matrix, terms: list[str]) -> list[set[str]]:
    return [{terms[j] for j in matrix[i].indices} for i in range(matrix.shape[0])]


def test_term_sets_direct_propagated_and_by_namespace(small_world):
    vocab, annotations, mapping, dag = small_world
    # BBB2 is gene 3's Ensembl name and gene 2's HGNC symbol: the protein-coding gene 3 takes its annotations.
    assert vocab["ensembl_id"].str[-1].tolist() == ["1", "3", "4", "5", "6", "7"]
    pairs = annotation_pairs(vocab, annotations, mapping, dag, ["BP", "MF", "CC"])
    direct = term_sets(*term_matrix(pairs, len(vocab), dag, propagate=False))
    assert direct == [
        {"GO:0000003", "GO:0000010"}, {"GO:0000004"}, {"GO:0000003"}, {"GO:0000011"}, {"GO:0000001"}, {"GO:0000005"}
    ]  # fmt: skip
    propagated = term_sets(*term_matrix(pairs, len(vocab), dag, propagate=True))
    assert propagated == [
        {"GO:0000001", "GO:0000002", "GO:0000003", "GO:0000010"},
        {"GO:0000001", "GO:0000002", "GO:0000004"},
        {"GO:0000001", "GO:0000002", "GO:0000003"},
        {"GO:0000010", "GO:0000011"},
        {"GO:0000001"},
        {"GO:0000005"},
    ]
    bp_only = annotation_pairs(vocab, annotations, mapping, dag, ["BP"])
    assert set(bp_only["go_id"]) == {"GO:0000001", "GO:0000003", "GO:0000004", "GO:0000005"}


GRAPH_SETTINGS = {"top_k": 5, "min_jaccard": 0.0, "propagate": False, "namespaces": ["BP", "MF", "CC"],
                  "random_seed": 0}  # fmt: skip


def run_graph_cli(small_inputs: dict[str, Path], tmp_path: Path, **settings: object) -> Path:
    vocab = tmp_path / "vocabulary.tsv"
    assert vocabulary.main(["--gene-table", str(small_inputs["gene_table"]), "--gaf", str(small_inputs["gaf"]),
                            "--counts", str(small_inputs["counts"]), "--settings", '{"top_n_expressed": 1}',
                            "--gaf-settings", GAF_SETTINGS, "--out", str(vocab),
                            "--report", str(tmp_path / "report.tsv")]) == 0  # fmt: skip
    out = tmp_path / "graph.tsv"
    assert go_graph.main(graph_argv(small_inputs, vocab, out, **settings)) == 0
    return out


def graph_argv(small_inputs: dict[str, Path], vocab: Path, out: Path, **settings: object) -> list[str]:
    return ["--vocabulary", str(vocab), "--gene-table", str(small_inputs["gene_table"]),
            "--gaf", str(small_inputs["gaf"]), "--obo", str(small_inputs["obo"]), "--out", str(out),
            "--settings", to_json({**GRAPH_SETTINGS, **settings}), "--gaf-settings", GAF_SETTINGS]  # fmt: skip


def test_cli_writes_propagated_top_k_graph(small_inputs, tmp_path: Path):
    out = run_graph_cli(small_inputs, tmp_path, propagate=True, top_k=2)
    edges = pd.read_csv(out, sep="\t")
    assert list(edges.columns) == ["source", "target", "source_id", "target_id", "weight"]
    by_target = {t: list(zip(g["source"], g["weight"].round(6), strict=True)) for t, g in edges.groupby("target")}
    assert by_target[0] == [(2, 0.75), (1, 0.4)]
    assert by_target[4] == [(1, round(1 / 3, 6)), (2, round(1 / 3, 6))]  # tie: lower index first
    assert 5 not in by_target  # its only term is shared with nobody
    assert edges.loc[0, "source_id"] == "ENSG00000000004"
    edge_index, weight = read_graph(out)
    assert edge_index.dtype == np.int64 and edge_index.shape == (2, len(edges)) and weight.dtype == np.float32


def test_top_k_not_below_the_vocabulary_size_is_one_line(small_inputs, tmp_path: Path):
    run_graph_cli(small_inputs, tmp_path, top_k=5)  # six genes: five neighbours each at most
    out = tmp_path / "too_many.tsv"
    argv = graph_argv(small_inputs, tmp_path / "vocabulary.tsv", out, top_k=6)
    done = subprocess.run([sys.executable, "-m", "sclong.knowledge.go_graph", *argv], capture_output=True, text=True)
    assert done.returncode == 1 and not out.exists()
    assert done.stderr.strip().splitlines() == [
        "error: config key 'go_graph.top_k': is 6, but the vocabulary has 6 genes, so a gene has at most 5 neighbours"
    ]


def test_settings_are_one_mapping_with_every_key(small_inputs, tmp_path: Path):
    vocab, out = tmp_path / "vocabulary.tsv", tmp_path / "graph.tsv"
    argv = graph_argv(small_inputs, vocab, out)
    argv[argv.index("--settings") + 1] = to_json({k: v for k, v in GRAPH_SETTINGS.items() if k != "min_jaccard"})
    with pytest.raises(ConfigError, match="'go_graph.min_jaccard': is required"):
        go_graph.main(argv)
    with pytest.raises(ConfigError, match="'go_graph.namespaces': must be a non-empty subset"):
        go_graph.main(graph_argv(small_inputs, vocab, out, namespaces=["XX"]))


def test_failure_leaves_no_partial_output(small_inputs, tmp_path: Path):
    bad_obo = tmp_path / "bad.obo"
    bad_obo.write_text("format-version: 1.2\n")
    small_inputs["obo"] = bad_obo
    with pytest.raises(InputError):
        run_graph_cli(small_inputs, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("graph*")) == []
    assert not list(tmp_path.glob(".*tmp*"))


def test_random_go_keeps_edges_and_redraws_weights(small_inputs, tmp_path: Path):
    graph = run_graph_cli(small_inputs, tmp_path, propagate=True)
    outs = [tmp_path / f"random{i}.tsv" for i in range(3)]
    for out, seed in zip(outs, [1, 1, 2], strict=True):
        settings = to_json({**GRAPH_SETTINGS, "random_seed": seed})
        assert random_go.main(["--in", str(graph), "--settings", settings, "--out", str(out)]) == 0
    (index, weight), (index1, weight1), (_, weight1b), (_, weight2) = map(read_graph, [graph, *outs])
    np.testing.assert_array_equal(index, index1)
    np.testing.assert_array_equal(weight1, weight1b)
    assert not np.allclose(weight1, weight) and not np.allclose(weight1, weight2)
    assert ((weight1 >= 0) & (weight1 < 1)).all()


def reference_edges(matrix: sp.csr_matrix, k: int) -> pd.DataFrame:
    """The straightforward computation: dense integer intersections, float64 Jaccard, a full sort per target."""
    dense = matrix.toarray().astype(np.int64)
    inter = dense @ dense.T
    sizes = dense.sum(axis=1)
    with np.errstate(invalid="ignore"):
        jaccard = inter / (sizes[:, None] + sizes[None, :] - inter)
    np.fill_diagonal(jaccard, 0)
    rows = []
    for target in range(len(dense)):
        sources = np.flatnonzero(jaccard[target] > 0)
        order = np.lexsort((sources, -jaccard[target, sources]))[:k]
        rows += [(s, target, jaccard[target, s]) for s in sources[order]]
    return pd.DataFrame(rows, columns=["source", "target", "weight"])


@pytest.mark.parametrize("propagate", [False, True])
def test_edges_equal_the_straightforward_computation_on_real_genes(real_dag, real_gaf, real_table, propagate):
    mapping = map_gaf_genes(real_gaf, real_table)
    genes = sorted(mapping["ensembl_id"].dropna().unique())[::25] + ["ENSG00000000000"]  # 1 gene without terms
    vocab = pd.DataFrame({"index": range(len(genes)), "ensembl_id": sorted(genes)})
    matrix, _ = term_matrix(annotation_pairs(vocab, real_gaf, mapping, real_dag, ["BP", "MF", "CC"]), len(vocab),
                            real_dag, propagate)  # fmt: skip
    frequent = np.diff(matrix.tocsc().indptr) * go_graph.DENSE_TERM_SHARE >= matrix.shape[0]
    assert 0 < frequent.sum() < len(frequent)  # both the dense and the sparse product are used
    edges = build_edges(matrix, k=20, min_jaccard=0.0, block_size=100)
    expected = reference_edges(matrix, 20)
    pd.testing.assert_frame_equal(edges, expected, check_exact=True, check_dtype=False)


def test_real_ontology_and_annotations(real_dag, real_gaf, real_table):
    dag = real_dag
    assert {t.namespace for t in dag.values()} == set(go_graph.NAMESPACES.values())
    annotations = real_gaf
    mapping = map_gaf_genes(annotations, real_table)
    genes = sorted(mapping["ensembl_id"].dropna().unique())[:1500]
    vocab = pd.DataFrame({"index": range(len(genes)), "ensembl_id": genes})
    pairs = annotation_pairs(vocab, annotations, mapping, dag, ["BP", "MF", "CC"])
    matrix, _ = term_matrix(pairs, len(vocab), dag, propagate=False)
    assert (matrix.getnnz(axis=1) > 0).all()
    edges = build_edges(matrix, k=20, min_jaccard=0.0, block_size=500)
    assert (edges.groupby("target").size() <= 20).all() and len(edges) > 20 * 1000
    assert ((edges["weight"] > 0) & (edges["weight"] <= 1)).all()
