"""Fixtures of the knowledge tests: a small synthetic gene table and the real Ensembl 100 table."""

from __future__ import annotations

from pathlib import Path

import pytest

from sclong.knowledge.genes import REQUIRED_COLUMNS, GeneTable, read_gene_table

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
