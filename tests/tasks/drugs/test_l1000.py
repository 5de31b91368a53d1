"""L1000 data: cmapPy's GCT parse of the real A375 plate checked against the file's own text, the
978-landmark check, DeepCE's signature CSVs, DeepCE's filter, replicate reduction (hand-computed),
SMILES, and the drug-disjoint split."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sclong.errors import InputError
from sclong.tasks.drugs import l1000
from sclong.tasks.drugs.l1000 import Signatures


@pytest.fixture(scope="module")
def plate_path(shared_data: Path) -> Path:
    return shared_data / "l1000" / "a375_24h_plate.gct.gz"


@pytest.fixture(scope="module")
def plate(plate_path: Path) -> Signatures:
    return l1000.read_gct(plate_path)


@pytest.fixture(scope="module")
def plate_lines(plate_path: Path) -> list[str]:
    with gzip.open(plate_path, "rt") as handle:
        return handle.read().splitlines()


def write_gct(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_real_plate_header_dims_and_metadata(plate, plate_lines):
    assert plate_lines[0] == "#1.3"
    n_rows, n_cols, n_row_meta, n_col_meta = map(int, plate_lines[1].split("\t"))
    assert (n_rows, n_cols, n_row_meta, n_col_meta) == (978, 377, 11, 35)
    assert plate.values.shape == (377, 978) and plate.values.dtypes.unique().tolist() == [np.float32]
    header = plate_lines[2].split("\t")
    assert list(plate.meta.index) == header[1 + n_row_meta :]
    first_gene = plate_lines[3 + n_col_meta].split("\t")
    assert first_gene[0] == "200814_at" and plate.values.columns[0] == first_gene[header.index("pr_gene_symbol")]
    assert plate.values.columns[0] == "PSME1" and plate.values.columns.is_unique
    meta = plate.meta
    assert list(meta.columns) == list(l1000.META_COLUMNS)
    assert meta["pert_type"].value_counts().to_dict() == {"trt_cp": 328, "ctl_vehicle": 26, "trt_poscon": 23}
    assert set(meta["cell_id"]) == {"A375"} and set(meta["time_h"]) == {24.0}
    assert sorted(meta["dose_um"].dropna().unique()) == [0.04, 0.12, 0.37, 1.11, 3.33, 10.0]
    assert meta.loc["LJP005_A375_24H_X1_B19:A03", "pert_id"] == "DMSO"


def test_real_plate_values_match_the_text(plate, plate_lines):
    n_col_meta, n_row_meta = 35, 11
    rows = [line.split("\t") for line in plate_lines[3 + n_col_meta :]]
    expected = np.array([row[1 + n_row_meta :] for row in rows], dtype=np.float32).T
    np.testing.assert_array_equal(plate.values.to_numpy(), expected)


def test_genes_other_than_the_978_landmarks_are_refused(plate_lines, tmp_path):
    n_col_meta = 35
    short = [plate_lines[0], "500\t377\t11\t35", *plate_lines[2 : 3 + n_col_meta + 500]]
    with pytest.raises(InputError, match=r"short\.gct: 500 genes, not the 978 L1000 landmark genes"):
        l1000.read_gct(write_gct(tmp_path / "short.gct", short))
    flagged = list(plate_lines)
    column = plate_lines[2].split("\t").index("pr_is_lmark")
    for i in range(3 + n_col_meta, 3 + n_col_meta + 4):
        cells = flagged[i].split("\t")
        cells[column] = "0"
        flagged[i] = "\t".join(cells)
    with pytest.raises(InputError, match="4 rows with pr_is_lmark != 1"):
        l1000.read_gct(write_gct(tmp_path / "flagged.gct", flagged))


def test_landmark_list_must_match(plate, plate_path):
    genes = list(plate.values.columns)
    assert l1000.read_gct(plate_path, landmarks=genes).values.shape == (377, 978)
    with pytest.raises(InputError, match="1 missing .*OTHER.*1 not landmarks .*PSME1"):
        l1000.read_gct(plate_path, landmarks=["OTHER", *genes[1:]])


def test_bad_gct_files(tmp_path, plate_lines):
    with pytest.raises(InputError, match=r"table\.csv: not a GCT file"):
        l1000.read_gct(write_gct(tmp_path / "table.csv", ["a,b"]))
    with pytest.raises(InputError, match=r"broken\.gct: cmapPy cannot parse it"):
        l1000.read_gct(write_gct(tmp_path / "broken.gct", ["#1.3", "x\ty"]))
    # GCT 1.3 keeps sample metadata as rows of its column-metadata block, named in the first cell
    without = [plate_lines[0], "978\t377\t11\t34", plate_lines[2]]
    without += [line for line in plate_lines[3:] if not line.startswith("pert_time_unit\t")]
    assert len(without) == len(plate_lines) - 1
    with pytest.raises(InputError, match="sample metadata lacks pert_time_unit"):
        l1000.read_gct(write_gct(tmp_path / "no_unit.gct", without))


def deepce_csv(path: Path, plate: Signatures, sig_ids: list[str], doses: list[str]) -> Path:
    n = len(sig_ids)
    table = pd.DataFrame(
        {
            "sig_id": sig_ids,
            "pert_id": ["BRD-A"] * n,
            "pert_type": ["trt_cp"] * n,
            "cell_id": ["MCF7"] * n,
            "pert_idose": doses,
        }
    )
    values = pd.DataFrame(plate.values.to_numpy()[:n], columns=plate.values.columns)
    pd.concat([table, values], axis=1).to_csv(path, index=False)
    return path


def test_deepce_signature_csv(plate, tmp_path):
    path = deepce_csv(
        tmp_path / "signature_train.csv",
        plate,
        ["CPC006_MCF7_24H:BRD-A:10", "CPC006_MCF7_6H:BRD-A:10", "X_24H:a"],
        ["10.0 um", "10.0 um", "500 nm"],
    )
    signatures = l1000.read_deepce_signatures(path)
    assert signatures.values.shape == (3, 978)
    np.testing.assert_array_equal(signatures.values.to_numpy(), plate.values.to_numpy()[:3])
    assert signatures.meta["dose_um"].tolist()[:2] == [10.0, 10.0] and np.isnan(signatures.meta["dose_um"].iloc[2])
    assert signatures.meta["time_h"].iloc[0] == 24.0 and np.isnan(signatures.meta["time_h"].iloc[1])
    kept = l1000.deepce_filter(signatures, "train")
    assert list(kept.meta.index) == ["CPC006_MCF7_24H:BRD-A:10"]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"sig_id": ["a"], "pert": ["b"]}).to_csv(bad, index=False)
    with pytest.raises(InputError, match=r"bad\.csv: the first columns must be sig_id, pert_id"):
        l1000.read_deepce_signatures(bad)


def test_deepce_filter_on_the_real_plate(plate, caplog):
    caplog.set_level(logging.INFO, logger="sclong.tasks.drugs.l1000")
    kept = l1000.deepce_filter(plate, "plate")
    assert len(kept.meta) == 322 and set(kept.meta["pert_type"]) == {"trt_cp"}
    assert not kept.meta["pert_id"].isin(l1000.EXCLUDED_PERT_IDS).any()
    assert (
        "keeps 322 of 377 profiles (49 not trt_cp, 0 another cell line, 0 another dose, 0 not 24 h, 6 an excluded id)"
        in caplog.text
    )


def test_dose_rounding_and_units():
    doses = pd.Series([0.0411, 3.333, 10.0, 0.5, np.nan])
    assert l1000.nominal_dose(doses).tolist()[:3] == [0.04, 3.33, 10.0]
    assert l1000.nominal_dose(doses)[3:].isna().all()
    assert l1000._dose_um(pd.Series([10.0, 10.0, 10.0]), pd.Series(["um", "nM", None])).isna().tolist() == [
        False,
        True,
        True,
    ]


def hand_signatures(values: list[list[float]], groups: list[tuple[str, str, float]]) -> Signatures:
    index = pd.Index([f"s{i}" for i in range(len(values))], name="sig_id")
    meta = pd.DataFrame(groups, columns=["pert_id", "cell_id", "dose_um"], index=index)
    meta = meta.assign(pert_type="trt_cp", time_h=24.0)[list(l1000.META_COLUMNS)]
    return Signatures(values=pd.DataFrame(np.array(values, dtype=np.float32), index=index), meta=meta)


def test_median_rank_replicate_by_hand():
    # per-gene ranks: gene 0 (1 2 3 0), gene 1 (3 2 1 0), gene 2 (2 1 3 0); mean ranks 2, 5/3, 7/3, 0;
    # the middle rank is 1.5: replicate 1 is nearest
    values = np.array([[1, 9, 5], [2, 8, 4], [3, 7, 6], [0, 0, 0]], dtype=float)
    assert l1000.median_rank_replicate(values) == 1
    # two replicates: mean ranks 0 and 1, both 0.5 from the middle: the first
    assert l1000.median_rank_replicate(np.array([[0.0, 0.0], [1.0, 1.0]])) == 0


def test_reduce_replicates_keeps_one_real_profile_per_group():
    signatures = hand_signatures(
        [[1, 9, 5], [7, 7, 7], [2, 8, 4], [3, 7, 6], [0, 0, 0], [4, 4, 4]],
        [("A", "MCF7", 10.0), ("B", "MCF7", 10.0), ("A", "MCF7", 10.0), ("A", "MCF7", 10.0), ("A", "MCF7", 10.0),
         ("A", "PC3", 10.0)],
    )  # fmt: skip
    reduced = l1000.reduce_replicates(signatures, "hand")
    assert list(reduced.meta.index) == ["s1", "s2", "s5"]  # B alone; A/MCF7 -> its replicate 1 (s2); A/PC3 alone
    assert reduced.meta["replicates"].tolist() == [1, 4, 1]
    np.testing.assert_array_equal(reduced.values.loc["s2"].to_numpy(), [2, 8, 4])


def test_read_smiles_and_attach(shared_data, plate, tmp_path, caplog):
    smiles = l1000.read_smiles(shared_data / "l1000" / "drugs_smiles.csv")
    assert len(smiles) == 1794 and smiles["BRD-K70792160"] == "CCN(CC)CCCCN1c2ccccc2Oc2ccc(Cl)cc12"
    treated = plate.subset(plate.meta["pert_type"] == "trt_cp")
    missing = sorted(set(treated.meta["pert_id"]) - set(smiles))
    assert len(missing) == 1
    one_drug = treated.meta["pert_id"].iloc[0]
    usable = set(smiles) - {one_drug}
    attached = l1000.attach_smiles(treated, usable, smiles, "plate")
    assert not attached.meta["pert_id"].isin([*missing, one_drug]).any()
    assert f"1 drugs with no SMILES, their 6 profiles dropped: {missing}" in caplog.text
    assert f"1 drugs with an invalid SMILES, their 6 profiles dropped: ['{one_drug}']" in caplog.text
    duplicated = tmp_path / "dup.csv"
    duplicated.write_text("BRD-1,CCO\nBRD-1,CCC\n")
    with pytest.raises(InputError, match=r"dup\.csv: 1 pert_ids appear twice"):
        l1000.read_smiles(duplicated)


def test_split_by_drug_is_disjoint_seeded_and_sized(plate):
    profiles = l1000.reduce_replicates(l1000.deepce_filter(plate, "plate"), "plate")
    drugs = profiles.meta["pert_id"]
    largest = drugs.value_counts().max()
    shares = np.array(list(l1000.PAPER_SPLIT.values())) / sum(l1000.PAPER_SPLIT.values())
    for seed in range(5):
        part = l1000.split_by_drug(drugs, l1000.PAPER_SPLIT, seed)
        assert part.index.equals(drugs.index) and set(part) == {"train", "validation", "test"}
        assert (part.groupby(drugs).nunique() == 1).all()  # no drug in two parts
        counts = part.value_counts().reindex(list(l1000.PAPER_SPLIT)).to_numpy()
        assert np.all(np.abs(counts - shares * len(drugs)) <= largest)
    assert l1000.split_by_drug(drugs, l1000.PAPER_SPLIT, 0).equals(l1000.split_by_drug(drugs, l1000.PAPER_SPLIT, 0))
    assert not l1000.split_by_drug(drugs, l1000.PAPER_SPLIT, 0).equals(l1000.split_by_drug(drugs, l1000.PAPER_SPLIT, 1))


def test_split_from_files_keeps_deepce_parts(caplog):
    a = hand_signatures([[1, 2, 3]], [("A", "MCF7", 10.0)])
    b = hand_signatures([[3, 2, 1]], [("A", "PC3", 10.0)])
    b = Signatures(values=b.values.rename(index={"s0": "t0"}), meta=b.meta.rename(index={"s0": "t0"}))
    joined, part = l1000.split_from_files({"train": a, "test": b})
    assert part.tolist() == ["train", "test"] and list(joined.meta.index) == ["s0", "t0"]
    assert "share drugs" in caplog.text
