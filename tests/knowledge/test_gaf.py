"""GAF parsing: malformed and NOT lines, the malformed limit, GAF genes by database ID; the real GOA file."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pandas as pd
import pytest

from sclong.errors import ConfigError, InputError
from sclong.knowledge.gaf import gaf_collisions, map_gaf_genes, parse_gaf_settings, read_gaf
from sclong.knowledge.genes import REQUIRED_COLUMNS, read_gene_table
from sclong.knowledge.go_graph import annotation_pairs

from .conftest import SMALL_GAF_MALFORMED, SMALL_GENES, gaf_line, write_gene_table


def write_gaf(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt") as handle:
        handle.write("!gaf-version: 2.1\n" + "\n".join(lines) + "\n")
    return path


def test_malformed_and_not_lines_are_skipped_and_counted(small_gaf: Path):
    annotations = read_gaf(small_gaf, max_malformed_fraction=0.25)
    assert (annotations.n_lines, annotations.n_malformed, annotations.n_negated) == (13, 3, 1)
    assert len(annotations.frame) == 9
    symbol = annotations.genes["symbol"].to_numpy()[annotations.frame["gene"]]
    assert ("BBB2", "GO:0000002") not in set(zip(symbol, annotations.frame["go_id"], strict=True))
    genes = annotations.genes.set_index("symbol")
    assert genes.loc["UNKNOWN_SYM", "synonyms"] == ["NOPE", "EEE5"]
    assert genes.loc["AAA1", ["db", "db_id"]].tolist() == ["UniProtKB", "P_AAA1"]


def test_more_malformed_lines_than_allowed_is_an_error_fewer_a_warning(small_gaf: Path, caplog):
    with pytest.raises(InputError, match=r"small.gaf.gz: 3 of its 13 data lines \(23.08%\) are not valid GAF 2.1 "
                       r"annotations, more than go_annotations.max_malformed_fraction \(0.2\)"):  # fmt: skip
        read_gaf(small_gaf, max_malformed_fraction=0.2)
    with caplog.at_level(logging.WARNING, logger="sclong.knowledge.gaf"):
        read_gaf(small_gaf, max_malformed_fraction=SMALL_GAF_MALFORMED)
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
        "3 of 13 data lines (23.08%) are not valid GAF 2.1 annotations and were skipped"
    ]


def test_a_gaf_that_is_99_percent_garbage_is_refused(tmp_path: Path):
    garbage = write_gaf(tmp_path / "garbage.gaf.gz", [gaf_line("AAA1", "GO:0000001", "P")] + ["junk\tline"] * 99)
    with pytest.raises(InputError, match=r"garbage.gaf.gz: 99 of its 100 data lines \(99.00%\)"):
        read_gaf(garbage, max_malformed_fraction=parse_gaf_settings('{"max_malformed_fraction": 0.01}')
                 .max_malformed_fraction)  # fmt: skip


def test_gaf_settings_are_checked():
    with pytest.raises(ConfigError, match="'go_annotations.max_malformed_fraction': is required"):
        parse_gaf_settings("{}")
    with pytest.raises(ConfigError, match="'go_annotations.max_malformed_fraction': must be in"):
        parse_gaf_settings('{"max_malformed_fraction": 1.5}')


def test_unmapped_symbols_fall_back_on_synonyms(small_gaf: Path, small_table):
    mapping = map_gaf_genes(read_gaf(small_gaf, 0.25), small_table).set_index("query")
    assert mapping.loc["UNKNOWN_SYM", ["ensembl_id", "how", "via"]].tolist() == ["ENSG00000000006", "current", "EEE5"]
    assert mapping.loc["CCC3", ["gaf_id", "ensembl_id", "via"]].tolist() == ["UniProtKB:P_CCC3", "ENSG00000000004",
                                                                              "CCC3"]  # fmt: skip


def test_file_without_valid_lines_is_an_input_error(tmp_path: Path):
    path = tmp_path / "bad.gaf"
    path.write_text("!gaf-version: 2.1\nnot\ta\tgaf\n")
    with pytest.raises(InputError, match="bad.gaf: none of its 1 data lines"):
        read_gaf(path, 1.0)
    path.write_text("!gaf-version: 2.1\n")
    with pytest.raises(InputError, match="bad.gaf: no GAF data lines"):
        read_gaf(path, 1.0)


# MT-CO1, MT-CO2 and MT-ND1 under the NCBI names of a current NCBI-based GAF; COX1, COX2 and ND1 are also
# aliases of PTGS1, PTGS2 and IVNS1ABP in the gene table, which have their own lines.
NCBI_LINES = [
    gaf_line("COX1", "GO:0004129", "F", gene_id="NCBIGene:4512"),
    gaf_line("COX2", "GO:0004129", "F", gene_id="NCBIGene:4513"),
    gaf_line("ND1", "GO:0008137", "F", gene_id="NCBIGene:4535"),
    gaf_line("PTGS1", "GO:0004666", "F", gene_id="NCBIGene:5742"),
    gaf_line("PTGS2", "GO:0004666", "F", gene_id="NCBIGene:5743"),
    gaf_line("IVNS1ABP", "GO:0005737", "C", gene_id="NCBIGene:10625"),
]
GENES = {"MT-CO1": "ENSG00000198804", "MT-CO2": "ENSG00000198712", "MT-ND1": "ENSG00000198888",
         "PTGS1": "ENSG00000095303", "PTGS2": "ENSG00000073756", "IVNS1ABP": "ENSG00000116679"}  # fmt: skip


def real_term_sets(path: Path, table, dag) -> dict[str, set[str]]:
    annotations = read_gaf(path, 0.0)
    mapping = map_gaf_genes(annotations, table)
    vocab = pd.DataFrame({"index": range(len(GENES)), "ensembl_id": list(GENES.values())})
    pairs = annotation_pairs(vocab, annotations, mapping, dag, ["BP", "MF", "CC"])
    return {symbol: set(pairs.loc[pairs["gene"] == i, "go_id"]) for i, symbol in enumerate(GENES)}


def test_ncbi_gene_ids_map_before_symbols(tmp_path: Path, real_table, real_dag):
    path = write_gaf(tmp_path / "ncbi.gaf.gz", NCBI_LINES)
    mapping = map_gaf_genes(read_gaf(path, 0.0), real_table).set_index("gaf_id")
    assert mapping.loc["NCBIGene:4512", ["ensembl_id", "how", "level", "via"]].tolist() == [
        GENES["MT-CO1"], "db_id", "entrez", "NCBIGene:4512"
    ]
    assert gaf_collisions(mapping.reset_index()).empty
    assert real_term_sets(path, real_table, real_dag) == {
        "MT-CO1": {"GO:0004129"}, "MT-CO2": {"GO:0004129"}, "MT-ND1": {"GO:0008137"},
        "PTGS1": {"GO:0004666"}, "PTGS2": {"GO:0004666"}, "IVNS1ABP": {"GO:0005737"},
    }  # fmt: skip


def test_gaf_genes_that_still_share_an_ensembl_gene_are_reported(tmp_path: Path, real_table, caplog):
    # The same lines keyed by UniProt accessions: the Ensembl table has none, so COX1 falls back on its symbol.
    lines = [line.replace("NCBIGene\t4512", "UniProtKB\tP00395") for line in NCBI_LINES]
    path = write_gaf(tmp_path / "uniprot.gaf.gz", lines)
    with caplog.at_level(logging.WARNING, logger="sclong.knowledge.gaf"):
        collisions = gaf_collisions(map_gaf_genes(read_gaf(path, 0.0), real_table))
    assert collisions[["gaf_id", "ensembl_id"]].values.tolist() == [
        ["UniProtKB:P00395", GENES["PTGS1"]], ["NCBIGene:5742", GENES["PTGS1"]]
    ]
    assert set(collisions["shared_by"]) == {"UniProtKB:P00395 (COX1), NCBIGene:5742 (PTGS1)"}
    assert "2 GAF genes with different symbols land on 1 Ensembl genes" in caplog.text


def test_uniprot_accessions_map_through_the_optional_column(tmp_path: Path):
    columns = (*REQUIRED_COLUMNS, "uniprot_ids")
    rows = [(*row, "Q11111, Q22222" if row[1] == "CCC3" else "") for row in SMALL_GENES]
    table = read_gene_table(write_gene_table(tmp_path / "genes.tsv", rows, columns))
    path = write_gaf(tmp_path / "u.gaf.gz", [gaf_line("AAA1", "GO:0000001", "P", gene_id="UniProtKB:Q22222"),
                                             gaf_line("AAA1", "GO:0000002", "P")])  # fmt: skip
    mapping = map_gaf_genes(read_gaf(path, 0.0), table)
    assert mapping[["gaf_id", "ensembl_id", "how", "level"]].values.tolist() == [
        ["UniProtKB:Q22222", "ENSG00000000004", "db_id", "uniprot_ids"],
        ["UniProtKB:P_AAA1", "ENSG00000000001", "current", "current"],
    ]


def test_real_goa_file(real_gaf, real_table):
    annotations = real_gaf
    assert annotations.n_lines == 475402 and annotations.n_malformed == 0
    assert annotations.n_negated == 1187 and len(annotations.genes) == 19739
    assert annotations.genes["symbol"].nunique() == 19684
    mapping = map_gaf_genes(annotations, real_table)
    assert (mapping["how"] != "unmapped").mean() > 0.97
    assert mapping.set_index("query").loc["TSPAN6", "ensembl_id"] == "ENSG00000000003"
