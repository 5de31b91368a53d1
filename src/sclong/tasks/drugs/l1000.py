"""The chemical-perturbation data: L1000 profiles (GCT via cmapPy, or DeepCE's signature CSVs), DeepCE's
filtering and replicate reduction, drug SMILES, and the drug-disjoint split.

* Readers give :class:`Signatures`: ``values`` (profiles x the 978 landmark genes, float32) and ``meta``
  (same index) with the columns ``pert_id, pert_type, cell_id, dose_um, time_h``.

  - :func:`read_gct`: GCT 1.2/1.3 (``.gct``, ``.gct.gz``) and GCTX by cmapPy's parsers (a ``.gct.gz`` is
    decompressed to a temporary file first: cmapPy reads plain files only). Genes are the row metadata's
    ``pr_gene_symbol`` where present (else the row ids); the sample metadata must hold ``pert_id,
    pert_type, cell_id, pert_dose, pert_dose_unit, pert_time, pert_time_unit`` (LINCS names). A dose is
    in uM only where its unit is ``um``/``µM`` (any case); other units give NaN (never one of the six).
  - :func:`read_deepce_signatures`: DeepCE's ``signature_{train,dev,test}.csv`` (``sig_id, pert_id,
    pert_type, cell_id, pert_idose``, then one column per gene); the dose is parsed from ``pert_idose``
    ("10.0 um"); the time is 24 h where the signature id contains ``24H`` (DeepCE's test), else NaN.
* Landmarks: the genes must be 978 unique names (and every ``pr_is_lmark`` 1 where the GCT has that
  column; and equal to ``landmarks`` where given), else one :class:`InputError` naming the file.
* :func:`deepce_filter` (DeepCE's ``read_data`` filter): ``pert_type == trt_cp``, the 7 cell lines, the
  6 doses (after rounding the uM dose to 2 decimals: 0.04, 0.12, 0.37, 1.11, 3.33, 10.0), 24 h, and not
  DeepCE's two excluded ids; what each condition removes is logged.
* :func:`reduce_replicates`: one profile per (drug, cell line, dose), DeepCE's ``choose_mean_example``
  rule: each replicate's values are ranked across the replicates gene by gene (0 = lowest), the ranks are
  averaged over genes, and the replicate whose mean rank is nearest the middle, (n - 1) / 2, is kept
  (ties: the first in input order). A real replicate is kept, not an average.
* :func:`attach_smiles`: profiles whose drug has no SMILES, or an invalid one, are dropped and reported.
* :func:`split_by_drug`: train / validation / test with no drug in two parts (DeepCE's published split
  is drug-disjoint, as its ``split_data_by_pert_id`` draws drugs). The paper's part sizes are profile
  counts, 3,965 / 544 / 496 (79.2 / 10.9 / 9.9 %): drugs are shuffled with the seed, then each drug goes,
  in turn, to the part furthest below its target share of the profiles assigned so far. DeepCE's own
  ``signature_*`` files carry their split; :func:`split_from_files` keeps it as given.
"""

from __future__ import annotations

import contextlib
import gzip
import logging
import shutil
import tempfile
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sclong.errors import InputError

log = logging.getLogger(__name__)

N_LANDMARKS = 978
CELL_LINES = ("A375", "HA1E", "HELA", "HT29", "MCF7", "PC3", "YAPC")
DOSES_UM = (0.04, 0.12, 0.37, 1.11, 3.33, 10.0)
TIME_H = 24.0
PERT_TYPE = "trt_cp"
EXCLUDED_PERT_IDS = ("BRD-U41416256", "BRD-U60236422")
PAPER_SPLIT = {"train": 3965, "validation": 544, "test": 496}
META_COLUMNS = ("pert_id", "pert_type", "cell_id", "dose_um", "time_h")
GCT_SAMPLE_COLUMNS = ("pert_id", "pert_type", "cell_id", "pert_dose", "pert_dose_unit", "pert_time", "pert_time_unit")
DEEPCE_COLUMNS = ("sig_id", "pert_id", "pert_type", "cell_id", "pert_idose")
Part = Literal["train", "validation", "test"]


@dataclass(frozen=True)
class Signatures:
    """L1000 profiles: ``values`` (profiles x landmark genes, float32) and ``meta`` (same index; META_COLUMNS)."""

    values: pd.DataFrame
    meta: pd.DataFrame

    def subset(self, keep: np.ndarray | pd.Series) -> Signatures:
        """The profiles where ``keep`` (a boolean mask in profile order) is true."""
        keep = np.asarray(keep, dtype=bool)
        return Signatures(values=self.values.loc[keep], meta=self.meta.loc[keep])


