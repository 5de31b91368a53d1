"""Fixtures of the knowledge tests: a small synthetic gene table and the real Ensembl 100 table."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from goatools.obo_parser import GODag

from sclong.knowledge.gaf import GafAnnotations, read_gaf
from sclong.knowledge.genes import REQUIRED_COLUMNS, GeneTable, read_gene_table
from sclong.knowledge.go_graph import load_go_dag

# ensembl_gene_id, symbol, hgnc_symbol, biotype, chromosome, entrez, previous_symbols, alias_symbols
SMALL_GENES = [
    ("ENSG00000000001.5", "AAA1", "AAA1", "protein_coding", "1", "1", "OLD1, SHARED_OLD", "ALIAS1, DUP"),
    ("ENSG00000000002", "BBB2", "BBB2", "lncRNA", "2", "2", "SHARED_OLD", "DUP"),
    ("ENSG00000000003", "BBB2", "", "protein_coding", "CHR_HSCHR6_MHC_COX_CTG1", "", "", "DUP"),
    ("ENSG00000000007", "FFF6", "FFF6", "protein_coding", "5", "", "", "TIE"),
    ("ENSG00000000004", "CCC3", "CCC3", "protein_coding", "X", "4; 5", "", "TIE"),
    ("ENSG00000000005", "AC000001.1", "DDD4", "protein_coding", "3", "", "AAA1", "BBB2"),
    ("ENSG00000000006", "EEE5", "EEE5", "snRNA", "4", "", "", "ALIAS5"),
]


def write_gene_table(path: Path, rows: list[tuple[str, ...]], columns: tuple[str, ...] = REQUIRED_COLUMNS) -> Path:
    """Write rows as a gene-table TSV and return its path."""
    lines = ["\t".join(columns)] + ["\t".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def small_table(tmp_path: Path) -> GeneTable:
    return read_gene_table(write_gene_table(tmp_path / "genes.tsv", SMALL_GENES))


@pytest.fixture(scope="session")
def real_table(shared_data: Path) -> GeneTable:
    return read_gene_table(shared_data / "genes" / "ensembl100_grch38_genes.tsv.gz")


@pytest.fixture(scope="session")
def real_dag(shared_data: Path) -> GODag:
    return load_go_dag(shared_data / "go" / "go_2019-01-29.obo.gz")


@pytest.fixture(scope="session")
def real_gaf(shared_data: Path) -> GafAnnotations:
    return read_gaf(shared_data / "go" / "goa_human_2019-01-29.gaf.gz", max_malformed_fraction=0.0)


# A small ontology: BP root GO:0000001 <- GO:0000002 (is_a) <- GO:0000003 (is_a), GO:0000004 part_of
# GO:0000002, GO:0000005 regulates GO:0000002 (not followed), MF root GO:0000010 <- GO:0000011 which is
# part_of a BP term (crosses namespaces, not followed), obsolete GO:0000099, GO:0000007 an alt_id of 3.
SMALL_OBO = """format-version: 1.2
data-version: releases/2019-01-27
ontology: go

[Term]
id: GO:0000001
name: bp root
namespace: biological_process

[Term]
id: GO:0000002
name: bp child
namespace: biological_process
is_a: GO:0000001 ! bp root

[Term]
id: GO:0000003
name: bp grandchild
namespace: biological_process
alt_id: GO:0000007
is_a: GO:0000002 ! bp child

[Term]
id: GO:0000004
name: bp part
namespace: biological_process
relationship: part_of GO:0000002 ! bp child

[Term]
id: GO:0000005
name: bp regulator
namespace: biological_process
relationship: regulates GO:0000002 ! bp child

[Term]
id: GO:0000010
name: mf root
namespace: molecular_function

[Term]
id: GO:0000011
name: mf child
namespace: molecular_function
is_a: GO:0000010 ! mf root
relationship: part_of GO:0000001 ! bp root

[Term]
id: GO:0000099
name: obsolete thing
namespace: biological_process
is_obsolete: true

[Typedef]
id: part_of
name: part of
"""


def gaf_line(
    symbol: str, go_id: str, aspect: str, qualifier: str = "", synonyms: str = "", gene_id: str = ""
) -> str:
    """One GAF 2.1 line (17 columns); ``gene_id`` is ``DB:ID`` (default ``UniProtKB:P_<symbol>``)."""
    db, db_id = (gene_id or f"UniProtKB:P_{symbol}").split(":", 1)
    fields = [db, db_id, symbol, qualifier, go_id, "PMID:1", "IDA", "", aspect, "name",
              synonyms, "protein", "taxon:9606", "20190101", "UniProt", "", ""]  # fmt: skip
    return "\t".join(fields)


SMALL_GAF_LINES = [
    "!gaf-version: 2.1",
    "!a comment",
    gaf_line("AAA1", "GO:0000003", "P"),
    gaf_line("AAA1", "GO:0000010", "F"),
    gaf_line("BBB2", "GO:0000004", "P"),
    gaf_line("BBB2", "GO:0000002", "P", qualifier="NOT"),
    gaf_line("CCC3", "GO:0000007", "P"),  # alt_id of GO:0000003
    gaf_line("DDD4", "GO:0000099", "P"),  # obsolete
    gaf_line("DDD4", "GO:0000123", "P"),  # not in the ontology
    gaf_line("DDD4", "GO:0000011", "F"),
    gaf_line("UNKNOWN_SYM", "GO:0000001", "P", synonyms="NOPE|EEE5"),  # mapped through a synonym
    gaf_line("FFF6", "GO:0000005", "P"),
    "short\tline",
    gaf_line("FFF6", "GO:12", "P"),
    gaf_line("FFF6", "GO:0000001", "X"),
]


SMALL_GAF_MALFORMED = 3 / 13
GAF_SETTINGS = '{"max_malformed_fraction": 0.25}'  # --gaf-settings for the small GAF


@pytest.fixture
def small_gaf(tmp_path: Path) -> Path:
    path = tmp_path / "small.gaf.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(SMALL_GAF_LINES) + "\n")
    return path


@pytest.fixture
def small_obo(tmp_path: Path) -> Path:
    path = tmp_path / "small.obo.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(SMALL_OBO)
    return path


@pytest.fixture
def small_inputs(tmp_path: Path, small_gaf: Path, small_obo: Path) -> dict[str, Path]:
    """Gene table, GAF, OBO, non-zero counts and a Gene2vec file of the small synthetic world (its GAF has 3
    malformed lines of 13: read it with a max_malformed_fraction of at least :data:`SMALL_GAF_MALFORMED`)."""
    counts = tmp_path / "counts.tsv"
    counts.write_text(
        "feature_id\tfeature_name\tnonzero_cells\n"
        "ENSG00000000001.3\tX\t10\n\tCCC3\t5\nENSG00000000006\tEEE5\t0\nNOPE\tNOPE\t3\n"
    )
    gene2vec = tmp_path / "gene2vec.txt"
    gene2vec.write_text("3 2\nBBB2 0.1 0.2\nALIAS5 0.3 0.4\nZZZ9 0.5 0.6\n")
    return {
        "gene_table": write_gene_table(tmp_path / "genes.tsv", SMALL_GENES),
        "gaf": small_gaf,
        "obo": small_obo,
        "counts": counts,
        "gene2vec": gene2vec,
    }
