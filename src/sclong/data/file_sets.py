"""Datasets that are a folder of files rather than one AnnData: the drug tasks' data, by format.

A dataset of such a format is the folder ``<results_dir>/datasets/<name>/`` (or a user's ``path``) holding
the files of :data:`FILE_SETS` under the names given there: the demo's simulators write them, and at paper
scale :mod:`sclong.data.folders` extracts them from the downloaded repositories (each role a ``member`` of
a zip or tar, or a plain file). The tasks read the files by role with the format's own readers.

* ``l1000``: L1000 profiles (GCT 1.2/1.3 with their metadata) and DeepCE's SMILES CSV (pert_id, smiles).
* ``l1000_bayesian``: the Bayesian level-5 catalogue (HDF5), LINCS' sig_info and pert_info tables (the
  paper's L1000 data; :mod:`sclong.tasks.drugs.l1000_catalog`).
* ``deepcdr``: DeepCDR's GDSC ln(IC50), GDSC drug list, CID/SMILES table, CCLE annotations and expression.
* ``deepdds``: DeepDDS' O'Neil labels and cell features, drug SMILES, and the independent AstraZeneca set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from sclong.errors import ConfigError, InputError

FolderFormat = Literal["l1000", "l1000_bayesian", "deepcdr", "deepdds"]
FILE_SETS: dict[str, dict[str, str]] = {
    "l1000": {"signatures": "signatures.gct", "smiles": "drugs_smiles.csv"},
    "l1000_bayesian": {"signatures": "level5_compz.h5", "signature_info": "sig_info.txt", "compounds": "pert_info.txt"},
    "deepcdr": {
        "ic50": "GDSC_IC50.csv",
        "drug_list": "drug_list.csv",
        "smiles": "drugs_pubchem_smiles.txt",
        "annotations": "Cell_lines_annotations.txt",
        "expression": "genomic_expression.csv",
    },
    "deepdds": {
        "train_labels": "labels_0_10.csv",
        "train_cells": "new_cell_features_954.csv",
        "smiles": "smiles.csv",
        "test_labels": "independent_set/independent_input.csv",
        "test_cells": "independent_set/independent_cell_features_954.csv",
    },
}


def folder_files(folder: str | Path, fmt: FolderFormat) -> dict[str, Path]:
    """Role -> path of every file of a ``fmt`` dataset folder; a missing folder or file is one InputError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, f"is not a folder of {fmt} files (expected {', '.join(FILE_SETS[fmt].values())})")
    paths = {role: folder / name for role, name in FILE_SETS[fmt].items()}
    missing = [name for name in FILE_SETS[fmt].values() if not (folder / name).is_file()]
    if missing:
        raise InputError(folder, f"lacks the {fmt} file(s) {', '.join(missing)}")
    return paths


def dataset_layout(entry: dict) -> str:
    """What a ``datasets.<name>`` entry is: a folder format of :data:`FILE_SETS`, else ``h5ad`` (one AnnData)."""
    kind = entry.get("builtin") or entry.get("format")
    return kind if kind in FILE_SETS else "h5ad"


def check_roles(fmt: str, roles: set[str], key: str) -> None:
    """Refuse a ``files`` mapping whose roles are not exactly the format's (a :class:`ConfigError` on ``key``)."""
    expected = set(FILE_SETS[fmt])
    if roles != expected:
        missing, unknown = sorted(expected - roles), sorted(roles - expected)
        parts = [f"missing role(s) {', '.join(missing)}"] if missing else []
        parts += [f"unknown role(s) {', '.join(unknown)}"] if unknown else []
        raise ConfigError(key, f"{'; '.join(parts)} (format {fmt} has {', '.join(FILE_SETS[fmt])})")
