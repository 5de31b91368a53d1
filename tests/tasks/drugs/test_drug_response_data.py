"""Drug-response data: the readers on DeepCDR's real files (../shared/data/drug_response), the pairs table and
its bad-input reports, the per-type split, and Pearson's r against hand-computed values."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sclong.errors import InputError
from sclong.tasks.drugs.drug_response_data import (
    TCGA_TYPES,
    build_pairs,
    pearson,
    read_annotations,
    read_drug_list,
    read_expression,
    read_ic50,
    read_smiles,
    split_pairs,
)

IC50 = "drug_response/GDSC_IC50.csv.gz"
SMILES = "drug_response/223drugs_pubchem_smiles.txt"
ANNOTATIONS = "drug_response/Cell_lines_annotations_20181226.txt"
# Rows of DeepCDR's GDSC drug list (same header; four drugs with one CID, and the two non-CID forms)
DRUG_LIST = """drug_id,Name,Synonyms,Targets,Target pathway,PubCHEM,Sample Size,Count
1242,(5Z)-7-Oxozeaenol,"5Z-7-Oxozeaenol, LL-Z1640-2",TAK1,"Other, kinases",9863776,945,266
179,5-Fluorouracil,5-FU,Antimetabolite (DNA & RNA),Other,3385,968,266
86,A-443654,KIN001-139,"AKT1, AKT2, AKT3",PI3K/MTOR signaling,10172943,425,266
55,A-770041,KIN001-111,"LCK, FYN","Other, kinases",9549184,426,266
1001,AICA Ribonucleotide,AICAR,AMPK agonist,Metabolism,none,968,266
1004,Vinblastine,,Microtubule destabiliser,Mitosis,"5388992, 6710780",968,266
"""


@pytest.fixture(scope="module")
def ic50(shared_data: Path) -> pd.DataFrame:
    return read_ic50(shared_data / IC50)


@pytest.fixture(scope="module")
def smiles(shared_data: Path) -> pd.Series:
    return read_smiles(shared_data / SMILES)


@pytest.fixture(scope="module")
def cancer_types(shared_data: Path) -> pd.Series:
    return read_annotations(shared_data / ANNOTATIONS)


@pytest.fixture(scope="module")
def drug_cids(tmp_path_factory: pytest.TempPathFactory) -> pd.Series:
    path = tmp_path_factory.mktemp("gdsc") / "1.Drug_list.csv"
    path.write_text(DRUG_LIST)
    return read_drug_list(path)


def test_readers_on_the_real_files(ic50: pd.DataFrame, smiles: pd.Series, cancer_types: pd.Series) -> None:
    assert ic50.shape == (266, 969)
    assert ic50.index[0] == "1" and ic50.columns[0].startswith("ACH-")
    assert ic50.loc["1", "ACH-000070"] == pytest.approx(0.693305)
    assert ic50.isna().to_numpy().mean() > 0.1  # many pairs unmeasured
    assert len(smiles) == 223 and smiles.index.str.fullmatch(r"\d+").all()
    assert smiles["5289247"] == "O=C1NC(=O)C(=Cc2ccc3nccnc3c2)S1"
    assert len(cancer_types) == 1457  # 1,461 rows, 4 without a DepMap id
    assert cancer_types["ACH-000698"] == "SCLC" and cancer_types["ACH-000489"] == "COAD/READ"
    assert cancer_types.isna().sum() > 0  # "NA" is no type
    assert set(TCGA_TYPES) <= set(cancer_types.dropna())


def test_drug_list_keeps_drugs_with_one_cid(drug_cids: pd.Series) -> None:
    assert drug_cids.to_dict() == {"1242": "9863776", "179": "3385", "86": "10172943", "55": "9549184"}


def test_expression_reader_reduces_depmap_names(tmp_path: Path) -> None:
    path = tmp_path / "expression.csv"
    path.write_text(",TP53 (7157),EGFR (1956)\nACH-000001,1.5,0\nACH-000002,0.25,3.0\n")
    frame = read_expression(path)
    assert list(frame.columns) == ["TP53", "EGFR"] and list(frame.index) == ["ACH-000001", "ACH-000002"]
    assert frame.loc["ACH-000002", "EGFR"] == 3.0
    path.write_text(",TP53,TP53\nACH-000001,1.5,0\n")
    with pytest.raises(InputError, match="genes appear more than once"):
        read_expression(path)
    path.write_text(",TP53,EGFR\nACH-000001,1.5,\n")
    with pytest.raises(InputError, match="1 expression value"):
        read_expression(path)


def test_pairs_and_their_bad_input_reports(
    ic50: pd.DataFrame,
    drug_cids: pd.Series,
    smiles: pd.Series,
    cancer_types: pd.Series,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cids = pd.concat([drug_cids, pd.Series({"1005": "999999999"})])  # a drug whose CID has no SMILES
    expressed = pd.Index(sorted(ic50.columns)[:500])  # some without an annotation, others missing
    with caplog.at_level(logging.WARNING):
        pairs = build_pairs(ic50, cids, smiles, cancer_types, expressed, "GDSC_IC50.csv")
    table = pairs.table
    assert set(table["drug_id"]) == {"1242", "179", "86", "55"}
    usable = sorted(set(expressed) & set(cancer_types.index))
    assert set(table["cell_line"]) <= set(usable)
    measured = ic50.loc[["1242", "179", "86", "55"], usable].notna().to_numpy().sum()
    assert len(table) == measured
    row = table[(table["drug_id"] == "179") & (table["cell_line"] == expressed[0])]
    assert row["ln_ic50"].item() == ic50.loc["179", expressed[0]]
    assert row["cancer_type"].item() == cancer_types[expressed[0]] or pd.isna(cancer_types[expressed[0]])
    dropped = pairs.dropped.set_index("reason")
    assert dropped.loc["no_smiles", "names"] == 1 and dropped.loc["no_smiles", "examples"] == "1005"
    assert dropped.loc["no_smiles", "pairs"] == ic50.loc["1005"].notna().sum()
    assert dropped.loc["no_expression", "pairs"] > 0 and dropped.loc["no_annotation", "pairs"] > 0
    assert dropped.loc["no_cid", "names"] == len(ic50) - 5
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("drug whose CID has no SMILES (1: 1005)" in line for line in lines) == 1
    assert sum("cell line without expression" in line for line in lines) == 1


def test_ic50_ids_matching_no_cell_line_are_refused(
    ic50: pd.DataFrame, drug_cids: pd.Series, smiles: pd.Series, cancer_types: pd.Series
) -> None:
    renamed = ic50.rename(columns=lambda name: name.replace("ACH-", "COSMIC-"))
    with pytest.raises(InputError, match="GDSC_IC50.csv: none of its 969 cell-line ids has expression"):
        build_pairs(renamed, drug_cids, smiles, cancer_types, pd.Index(ic50.columns), "GDSC_IC50.csv")
    with pytest.raises(InputError, match="none of its 266 drug ids has a PubChem CID with a SMILES"):
        build_pairs(ic50, drug_cids.iloc[:0], smiles, cancer_types, pd.Index(ic50.columns), "GDSC_IC50.csv")


def test_bad_ic50_rows_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "ic50.csv"
    path.write_text('"","ACH-000001"\n"1001",0.5\n')
    with pytest.raises(InputError, match="do not start with 'GDSC:'"):
        read_ic50(path)


def test_split_within_each_type() -> None:
    types = ["LUAD"] * 100 + ["SKCM"] * 41 + ["SARC"] * 7 + [np.nan] * 3
    pairs = pd.DataFrame({"cancer_type": types})
    split = split_pairs(pairs, seed=3, test_fraction=0.05, validation_fraction=0.1)
    parts = np.concatenate([split.train, split.validation, split.test])
    assert len(parts) == len(set(parts)) == 141 and split.excluded == 10
    test_types = pairs["cancer_type"].to_numpy()[split.test]
    assert (test_types == "LUAD").sum() == 5 and (test_types == "SKCM").sum() == 41 - int(0.95 * 41)
    val_types = pairs["cancer_type"].to_numpy()[split.validation]
    assert (val_types == "LUAD").sum() == round(0.1 * 95) and (val_types == "SKCM").sum() == round(0.1 * 38)
    again = split_pairs(pairs, seed=3, test_fraction=0.05, validation_fraction=0.1)
    other = split_pairs(pairs, seed=4, test_fraction=0.05, validation_fraction=0.1)
    assert np.array_equal(split.test, again.test) and not np.array_equal(split.test, other.test)


def test_pearson_by_hand() -> None:
    assert pearson(np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4])) == pytest.approx(0.8)
    assert pearson(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1.0)
    assert pearson(np.array([1.0, 2, 3]), np.array([2.0, 2, 2])) is None
    assert pearson(np.array([1.0]), np.array([2.0])) is None