def check_landmarks(
    genes: Sequence[str], path: str | Path, landmarks: Collection[str] | None, flags: Sequence[int] | None = None
) -> None:
    """Refuse a gene list that is not the 978 L1000 landmark genes (one line naming ``path``)."""
    genes = pd.Index(genes)
    problems = []
    if len(genes) != N_LANDMARKS:
        problems.append(f"{len(genes)} genes, not the {N_LANDMARKS} L1000 landmark genes")
    duplicated = genes[genes.duplicated()].unique()
    if len(duplicated):
        problems.append(f"{len(duplicated)} duplicated gene names (e.g. {', '.join(map(str, duplicated[:3]))})")
    if flags is not None and (not_landmark := int((np.asarray(flags) != 1).sum())):
        problems.append(f"{not_landmark} rows with pr_is_lmark != 1 (not landmark genes)")
    if landmarks is not None and not problems and set(genes) != set(landmarks):
        missing, extra = sorted(set(landmarks) - set(genes)), sorted(set(genes) - set(landmarks))
        problems.append(
            f"genes differ from the landmark list: {len(missing)} missing (e.g. {', '.join(missing[:3])}), "
            f"{len(extra)} not landmarks (e.g. {', '.join(extra[:3])})"
        )
    if problems:
        raise InputError(path, "; ".join(problems))


@contextlib.contextmanager
def _plain_gct(path: Path):
    """``path`` itself, or a decompressed temporary copy of a ``.gct.gz``."""
    if path.suffix != ".gz":
        yield path
        return
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / path.with_suffix("").name
        with gzip.open(path, "rb") as source, open(plain, "wb") as target:
            shutil.copyfileobj(source, target)
        yield plain


def _parse_gct(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """cmapPy's parse of a GCT/GCTX: values (genes x samples), row and column metadata."""
    from cmapPy.pandasGEXpress import parse_gct, parse_gctx

    name = path.name.lower()
    if not name.endswith((".gct", ".gct.gz", ".gctx")):
        raise InputError(path, "not a GCT file (expected .gct, .gct.gz or .gctx)")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module="cmapPy")  # its to_numeric(errors=)
        try:
            if name.endswith(".gctx"):
                gct = parse_gctx.parse(str(path))
            else:
                with _plain_gct(path) as plain:
                    gct = parse_gct.parse(str(plain))
        except Exception as error:  # cmapPy raises bare Exception for malformed files
            raise InputError(path, f"cmapPy cannot parse it as GCT: {error}") from error
    return gct.data_df, gct.row_metadata_df, gct.col_metadata_df


def _dose_um(dose: pd.Series, unit: pd.Series) -> pd.Series:
    """Doses in uM (NaN where the unit is another or missing)."""
    in_um = unit.astype("string").str.strip().str.lower().isin(["um", "µm"]).fillna(False).to_numpy(dtype=bool)
    return pd.to_numeric(dose, errors="coerce").where(in_um)


def read_gct(path: str | Path, landmarks: Collection[str] | None = None) -> Signatures:
    """L1000 profiles of a GCT/GCTX file (rules in the module docstring)."""
    path = Path(path)
    data, rows, columns = _parse_gct(path)
    genes = rows["pr_gene_symbol"].astype(str).tolist() if "pr_gene_symbol" in rows else data.index.astype(str).tolist()
    flags = rows["pr_is_lmark"].tolist() if "pr_is_lmark" in rows else None
    check_landmarks(genes, path, landmarks, flags)
    missing = [c for c in GCT_SAMPLE_COLUMNS if c not in columns]
    if missing:
        raise InputError(path, f"sample metadata lacks {', '.join(missing)} (LINCS column names)")
    columns = columns.loc[data.columns]
    time_h = pd.to_numeric(columns["pert_time"], errors="coerce")
    hours = columns["pert_time_unit"].astype("string").str.strip().str.lower().isin(["h"]).fillna(False)
    meta = pd.DataFrame(
        {
            "pert_id": columns["pert_id"].astype(str),
            "pert_type": columns["pert_type"].astype(str),
            "cell_id": columns["cell_id"].astype(str),
            "dose_um": _dose_um(columns["pert_dose"], columns["pert_dose_unit"]),
            "time_h": time_h.astype(float).where(hours.to_numpy(dtype=bool)),
        },
        index=pd.Index(data.columns.astype(str), name="sig_id"),
    )
    values = pd.DataFrame(data.to_numpy(dtype=np.float32).T, index=meta.index, columns=pd.Index(genes, name="gene"))
    if not np.isfinite(values.to_numpy()).all():
        raise InputError(path, f"{int((~np.isfinite(values.to_numpy())).sum())} values are missing or not finite")
    log.info("%s: %d profiles x %d landmark genes", path, len(values), values.shape[1])
    return Signatures(values=values, meta=meta)


