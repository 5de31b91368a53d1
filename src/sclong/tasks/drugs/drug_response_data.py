"""The drug-response task's data (DeepCDR's files): readers, the pairs table, the split and the metric.

Files (DeepCDR's ``data`` folder; formats read off its repository):

* GDSC ln(IC50), ``GDSC_IC50.csv``: CSV, header = an empty first name then DepMap ids (``ACH-...``); one
  row per drug named ``GDSC:<drug id>``; ``NA`` where a pair was not measured.
* Drug list, ``GDSC/1.Drug_list....csv``: CSV with header ``drug_id, Name, Synonyms, Targets,
  Target pathway, PubCHEM, Sample Size, Count``; as DeepCDR does, a drug id has a PubChem CID when its
  ``PubCHEM`` field is all digits (``none``, ``several`` and lists of CIDs give none).
* SMILES, ``223drugs_pubchem_smiles.txt``: tab-separated, no header: PubChem CID, SMILES.
* Annotations, ``CCLE/Cell_lines_annotations_20181226.txt``: tab-separated with header; ``depMapID`` and
  the TCGA type ``tcga_code`` (``NA`` or empty: none) are used.
* Expression, ``CCLE/genomic_expression_561celllines_697genes_demap_features.csv``: CSV with header, first
  column the DepMap id, one column per gene (symbols; DepMap's ``SYMBOL (ENTREZ)`` names are reduced to the
  symbol), values ``log2(TPM + 1)`` as DepMap's CCLE expression (kind ``log`` of
  :mod:`sclong.tasks.drugs.cell_lines`).

Pairs (:func:`build_pairs`, DeepCDR's rule): every measured (drug, cell line) of the IC50 table whose drug
has a CID with a SMILES and whose cell line has expression and an annotation. Unmeasured pairs are not
pairs. Measured pairs dropped because the drug has no CID, the CID no SMILES, the cell line no expression
or no annotation are counted, one WARNING line per reason naming examples (:attr:`Pairs.dropped`). An
IC50 table none of whose drugs, or none of whose cell lines, is usable is refused.

Split (:func:`split_pairs`): DeepCDR's, within each of its 25 TCGA types (:data:`TCGA_TYPES`; pairs of
other or no types are in neither part, as in DeepCDR, and counted): a seeded shuffle, the first
``int((1 - test_fraction) * n)`` pairs train, the rest test. Validation (DeepCDR stops on its test set; this
workflow does not): the last ``round(validation_fraction * n_train)`` of each type's training pairs. The
test pairs are for the one final evaluation only.

Metric: Pearson's r between predicted and measured ln(IC50) over the test pairs (:func:`pearson`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.errors import InputError

log = logging.getLogger(__name__)

TCGA_TYPES = (
    "ALL", "BLCA", "BRCA", "CESC", "DLBC", "LIHC", "LUAD", "ESCA", "GBM", "HNSC", "KIRC", "LAML", "LCML", "LGG",
    "LUSC", "MESO", "MM", "NB", "OV", "PAAD", "SCLC", "SKCM", "STAD", "THCA", "COAD/READ",
)  # fmt: skip
DRUG_PREFIX = "GDSC:"
PAIR_COLUMNS = ("drug_id", "pubchem_cid", "cell_line", "ln_ic50", "cancer_type")
DROP_REASONS = {
    "no_cid": "drug without a PubChem CID in the drug list",
    "no_smiles": "drug whose CID has no SMILES",
    "no_expression": "cell line without expression",
    "no_annotation": "cell line without an annotation",
}
ENTREZ_SUFFIX = re.compile(r"^(\S+) \(\d+\)$")
EXAMPLES = 5


def _read_csv(path: Path, what: str, **options: object) -> pd.DataFrame:
    """``pd.read_csv`` with unreadable files as :class:`InputError`."""
    if not Path(path).is_file():
        raise InputError(path, f"{what} not found")
    try:
        return pd.read_csv(path, **options)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(path, f"cannot read it as {what} ({type(err).__name__}: {err})") from None


def _read_matrix(path: Path, what: str) -> pd.DataFrame:
    """A CSV with a header row and row names in its first column, the header's names as written (pandas
    would rename repeated ones)."""
    header = _read_csv(path, what, header=None, nrows=1, dtype=str, keep_default_na=False)
    frame = _read_csv(path, what, header=None, skiprows=1, index_col=0)
    if frame.shape[1] != header.shape[1] - 1:
        raise InputError(path, f"the header names {header.shape[1] - 1} columns, the rows hold {frame.shape[1]}")
    frame.columns = pd.Index(header.iloc[0, 1:].astype(str).to_numpy())
    frame.index = frame.index.astype(str)
    return frame


def _unique(labels: pd.Index, what: str, path: Path) -> None:
    """Refuse repeated labels (which row is meant is unclear)."""
    repeated = labels[labels.duplicated()].unique()
    if len(repeated):
        raise InputError(
            path, f"{len(repeated)} {what} appear more than once, e.g. {', '.join(map(str, repeated[:EXAMPLES]))}"
        )


def read_ic50(path: Path) -> pd.DataFrame:
    """GDSC ln(IC50): drug ids (``GDSC:`` removed) x DepMap ids, float, NaN where not measured."""
    frame = _read_matrix(path, "a GDSC ln(IC50) table")
    names = frame.index
    wrong = [name for name in names if not name.startswith(DRUG_PREFIX)]
    if wrong:
        raise InputError(path, f"{len(wrong)} row name(s) do not start with {DRUG_PREFIX!r}, e.g. {wrong[:EXAMPLES]}")
    frame.index = pd.Index([name[len(DRUG_PREFIX) :] for name in names], name="drug_id")
    _unique(frame.index, "drug ids", path)
    _unique(frame.columns, "cell lines", path)
    bad = [column for column, kind in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(kind)]
    if bad:
        raise InputError(path, f"{len(bad)} column(s) hold non-numeric values, e.g. {bad[:EXAMPLES]}")
    return frame.astype(np.float64)


def read_drug_list(path: Path) -> pd.Series:
    """GDSC drug id -> PubChem CID (strings) of the drugs with one all-digit CID (DeepCDR's rule)."""
    frame = _read_csv(path, "a GDSC drug list", dtype=str, keep_default_na=False)
    missing = {"drug_id", "PubCHEM"} - set(frame.columns)
    if missing:
        raise InputError(path, f"no column(s) {sorted(missing)} (columns: {', '.join(frame.columns)})")
    frame["drug_id"] = frame["drug_id"].str.strip()
    cid = frame["PubCHEM"].str.strip()
    kept = frame.loc[cid.str.fullmatch(r"\d+"), "drug_id"]
    mapping = pd.Series(cid[kept.index].to_numpy(), index=pd.Index(kept.to_numpy(), name="drug_id"), name="pubchem_cid")
    _unique(mapping.index, "drug ids", path)
    log.info("%s: %d of %d drugs have one PubChem CID", path, len(mapping), len(frame))
    return mapping


def read_smiles(path: Path) -> pd.Series:
    """PubChem CID -> SMILES (tab-separated, no header)."""
    frame = _read_csv(path, "a CID/SMILES table", sep="\t", header=None, dtype=str, keep_default_na=False)
    if frame.shape[1] != 2:
        raise InputError(path, f"expected 2 tab-separated columns (PubChem CID, SMILES), found {frame.shape[1]}")
    cids, smiles = frame[0].str.strip(), frame[1].str.strip()
    bad = cids[~cids.str.fullmatch(r"\d+")]
    if len(bad):
        raise InputError(path, f"{len(bad)} CID(s) are not numbers, e.g. {bad.head(EXAMPLES).tolist()}")
    empty = cids[smiles == ""]
    if len(empty):
        raise InputError(path, f"{len(empty)} CID(s) have an empty SMILES, e.g. {empty.head(EXAMPLES).tolist()}")
    series = pd.Series(smiles.to_numpy(), index=pd.Index(cids.to_numpy(), name="pubchem_cid"), name="smiles")
    _unique(series.index, "CIDs", path)
    return series


def read_annotations(path: Path) -> pd.Series:
    """DepMap id -> TCGA type (``tcga_code``, stripped; missing where ``NA`` or empty); rows without a DepMap
    id are skipped (counted in the log)."""
    frame = _read_csv(path, "a CCLE annotation table", sep="\t", dtype=str, keep_default_na=False)
    missing = {"depMapID", "tcga_code"} - set(frame.columns)
    if missing:
        raise InputError(path, f"no column(s) {sorted(missing)} (columns: {', '.join(frame.columns[:8])}, ...)")
    ids = frame["depMapID"].str.strip()
    without = frame.loc[ids.isin(["", "NA"]), frame.columns[0]].tolist()
    if without:
        log.info(
            "%s: %d cell line(s) without a DepMap id skipped (%s)", path, len(without), ", ".join(without[:EXAMPLES])
        )
    frame, ids = frame[~ids.isin(["", "NA"])], ids[~ids.isin(["", "NA"])]
    types = frame["tcga_code"].str.strip().replace({"NA": ""})
    series = pd.Series(types.replace("", np.nan).to_numpy(), index=pd.Index(ids.to_numpy(), name="cell_line"),
                       name="cancer_type")  # fmt: skip
    _unique(series.index, "DepMap ids", path)
    return series


def read_expression(path: Path) -> pd.DataFrame:
    """CCLE expression: DepMap ids x genes (``SYMBOL (ENTREZ)`` names reduced to the symbol), float."""
    frame = _read_matrix(path, "a CCLE expression table")
    names = [str(column) for column in frame.columns]
    matched = [ENTREZ_SUFFIX.match(name) for name in names]
    if all(matched):
        names = [match.group(1) for match in matched if match]
    frame.columns = pd.Index(names, name="gene")
    _unique(frame.index, "cell lines", path)
    _unique(frame.columns, "genes", path)
    bad = [column for column, kind in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(kind)]
    if bad:
        raise InputError(path, f"{len(bad)} gene column(s) hold non-numeric values, e.g. {bad[:EXAMPLES]}")
    if frame.isna().to_numpy().any():
        raise InputError(path, f"{int(frame.isna().to_numpy().sum())} expression value(s) are missing")
    return frame.astype(np.float64)


@dataclass(frozen=True)
class Pairs:
    """The pairs table (columns :data:`PAIR_COLUMNS`; a drug is its CID in the molecule keys) and the
    measured pairs dropped per reason of :data:`DROP_REASONS` (``reason``, ``pairs``, ``names``, ``examples``)."""

    table: pd.DataFrame
    dropped: pd.DataFrame


def build_pairs(
    ic50: pd.DataFrame,
    drug_cids: pd.Series,
    smiles: pd.Series,
    cancer_types: pd.Series,
    expression_lines: pd.Index,
    source: str,
) -> Pairs:
    """The measured pairs of ``ic50`` usable by the rule of the module doc; ``source`` names the IC50 file."""
    long = ic50.stack(future_stack=True).dropna()
    long.index = long.index.set_names(["drug_id", "cell_line"])
    drugs = long.index.get_level_values("drug_id")
    lines = long.index.get_level_values("cell_line")
    cid = pd.Series(drugs).map(drug_cids).to_numpy()
    has_cid = pd.notna(cid)
    has_smiles = has_cid & pd.Series(cid).isin(smiles.index).to_numpy()
    has_expression = lines.isin(expression_lines)
    has_annotation = lines.isin(cancer_types.index)
    checks = {"no_cid": (has_cid, drugs), "no_smiles": (has_smiles, drugs),
              "no_expression": (has_expression, lines), "no_annotation": (has_annotation, lines)}  # fmt: skip
    usable_drugs = set(drugs[has_smiles])
    usable_lines = set(lines[has_expression & has_annotation])
    if not usable_lines:
        raise InputError(source, f"none of its {ic50.shape[1]:,} cell-line ids has expression and an annotation "
                                 f"(ids start {', '.join(ic50.columns[:3])}; expression ids start "
                                 f"{', '.join(map(str, expression_lines[:3]))})")  # fmt: skip
    if not usable_drugs:
        raise InputError(source, f"none of its {ic50.shape[0]:,} drug ids has a PubChem CID with a SMILES "
                                 f"(ids start {', '.join(ic50.index[:3])})")  # fmt: skip
    rows, keep = [], np.ones(len(long), dtype=bool)
    for reason, (ok, labels) in checks.items():
        lost = keep & ~ok
        names = sorted(set(labels[lost]))
        rows.append((reason, int(lost.sum()), len(names), ", ".join(names[:EXAMPLES])))
        if lost.any():
            log.warning("%s: %d measured pair(s) dropped: %s (%d: %s%s)", source, lost.sum(), DROP_REASONS[reason],
                        len(names), ", ".join(names[:EXAMPLES]), ", ..." if len(names) > EXAMPLES else "")  # fmt: skip
        keep &= ok
    table = pd.DataFrame({
        "drug_id": drugs[keep], "pubchem_cid": cid[keep], "cell_line": lines[keep],
        "ln_ic50": long.to_numpy()[keep], "cancer_type": cancer_types.reindex(lines[keep]).to_numpy(),
    })  # fmt: skip
    log.info("%s: %d pairs of %d drugs (%d CIDs) and %d cell lines", source, len(table), table["drug_id"].nunique(),
             table["pubchem_cid"].nunique(), table["cell_line"].nunique())  # fmt: skip
    return Pairs(table, pd.DataFrame(rows, columns=["reason", "pairs", "names", "examples"]))


@dataclass(frozen=True)
class Split:
    """Row positions of the pairs table: ``train``, ``validation`` (carved from DeepCDR's training part),
    ``test`` (used once); ``excluded``: pairs of cancer types outside :data:`TCGA_TYPES`."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    excluded: int


def split_pairs(pairs: pd.DataFrame, seed: int, test_fraction: float, validation_fraction: float) -> Split:
    """The seeded split of the module doc, type by type in :data:`TCGA_TYPES` order."""
    for name, value in (("test_fraction", test_fraction), ("validation_fraction", validation_fraction)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    rng = np.random.default_rng(seed)
    types = pairs["cancer_type"].to_numpy()
    train, validation, test = [], [], []
    for cancer in TCGA_TYPES:
        rows = rng.permutation(np.flatnonzero(types == cancer))
        n_train = int((1 - test_fraction) * len(rows))
        n_val = int(round(validation_fraction * n_train))
        train.append(rows[: n_train - n_val])
        validation.append(rows[n_train - n_val : n_train])
        test.append(rows[n_train:])
    excluded = int((~pd.Series(types).isin(TCGA_TYPES)).sum())
    if excluded:
        others = sorted({"none" if pd.isna(t) else str(t) for t in types if t not in TCGA_TYPES})
        log.info("%d pairs of cell lines without one of DeepCDR's 25 TCGA types are in no split part (%s)",
                 excluded, ", ".join(others[:10]))  # fmt: skip
    parts = [np.sort(np.concatenate(part)).astype(np.int64) for part in (train, validation, test)]
    return Split(*parts, excluded)


def pearson(measured: np.ndarray, predicted: np.ndarray) -> float | None:
    """Pearson's r of two equal-length vectors; ``None`` when either is constant or has fewer than 2 values."""
    x = np.asarray(measured, dtype=np.float64)
    y = np.asarray(predicted, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"measured {x.shape} and predicted {y.shape} differ in shape")
    if len(x) < 2:
        return None
    dx, dy = x - x.mean(), y - y.mean()
    scale = np.sqrt((dx**2).sum() * (dy**2).sum())
    return float((dx * dy).sum() / scale) if scale > 0 else None
