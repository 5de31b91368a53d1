"""Gene table reading and symbol mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sclong.errors import InputError
from sclong.knowledge.genes import REQUIRED_COLUMNS, map_symbols, read_gene_table

from .conftest import SMALL_GENES, write_gene_table


def mapped(table, *queries):
    result = map_symbols(list(queries), table)
    return [tuple(row) for row in result[["ensembl_id", "how", "level", "candidates"]].itertuples(index=False)]


def test_versioned_ids_are_stripped_in_table_and_queries(small_table):
    assert "ENSG00000000001" in small_table.frame.index
    assert mapped(small_table, "ENSG00000000001.12", "ENSG00000000004", "ENSG00000009999.1") == [
        ("ENSG00000000001", "ensembl_id", "ensembl_id", "ENSG00000000001"),
        ("ENSG00000000004", "ensembl_id", "ensembl_id", "ENSG00000000004"),
        (None, "unmapped", "", ""),
    ]


def test_current_beats_previous_and_hgnc_and_ensembl_names_compete(small_table):
    # AAA1 is gene 1's symbol and gene 5's previous symbol; BBB2 is gene 2's HGNC symbol (a lncRNA) and
    # Ensembl's display name of gene 3 (protein-coding): neither source wins by itself, the preference order
    # does; gene 5 is known to Ensembl by a clone name.
    assert mapped(small_table, "AAA1", "bbb2", "AC000001.1", "DDD4") == [
        ("ENSG00000000001", "current", "current", "ENSG00000000001"),
        ("ENSG00000000003", "ambiguous", "current", "ENSG00000000003, ENSG00000000002"),
        ("ENSG00000000005", "current", "current", "ENSG00000000005"),
        ("ENSG00000000005", "current", "current", "ENSG00000000005"),
    ]
    assert small_table.symbol_conflicts == {"BBB2"}


def test_real_hgnc_symbols_of_lncrnas_do_not_beat_protein_coding_genes(real_table):
    # Ensembl 109 and NCBI give CCDC39 and SLFN12L to the protein-coding genes; Ensembl 100's HGNC column
    # puts those symbols on lncRNAs.
    result = mapped(real_table, "CCDC39", "SLFN12L")
    assert result == [
        ("ENSG00000284862", "ambiguous", "current", "ENSG00000284862, ENSG00000145075"),
        ("ENSG00000205045", "ambiguous", "current", "ENSG00000205045, ENSG00000286065"),
    ]
    assert {"CCDC39", "SLFN12L"} <= real_table.symbol_conflicts


def test_entrez_and_optional_uniprot_lookups(real_table, tmp_path: Path):
    assert real_table.lookup["entrez"]["4512"] == ["ENSG00000198804"]
    assert real_table.lookup["entrez"]["11163"] == ["ENSG00000173598", "ENSG00000177144"]  # "11163" twice
    assert real_table.lookup["uniprot_ids"] == {} and (real_table.frame["uniprot_ids"] == "").all()
    rows = [(*row, "P1, p2" if i == 0 else "") for i, row in enumerate(SMALL_GENES)]
    table = read_gene_table(write_gene_table(tmp_path / "u.tsv", rows, (*REQUIRED_COLUMNS, "uniprot_ids")))
    assert table.lookup["uniprot_ids"] == {"P1": ["ENSG00000000001"], "P2": ["ENSG00000000001"]}
    assert table.lookup["entrez"]["5"] == ["ENSG00000000004"]  # "4; 5"


def test_previous_and_alias_levels(small_table):
    assert mapped(small_table, "OLD1", "alias5", "nothing", "") == [
        ("ENSG00000000001", "previous", "previous", "ENSG00000000001"),
        ("ENSG00000000006", "alias", "alias", "ENSG00000000006"),
        (None, "unmapped", "", ""),
        (None, "unmapped", "", ""),
    ]


def test_missing_values_are_unmapped_not_the_string_nan(real_table):
    result = map_symbols(pd.Series(["TSPAN6", None, float("nan")], dtype=object), real_table)
    assert result["query"].tolist() == ["TSPAN6", "", ""]
    assert result["how"].tolist() == ["current", "unmapped", "unmapped"]
    assert map_symbols(["nan"], real_table)["how"].tolist() == ["alias"]  # NAN is a real alias symbol


def test_ambiguous_symbols_resolve_by_biotype_then_assembly_then_id(small_table):
    assert mapped(small_table, "SHARED_OLD", "DUP", "TIE") == [
        ("ENSG00000000001", "ambiguous", "previous", "ENSG00000000001, ENSG00000000002"),
        ("ENSG00000000001", "ambiguous", "alias", "ENSG00000000001, ENSG00000000003, ENSG00000000002"),
        ("ENSG00000000004", "ambiguous", "alias", "ENSG00000000004, ENSG00000000007"),
    ]


def test_missing_columns_name_file_and_columns(tmp_path: Path):
    columns = tuple(c for c in REQUIRED_COLUMNS if c not in {"biotype", "alias_symbols"})
    rows = [tuple(v for c, v in zip(REQUIRED_COLUMNS, row, strict=True) if c in columns) for row in SMALL_GENES]
    path = write_gene_table(tmp_path / "bad.tsv", rows, columns)
    with pytest.raises(InputError) as err:
        read_gene_table(path)
    assert str(path) in str(err.value) and "biotype, alias_symbols" in str(err.value)


def test_duplicate_ids_after_version_stripping_are_an_error(tmp_path: Path):
    rows = [*SMALL_GENES, ("ENSG00000000004.2", "ZZZ", "ZZZ", "lncRNA", "1", "", "", "")]
    with pytest.raises(InputError, match="duplicate gene ID.*ENSG00000000004"):
        read_gene_table(write_gene_table(tmp_path / "dup.tsv", rows))


def test_real_table_maps_known_symbols(real_table):
    assert len(real_table) == 67149
    result = map_symbols(["TSPAN6", "KIAA0556", "KATNIP", "TM4SF6", "T245", "ENSG00000000003.15"], real_table)
    assert list(result["how"]) == ["current", "current", "current", "previous", "alias", "ensembl_id"]
    assert (
        list(result["ensembl_id"])
        == ["ENSG00000000003", "ENSG00000047578", "ENSG00000047578"] + ["ENSG00000000003"] * 3
    )