def read_deepce_signatures(path: str | Path, landmarks: Collection[str] | None = None) -> Signatures:
    """L1000 profiles of one of DeepCE's ``signature_*.csv`` files (rules in the module docstring)."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={c: str for c in DEEPCE_COLUMNS})
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise InputError(path, f"cannot read it as CSV: {error}") from error
    if tuple(table.columns[: len(DEEPCE_COLUMNS)]) != DEEPCE_COLUMNS:
        raise InputError(path, f"the first columns must be {', '.join(DEEPCE_COLUMNS)} (DeepCE's signature format)")
    genes = [str(c) for c in table.columns[len(DEEPCE_COLUMNS) :]]
    check_landmarks(genes, path, landmarks)
    if table["sig_id"].duplicated().any():
        raise InputError(path, f"{int(table['sig_id'].duplicated().sum())} duplicated sig_id values")
    dose = table["pert_idose"].str.extract(r"^\s*([0-9.]+)\s*(\S+)\s*$")
    values = table[table.columns[len(DEEPCE_COLUMNS) :]].apply(pd.to_numeric, errors="coerce")
    if values.isna().to_numpy().any():
        raise InputError(path, f"{int(values.isna().to_numpy().sum())} gene values are missing or not numbers")
    index = pd.Index(table["sig_id"], name="sig_id")
    meta = pd.DataFrame(
        {
            "pert_id": table["pert_id"].to_numpy(),
            "pert_type": table["pert_type"].to_numpy(),
            "cell_id": table["cell_id"].to_numpy(),
            "dose_um": _dose_um(dose[0], dose[1]).to_numpy(),
            "time_h": np.where(table["sig_id"].str.contains("24H", regex=False), TIME_H, np.nan),
        },
        index=index,
    )
    frame = pd.DataFrame(values.to_numpy(dtype=np.float32), index=index, columns=pd.Index(genes, name="gene"))
    log.info("%s: %d profiles x %d landmark genes", path, len(frame), frame.shape[1])
    return Signatures(values=frame, meta=meta)


def nominal_dose(dose_um: pd.Series) -> pd.Series:
    """The dose rounded to 2 decimals where that is one of DeepCE's six doses, else NaN."""
    rounded = dose_um.round(2)
    return rounded.where(rounded.isin(DOSES_UM))


def deepce_filter(signatures: Signatures, source: str | Path) -> Signatures:
    """DeepCE's selection (module docstring); the number each condition removes is logged."""
    meta = signatures.meta
    reasons = {  # reason for removal -> the profiles it spares
        f"not {PERT_TYPE}": meta["pert_type"] == PERT_TYPE,
        "another cell line": meta["cell_id"].isin(CELL_LINES),
        "another dose": nominal_dose(meta["dose_um"]).notna(),
        f"not {TIME_H:g} h": meta["time_h"] == TIME_H,
        "an excluded id": ~meta["pert_id"].isin(EXCLUDED_PERT_IDS),
    }
    keep = np.ones(len(meta), dtype=bool)
    removed = []
    for reason, spared in reasons.items():
        spared = spared.to_numpy(dtype=bool)
        removed.append(f"{int((keep & ~spared).sum())} {reason}")
        keep &= spared
    log.info("%s: DeepCE filter keeps %d of %d profiles (%s)", source, int(keep.sum()), len(meta), ", ".join(removed))
    kept = signatures.subset(keep)
    meta = kept.meta.assign(dose_um=nominal_dose(kept.meta["dose_um"]))
    return Signatures(values=kept.values, meta=meta)


def median_rank_replicate(values: np.ndarray) -> int:
    """DeepCE's ``choose_mean_example``: the replicate (row) whose mean per-gene rank is nearest (n - 1) / 2."""
    ranks = np.argsort(np.argsort(values, axis=0, kind="stable"), axis=0, kind="stable")
    distance = (ranks.mean(axis=1) - (len(values) - 1) / 2) ** 2
    return int(np.argmin(distance))


