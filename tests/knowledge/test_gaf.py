"""GAF parsing: malformed and NOT lines, synonym fallback; the real GOA file."""

from __future__ import annotations

from pathlib import Path

import pytest

from sclong.errors import InputError
from sclong.knowledge.gaf import map_gaf_symbols, read_gaf


def test_malformed_and_not_lines_are_skipped_and_counted(small_gaf: Path):
    annotations = read_gaf(small_gaf)
    assert (annotations.n_lines, annotations.n_malformed, annotations.n_negated) == (13, 3, 1)
    assert len(annotations.frame) == 9
    assert ("BBB2", "GO:0000002") not in set(zip(annotations.frame["symbol"], annotations.frame["go_id"], strict=True))
    assert annotations.synonyms["UNKNOWN_SYM"] == ["NOPE", "EEE5"]


def test_unmapped_symbols_fall_back_on_synonyms(small_gaf: Path, small_table):
    mapping = map_gaf_symbols(read_gaf(small_gaf), small_table).set_index("query")
    assert mapping.loc["UNKNOWN_SYM", ["ensembl_id", "how", "via"]].tolist() == ["ENSG00000000006", "current", "EEE5"]
    assert mapping.loc["CCC3", ["ensembl_id", "via"]].tolist() == ["ENSG00000000004", "CCC3"]


def test_file_without_valid_lines_is_an_input_error(tmp_path: Path):
    path = tmp_path / "bad.gaf"
    path.write_text("!gaf-version: 2.1\nnot\ta\tgaf\n")
    with pytest.raises(InputError, match="bad.gaf: none of its 1 data lines"):
        read_gaf(path)


def test_real_goa_file(real_gaf, real_table):
    annotations = real_gaf
    assert annotations.n_lines == 475402 and annotations.n_malformed == 0
    assert annotations.n_negated > 0 and len(annotations.synonyms) == 19684
    mapping = map_gaf_symbols(annotations, real_table)
    assert (mapping["how"] != "unmapped").mean() > 0.97
    assert mapping.set_index("query").loc["TSPAN6", "ensembl_id"] == "ENSG00000000003"
