"""Gene tables: the workflow's own layout validated, HGNC's complete set converted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sclong.errors import InputError
from sclong.knowledge.gene_table import prepare_gene_table
from sclong.knowledge.genes import map_symbols, read_gene_table

HGNC_ROWS = [
    ("hgnc_id", "symbol", "locus_group", "location", "alias_symbol", "prev_symbol", "entrez_id", "ensembl_gene_id",
     "uniprot_ids"),
    ("HGNC:5", "A1BG", "protein-coding gene", "19q13.43", "", "", "1", "ENSG00000121410", "P04217"),
    ("HGNC:7", "A2M", "protein-coding gene", "12p13.31", '"FWP007|S863-7"', "", "2", "ENSG00000175899", "P01023"),
    ("HGNC:7421", "MT-CO1", "protein-coding gene", "mitochondria", "", "MTCO1", "4512", "ENSG00000198804",
     '"P00395|Q0H4A1"'),
    ("HGNC:99", "XIST", "non-coding RNA", "Xq13.2", "", '"SXI1|swd66"', "7503", "ENSG00000229807", ""),
    ("HGNC:100", "NOID", "other", "1p36", "", "", "9999", "", ""),
]  # fmt: skip
HGNC = "".join("\t".join(row) + "\n" for row in HGNC_ROWS)


def test_hgnc_complete_set_is_converted(tmp_path: Path) -> None:
    source = tmp_path / "hgnc_complete_set.txt"
    source.write_text(HGNC)
    out = tmp_path / "genes.tsv.gz"
    assert prepare_gene_table(source, "hgnc", out) == 4
    frame = pd.read_csv(out, sep="\t", dtype=str, keep_default_na=False).set_index("symbol")
    assert frame.loc["A2M", "alias_symbols"] == "FWP007, S863-7"
    assert frame.loc["XIST", ["biotype", "chromosome", "previous_symbols"]].tolist() == ["ncRNA", "X", "SXI1, swd66"]
    assert frame.loc["MT-CO1", "chromosome"] == "MT"
    mapped = map_symbols(["MTCO1", "S863-7"], read_gene_table(out)).set_index("query")
    assert mapped["ensembl_id"].tolist() == ["ENSG00000198804", "ENSG00000175899"]
    assert frame.loc["MT-CO1", "uniprot_ids"] == "P00395, Q0H4A1"
    assert read_gene_table(out).lookup["uniprot_ids"]["Q0H4A1"] == ["ENSG00000198804"]


def test_hgnc_set_without_uniprot_ids_converts_too(tmp_path: Path) -> None:
    source = tmp_path / "hgnc_complete_set.txt"
    source.write_text("".join("\t".join(row[:-1]) + "\n" for row in HGNC_ROWS))
    out = tmp_path / "genes.tsv.gz"
    assert prepare_gene_table(source, "hgnc", out) == 4
    assert (read_gene_table(out).frame["uniprot_ids"] == "").all()


def test_own_layout_is_validated_and_copied(shared_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "genes.tsv.gz"
    n = prepare_gene_table(shared_data / "genes" / "ensembl100_grch38_genes.tsv.gz", "sclong", out)
    assert n == len(read_gene_table(out)) > 60_000


def test_table_without_needed_columns_fails_without_output(tmp_path: Path) -> None:
    source = tmp_path / "bad.tsv"
    source.write_text("symbol\tbiotype\nA1BG\tprotein_coding\n")
    with pytest.raises(InputError, match="lacks required column"):
        prepare_gene_table(source, "hgnc", tmp_path / "out.tsv.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tsv"]
