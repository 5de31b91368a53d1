"""L1000 level-5 signatures as the paper's data-availability statement gives them: the Bayesian catalogue of
LINCS Phase II (GSE70138, the L1000-bayesian project: ``Bayesian_GSE70138_Level5_COMPZ_n116218x978.h5``) with
its signature metadata and compounds from GEO (``GSE70138_Broad_LINCS_sig_info*.txt``,
``GSE70138_Broad_LINCS_pert_info*.txt``; plain or gzip, whatever their names say).

* The catalogue is HDF5 with three datasets: ``/colid`` (signature ids), ``/rowid`` (the landmark genes'
  names) and ``/data`` (the z-scores). ``/data`` may be stored signatures x genes or genes x signatures: its
  shape decides; a square matrix (978 signatures), for which both readings are possible, is refused.
  The genes must be the 978 landmarks (:func:`sclong.tasks.drugs.l1000.check_landmarks`).
* The metadata is LINCS' tab-separated ``sig_info`` table: ``sig_id, pert_id, pert_type, cell_id`` and
  the dose and time, as ``pert_dose`` + ``pert_dose_unit`` and ``pert_time`` + ``pert_time_unit`` where
  those columns exist (GSE92742's table), else parsed from ``pert_idose`` ("10 uM") and ``pert_itime``
  ("24 h") (GSE70138's). A dose is in uM only where its unit is uM (any case); another unit, or LINCS'
  ``-666`` placeholder, gives NaN, which DeepCE's filter drops.
* Every catalogue signature must have one metadata row (a signature without one is refused, naming
  examples; metadata rows of other signatures are ignored); values must be finite.

* The compounds are LINCS' tab-separated ``pert_info`` table: ``pert_id`` and ``canonical_smiles``
  (rows whose SMILES is empty or ``-666`` have none); :func:`read_pert_info`.

:func:`read_l1000_folder` reads a dataset folder of either L1000 file set (:mod:`sclong.data.file_sets`):
``l1000`` (a GCT with its metadata inside, and DeepCE's SMILES CSV) or ``l1000_bayesian`` (these three
tables); a folder holding both sets, or neither in full, is refused.

The result is the :class:`~sclong.tasks.drugs.l1000.Signatures` of :func:`~sclong.tasks.drugs.l1000.read_gct`,
so DeepCE's filter, the replicate reduction and the split apply unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.errors import InputError
from sclong.tasks.drugs import l1000
from sclong.tasks.drugs.l1000 import N_LANDMARKS, Signatures, check_landmarks

log = logging.getLogger(__name__)

CATALOG_DATASETS = ("colid", "rowid", "data")
SIG_INFO_COLUMNS = ("sig_id", "pert_id", "pert_type", "cell_id")
EXAMPLES = 3


def _names(values: np.ndarray) -> list[str]:
    """HDF5 strings (bytes or str) as ``str``."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _read_table(path: Path, what: str) -> pd.DataFrame:
    """A tab-separated LINCS table as strings; gzip is recognised by its first bytes, not the file name."""
    try:
        with open(path, "rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, compression="gzip" if gzipped else None)
    except (OSError, ValueError, EOFError, pd.errors.ParserError) as error:
        raise InputError(path, f"cannot read it as a tab-separated {what} table ({error})") from error


def read_catalog(path: str | Path) -> pd.DataFrame:
    """The catalogue's z-scores: signatures x genes (float32), orientation taken from ``/data``'s shape."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as handle:
            missing = [name for name in CATALOG_DATASETS if name not in handle]
            if missing:
                raise InputError(path, f"HDF5 lacks the dataset(s) {', '.join(missing)} (needs colid, rowid, data)")
            signatures, genes = _names(handle["colid"][()]), _names(handle["rowid"][()])
            data = handle["data"][()]
    except OSError as error:
        raise InputError(path, f"cannot read it as HDF5 ({error})") from error
    shape = (len(signatures), len(genes))
    if data.ndim != 2 or sorted(data.shape) != sorted(shape):
        raise InputError(path, f"/data has shape {data.shape}, but /colid holds {shape[0]} and /rowid {shape[1]} names")
    if shape[0] == shape[1]:
        raise InputError(path, f"/data is {shape[0]} x {shape[1]}: signatures x genes or genes x signatures cannot be "
                               "told apart")  # fmt: skip
    check_landmarks(genes, path, None)
    values = data if data.shape == shape else data.T
    if not np.isfinite(values).all():
        raise InputError(path, f"{int((~np.isfinite(values)).sum())} z-scores are missing or not finite")
    index = pd.Index(signatures, name="sig_id")
    if index.duplicated().any():
        raise InputError(path, f"{int(index.duplicated().sum())} signature ids in /colid appear twice")
    return pd.DataFrame(values.astype(np.float32), index=index, columns=pd.Index(genes, name="gene"))


def _amount(table: pd.DataFrame, value: str, unit: str, combined: str, path: Path) -> tuple[pd.Series, pd.Series]:
    """(number, unit) of the dose or time: from its two columns where present, else parsed from ``combined``."""
    if value in table and unit in table:
        return pd.to_numeric(table[value], errors="coerce"), table[unit].str.strip().str.lower()
    if combined not in table:
        raise InputError(path, f"sig_info has neither {value} + {unit} nor {combined}")
    parts = table[combined].str.extract(r"^\s*(-?[0-9.]+)\s*(\S+)\s*$")
    return pd.to_numeric(parts[0], errors="coerce"), parts[1].str.lower()


def read_sig_info(path: str | Path) -> pd.DataFrame:
    """LINCS' signature metadata: ``pert_id, pert_type, cell_id, dose_um, time_h`` by ``sig_id``."""
    path = Path(path)
    table = _read_table(path, "sig_info")
    missing = [column for column in SIG_INFO_COLUMNS if column not in table]
    if missing:
        raise InputError(path, f"sig_info lacks the column(s) {', '.join(missing)}")
    if table["sig_id"].duplicated().any():
        raise InputError(path, f"{int(table['sig_id'].duplicated().sum())} sig_id values appear twice")
    dose, dose_unit = _amount(table, "pert_dose", "pert_dose_unit", "pert_idose", path)
    time, time_unit = _amount(table, "pert_time", "pert_time_unit", "pert_itime", path)
    in_um = dose_unit.isin(["um", "µm"]).fillna(False).to_numpy(dtype=bool)
    in_hours = time_unit.isin(["h"]).fillna(False).to_numpy(dtype=bool)
    return pd.DataFrame(
        {
            "pert_id": table["pert_id"].str.strip().to_numpy(),
            "pert_type": table["pert_type"].str.strip().to_numpy(),
            "cell_id": table["cell_id"].str.strip().to_numpy(),
            "dose_um": dose.where(in_um & (dose >= 0)).to_numpy(dtype=float),
            "time_h": time.where(in_hours & (time >= 0)).to_numpy(dtype=float),
        },
        index=pd.Index(table["sig_id"].str.strip(), name="sig_id"),
    )


def read_bayesian(catalog: str | Path, sig_info: str | Path, landmarks: Collection[str] | None = None) -> Signatures:
    """The catalogue's signatures with their metadata (rules in the module docstring)."""
    values = read_catalog(catalog)
    if landmarks is not None:
        check_landmarks(values.columns, catalog, landmarks)
    meta = read_sig_info(sig_info)
    absent = values.index.difference(meta.index)
    if len(absent):
        raise InputError(sig_info, f"has no row for {len(absent)} of the catalogue's {len(values)} signatures "
                                   f"(e.g. {', '.join(absent[:EXAMPLES])})")  # fmt: skip
    log.info("%s: %d signatures x %d landmark genes, metadata from %s", catalog, len(values), N_LANDMARKS, sig_info)
    return Signatures(values=values, meta=meta.loc[values.index])


def read_pert_info(path: str | Path) -> dict[str, str]:
    """pert_id -> SMILES of LINCS' compound table (compounds without a SMILES left out, counted in the log)."""
    path = Path(path)
    table = _read_table(path, "pert_info")
    missing = [column for column in ("pert_id", "canonical_smiles") if column not in table]
    if missing:
        raise InputError(path, f"pert_info lacks the column(s) {', '.join(missing)}")
    ids, smiles = table["pert_id"].str.strip(), table["canonical_smiles"].str.strip()
    known = ~smiles.isin(["", "-666"])
    if ids[known].duplicated().any():
        raise InputError(path, f"{int(ids[known].duplicated().sum())} pert_ids with a SMILES appear twice")
    log.info("%s: %d of %d perturbagens have a SMILES", path, int(known.sum()), len(table))
    return dict(zip(ids[known], smiles[known], strict=True))


def read_l1000_folder(folder: str | Path) -> tuple[Signatures, dict[str, str], Path]:
    """Signatures, pert_id -> SMILES and the signatures' file of a dataset folder of either L1000 file set."""
    from sclong.data.file_sets import FILE_SETS, folder_files

    folder = Path(folder)
    complete = [fmt for fmt in ("l1000", "l1000_bayesian")
                if all((folder / name).is_file() for name in FILE_SETS[fmt].values())]  # fmt: skip
    if len(complete) != 1:
        held = "both" if complete else "neither"
        raise InputError(folder, f"holds {held} of the L1000 file sets in full (l1000: "
                                 f"{', '.join(FILE_SETS['l1000'].values())}; l1000_bayesian: "
                                 f"{', '.join(FILE_SETS['l1000_bayesian'].values())})")  # fmt: skip
    files = folder_files(folder, complete[0])
    if complete[0] == "l1000":
        return l1000.read_gct(files["signatures"]), l1000.read_smiles(files["smiles"]), files["signatures"]
    signatures = read_bayesian(files["signatures"], files["signature_info"])
    return signatures, read_pert_info(files["compounds"]), files["signatures"]
