"""The Bayesian L1000 catalogue reader: the real A375 plate written as the catalogue's HDF5 (both
orientations) with LINCS sig_info tables of both releases reads back to the GCT reader's signatures."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from sclong.errors import InputError
from sclong.tasks.drugs import l1000
from sclong.tasks.drugs.l1000_catalog import read_bayesian, read_l1000_folder, read_sig_info


@pytest.fixture(scope="module")
def plate(shared_data: Path) -> l1000.Signatures:
    return l1000.read_gct(shared_data / "l1000" / "a375_24h_plate.gct.gz")


def write_catalog(path: Path, values: pd.DataFrame, transpose: bool = False) -> Path:
    with h5py.File(path, "w") as handle:
        handle["colid"] = np.array(values.index, dtype="S")
        handle["rowid"] = np.array(values.columns, dtype="S")
        handle["data"] = values.to_numpy().T if transpose else values.to_numpy()
    return path


def write_sig_info(path: Path, meta: pd.DataFrame, release: str) -> Path:
    table = meta.reset_index()[["sig_id", "pert_id", "pert_type", "cell_id"]].copy()
    dose = meta["dose_um"].to_numpy()
    if release == "GSE92742":
        table["pert_dose"] = np.where(np.isnan(dose), "-666", [f"{d:g}" for d in dose])
        table["pert_dose_unit"] = np.where(np.isnan(dose), "-666", "µM")
        table["pert_time"], table["pert_time_unit"] = "24", "h"
    else:
        table["pert_idose"] = np.where(np.isnan(dose), "-666", [f"{d:g} uM" for d in dose])
        table["pert_itime"] = "24 h"
    table.iloc[::-1].to_csv(path, sep="\t", index=False)  # another order than the catalogue's
    return path


@pytest.mark.parametrize(("transpose", "release"), [(False, "GSE70138"), (True, "GSE92742")])
def test_the_catalogue_reads_back_to_the_gct_signatures(tmp_path: Path, plate, transpose: bool, release: str) -> None:
    catalog = write_catalog(tmp_path / "compz.h5", plate.values, transpose)
    info = write_sig_info(tmp_path / "sig_info.txt", plate.meta, release)
    signatures = read_bayesian(catalog, info)
    pd.testing.assert_frame_equal(signatures.values, plate.values)
    pd.testing.assert_frame_equal(signatures.meta, plate.meta, check_dtype=False)
    kept = l1000.deepce_filter(signatures, catalog)
    assert len(kept.meta) == len(l1000.deepce_filter(plate, "plate").meta) > 0


def test_a_square_matrix_or_missing_metadata_is_refused(tmp_path: Path, plate) -> None:
    square = pd.concat([plate.values] * 3).iloc[: l1000.N_LANDMARKS]
    square.index = [f"s{i}" for i in range(l1000.N_LANDMARKS)]
    with pytest.raises(InputError, match="cannot be told apart"):
        read_bayesian(write_catalog(tmp_path / "square.h5", square), tmp_path / "unused.txt")
    catalog = write_catalog(tmp_path / "compz.h5", plate.values)
    info = write_sig_info(tmp_path / "sig_info.txt", plate.meta.iloc[5:], "GSE70138")
    with pytest.raises(InputError, match=r"sig_info\.txt: has no row for 5 of the catalogue's 377 signatures"):
        read_bayesian(catalog, info)


def test_genes_other_than_the_landmarks_are_refused(tmp_path: Path, plate) -> None:
    catalog = write_catalog(tmp_path / "compz.h5", plate.values.iloc[:, :900])
    with pytest.raises(InputError, match="compz.h5: 900 genes, not the 978 L1000 landmark genes"):
        read_bayesian(catalog, tmp_path / "unused.txt")


def test_doses_in_other_units_and_placeholders_are_not_doses(tmp_path: Path) -> None:
    table = pd.DataFrame({"sig_id": ["a", "b", "c"], "pert_id": ["p"] * 3, "pert_type": ["trt_cp"] * 3,
                          "cell_id": ["A375"] * 3, "pert_idose": ["10 uM", "5 nM", "-666"],
                          "pert_itime": ["24 h", "24 h", "6 h"]})  # fmt: skip
    table.to_csv(tmp_path / "info.txt", sep="\t", index=False)
    meta = read_sig_info(tmp_path / "info.txt")
    assert meta["dose_um"].tolist()[0] == 10.0 and meta["dose_um"].isna().tolist() == [False, True, True]
    assert meta["time_h"].tolist() == [24.0, 24.0, 6.0]


def test_a_bayesian_folder_reads_gzip_tables_whatever_their_names(tmp_path: Path, plate, shared_data: Path) -> None:
    import gzip

    folder = tmp_path / "chem"
    folder.mkdir()
    write_catalog(folder / "level5_compz.h5", plate.values)
    write_sig_info(tmp_path / "info.txt", plate.meta, "GSE70138")
    (folder / "sig_info.txt").write_bytes(gzip.compress((tmp_path / "info.txt").read_bytes()))
    known = pd.read_csv(shared_data / "l1000" / "drugs_smiles.csv", header=None, names=["pert_id", "smiles"])
    compounds = pd.DataFrame({"pert_id": [*known["pert_id"][:50], "BRD-NONE"], "pert_iname": "x",
                              "canonical_smiles": [*known["smiles"][:50], "-666"]})  # fmt: skip
    (folder / "pert_info.txt").write_bytes(gzip.compress(compounds.to_csv(sep="\t", index=False).encode()))
    signatures, smiles, source = read_l1000_folder(folder)
    assert source == folder / "level5_compz.h5" and len(signatures.values) == 377
    assert smiles == dict(zip(known["pert_id"][:50], known["smiles"][:50], strict=True))
    (folder / "signatures.gct").write_text("#1.3\n")
    (folder / "drugs_smiles.csv").write_text("BRD-A,CCO\n")
    with pytest.raises(InputError, match="holds both of the L1000 file sets"):
        read_l1000_folder(folder)