def reduce_replicates(signatures: Signatures, source: str | Path) -> Signatures:
    """One profile per (pert_id, cell_id, dose_um) by :func:`median_rank_replicate`; ``meta`` gains
    ``replicates`` (the group's size). Groups keep their first profile's order."""
    meta = signatures.meta
    groups = meta.groupby(["pert_id", "cell_id", "dose_um"], sort=False, dropna=False).indices
    values = signatures.values.to_numpy()
    chosen = [rows[median_rank_replicate(values[rows])] if len(rows) > 1 else rows[0] for rows in groups.values()]
    sizes = [len(rows) for rows in groups.values()]
    order = np.argsort(chosen, kind="stable")
    chosen, sizes = np.asarray(chosen)[order], np.asarray(sizes)[order]
    log.info("%s: %d profiles -> %d (drug, cell line, dose) profiles", source, len(meta), len(chosen))
    return Signatures(
        values=signatures.values.iloc[chosen], meta=meta.iloc[chosen].assign(replicates=sizes.astype(np.int64))
    )


def read_smiles(path: str | Path) -> dict[str, str]:
    """DeepCE's ``drugs_smiles.csv``: no header, ``pert_id,smiles`` per line."""
    path = Path(path)
    try:
        table = pd.read_csv(path, header=None, names=["pert_id", "smiles"], dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise InputError(path, f"cannot read it as a pert_id,smiles CSV: {error}") from error
    duplicated = table["pert_id"][table["pert_id"].duplicated()].unique()
    if len(duplicated):
        raise InputError(path, f"{len(duplicated)} pert_ids appear twice (e.g. {', '.join(duplicated[:3])})")
    return dict(zip(table["pert_id"].str.strip(), table["smiles"].str.strip(), strict=True))


def attach_smiles(
    signatures: Signatures, usable: Collection[str], smiles: Mapping[str, str], source: str
) -> Signatures:
    """Drop the profiles whose drug has no SMILES or one not in ``usable`` (featurised); report both."""
    drugs = signatures.meta["pert_id"]
    no_smiles = sorted(set(drugs) - set(smiles))
    invalid = sorted(set(drugs) & (set(smiles) - set(usable)))
    keep = drugs.isin(usable).to_numpy(dtype=bool)
    for what, names in (("no SMILES", no_smiles), ("an invalid SMILES", invalid)):
        if names:
            lost = int(drugs.isin(names).sum())
            log.warning("%s: %d drugs with %s, their %d profiles dropped: %s", source, len(names), what, lost, names)
    return signatures.subset(keep)


def split_by_drug(drugs: pd.Series, sizes: Mapping[Part, int], seed: int) -> pd.Series:
    """Drug-disjoint parts of the profiles (``drugs``: one pert_id per profile), sized in proportion to
    ``sizes`` (profile counts; the paper's :data:`PAPER_SPLIT`). Rule in the module docstring."""
    parts = list(sizes)
    shares = np.array([sizes[p] for p in parts], dtype=float) / sum(sizes.values())
    counts = drugs.value_counts(sort=False)
    order = np.random.default_rng(seed).permutation(np.sort(counts.index.to_numpy()))
    assigned, filled = {}, np.zeros(len(parts))
    for drug in order:
        total = filled.sum() + counts[drug]
        part = int(np.argmax(shares * total - filled))
        assigned[drug] = parts[part]
        filled[part] += counts[drug]
    return drugs.map(assigned).rename("part")


def split_from_files(files: Mapping[Part, Signatures]) -> tuple[Signatures, pd.Series]:
    """DeepCE's own split: the profiles of its train/dev/test files, concatenated, with their part."""
    drugs = {part: set(s.meta["pert_id"]) for part, s in files.items()}
    shared = {f"{a}/{b}": len(drugs[a] & drugs[b]) for a in drugs for b in drugs if a < b and drugs[a] & drugs[b]}
    if shared:
        log.warning("the split files share drugs (not drug-disjoint): %s", shared)
    values = pd.concat([s.values for s in files.values()])
    meta = pd.concat([s.meta for s in files.values()])
    part = pd.Series(np.repeat(list(files), [len(s.meta) for s in files.values()]), index=meta.index, name="part")
    return Signatures(values=values, meta=meta), part
