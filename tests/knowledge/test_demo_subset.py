"""Demo gene resources: generator pieces on small inputs, and the committed files against the full ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sclong.knowledge.demo_subset import choose_genes, gaf_subset, obo_subset, own_symbols_only, read_gct_genes
from sclong.knowledge.gaf import map_gaf_genes, read_gaf
from sclong.knowledge.genes import LIST_COLUMNS, map_symbols, read_gene_table, split_list
from sclong.knowledge.go_graph import annotation_pairs, load_go_dag, term_matrix

from .conftest import SMALL_GAF_LINES

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def test_choose_genes_keeps_task_genes_and_fills_deterministically():
    task, pool = ["T1", "T2"], [f"C{i:02d}" for i in range(30)] + ["T1"]
    chosen = choose_genes(task, pool, 10, seed=3)
    assert len(chosen) == 10 and {"T1", "T2"} <= set(chosen) and chosen == sorted(chosen)
    assert chosen == choose_genes(task, reversed(pool), 10, seed=3)
    assert chosen != choose_genes(task, pool, 10, seed=4)
    assert choose_genes(task, pool, 1, seed=3) == ["T1", "T2"]


def test_obo_subset_keeps_terms_tags_and_same_namespace_part_of(small_obo: Path, tmp_path: Path):
    text = obo_subset(small_obo, {"GO:0000002", "GO:0000004", "GO:0000011"}, {"GO:0000004": {"GO:0000002"}})
    assert text.startswith("format-version: 1.2\n") and "remark: sclong demo subset" in text
    assert "id: GO:0000001" not in text and "id: GO:0000002" in text
    assert "relationship: part_of GO:0000002" in text and "relationship: part_of GO:0000001" not in text
    assert "[Typedef]\nid: part_of" in text
    subset = tmp_path / "subset.obo"
    subset.write_text(text.replace("is_a: GO:0000001 ! bp root\n", "").replace("is_a: GO:0000010 ! mf root\n", ""))
    assert {"GO:0000002", "GO:0000004", "GO:0000011"} <= set(load_go_dag(subset))


def test_gaf_subset_keeps_header_and_selected_genes(small_gaf: Path):
    lines = gaf_subset(small_gaf, {("UniProtKB", "P_AAA1"), ("UniProtKB", "P_FFF6"), ("NCBIGene", "P_BBB2")})
    lines = lines.splitlines()
    assert lines[:2] == SMALL_GAF_LINES[:2]
    assert [line.split("\t")[2] for line in lines[2:]] == ["AAA1", "AAA1", "FFF6", "FFF6", "FFF6"]


def test_own_symbols_only_drops_symbols_the_full_table_gives_to_other_genes(small_table):
    # SHARED_OLD and DUP resolve to gene 1 (protein-coding first), TIE to gene 4, AAA1 is gene 1's symbol.
    rows = small_table.frame.loc[["ENSG00000000002", "ENSG00000000005", "ENSG00000000007"], list(LIST_COLUMNS)]
    kept, dropped = own_symbols_only(rows.assign(ensembl_gene_id=rows.index), small_table)
    assert kept[list(LIST_COLUMNS)].values.tolist() == [["", ""], ["", ""], ["", ""]]
    assert dropped == {"dropped_previous_symbols": 2, "dropped_alias_symbols": 3}
    kept, dropped = own_symbols_only(small_table.frame.loc[["ENSG00000000001"]], small_table)
    assert kept.loc["ENSG00000000001", list(LIST_COLUMNS)].tolist() == ["OLD1, SHARED_OLD", "ALIAS1, DUP"]


def test_real_gct_row_metadata(shared_data: Path):
    rows = read_gct_genes(shared_data / "l1000" / "a375_24h_plate.gct.gz")
    assert len(rows) == 978 and rows["pr_gene_symbol"].is_unique
    assert {"id", "pr_gene_id", "pr_gene_symbol", "pr_is_lmark"} <= set(rows.columns)


@pytest.fixture(scope="module")
def demo_genes() -> list[str]:
    return sorted(pd.read_csv(DEMO / "genes.tsv.gz", sep="\t", dtype=str)["ensembl_gene_id"])


def test_committed_files_are_small_and_contain_the_task_genes(shared_data: Path, demo_genes: list[str]):
    assert all((DEMO / name).stat().st_size < 2_000_000 for name in
               ("genes.tsv.gz", "goa_human_demo.gaf.gz", "go-basic_demo.obo.gz"))  # fmt: skip
    assert len(demo_genes) == 2000
    table = read_gene_table(DEMO / "genes.tsv.gz")
    landmarks = read_gct_genes(shared_data / "l1000" / "a375_24h_plate.gct.gz")["pr_gene_symbol"]
    assert (map_symbols(landmarks, table)["how"] != "unmapped").all()


def test_committed_previous_and_alias_symbols_map_as_in_the_full_table(real_table):
    # FLG is an alias of FGFR1 (a demo gene) but the symbol of filaggrin (not one): in the subset it must not
    # quietly become FGFR1.
    demo = read_gene_table(DEMO / "genes.tsv.gz")
    symbols = sorted({s for column in LIST_COLUMNS for cell in demo.frame[column] for s in split_list(cell)})
    assert len(symbols) > 4000
    full = map_symbols(symbols, real_table)["ensembl_id"].tolist()
    assert map_symbols(symbols, demo)["ensembl_id"].tolist() == full
    assert map_symbols(["FLG"], demo)["how"].tolist() == ["unmapped"]


def test_committed_term_sets_equal_those_of_the_full_files(demo_genes, real_table, real_gaf, real_dag):
    vocab = pd.DataFrame({"index": range(len(demo_genes)), "ensembl_id": demo_genes})

    def term_sets(table, annotations, dag) -> list[frozenset[str]]:
        pairs = annotation_pairs(vocab, annotations, map_gaf_genes(annotations, table), dag, ["BP", "MF", "CC"])
        matrix, terms = term_matrix(pairs, len(vocab), dag, propagate=True)
        return [frozenset(terms[j] for j in matrix[i].indices) for i in range(len(vocab))]

    demo = term_sets(read_gene_table(DEMO / "genes.tsv.gz"), read_gaf(DEMO / "goa_human_demo.gaf.gz", 0.0),
                     load_go_dag(DEMO / "go-basic_demo.obo.gz"))  # fmt: skip
    full = term_sets(real_table, real_gaf, real_dag)
    assert demo == full
    assert sum(map(bool, demo)) > 1900
