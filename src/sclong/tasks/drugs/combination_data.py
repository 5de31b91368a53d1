"""The drug-combination task's data: DeepDDS' files (branch ``master`` of ``Sinwang404/DeepDDS``), checked and matched.

Formats (read off the repository's ``data/`` folder):

* labels (``labels_0_10.csv``, O'Neil, the repository's ``data/new_labels_0_10.csv``;
  ``independent_set/independent_input.csv``, AstraZeneca): CSV with a header ``drug1,drug2,cell,label``;
  the drugs are SMILES, ``cell`` a cell-line id, ``label`` 0 or 1.
  Columns beyond these four are ignored; a label other than 0/1 (or empty) refuses the file.
* cell features (``new_cell_features_954.csv``, ``independent_set/independent_cell_features_954.csv``): CSV
  without a header line: row 1 ``gene_id`` then the Ensembl gene ids, row 2 ``transcript_id`` then one
  transcript id per gene (kept, not used), then one row per cell line: its id and one TPM value per gene.
  Values must be finite and non-negative; gene ids and cell ids unique.
* ``smiles.csv``: CSV ``name,smile`` (drug names, used to name drugs in reports).

Matching (DeepDDS' code finds a cell's features by substring, ``cell in row_id``, taking the first hit, so
``SW48`` can pick ``SW480``'s row; **here** ids match exactly). ``cell_ids="ccle_name"`` reads row ids of
the CCLE form ``NAME_TISSUE`` as ``NAME`` (the part before the first underscore; a row id without one, or
two rows with one name, refuses the file): an explicit reading for a features file keyed by CCLE names,
never applied unasked. A label row whose cell has no features, whose drug field is empty, or whose drug's
SMILES rdkit cannot parse is dropped; the drops are counted and named in one WARNING line; a screen with
no row left is refused.

Validation split (model selection; the test set never takes part): ``by="pairs"``: a label-stratified
random ``fraction`` of the rows (sklearn ``train_test_split`` with ``random_state=seed``); ``by="cells"``:
whole cell lines, ``round(fraction * n_cells)`` of them (at least 1) drawn by ``numpy.random.default_rng(seed)``,
the way the independent set holds new cell lines out. O'Neil's file repeats 185 (drug 1, drug 2, cell)
triples (26 of them with both labels): a pair-level split can put a twin of a training row into
validation; the cell-level split cannot.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sclong.errors import InputError

log = logging.getLogger(__name__)

LABEL_COLUMNS = ("drug1", "drug2", "cell", "label")
GENE_ROW, TRANSCRIPT_ROW = "gene_id", "transcript_id"
CellIds = Literal["exact", "ccle_name"]
SplitBy = Literal["pairs", "cells"]
MissingGenes = Literal["zero", "drop"]
NAMES_SHOWN = 8


def read_labels(path: str | Path) -> pd.DataFrame:
    """The label rows of a DeepDDS labels CSV: ``drug1``, ``drug2`` (SMILES), ``cell`` (str), ``label`` (int8)."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise InputError(path, f"not a readable CSV ({error})") from error
    missing = [column for column in LABEL_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(path, f"labels need the columns {', '.join(LABEL_COLUMNS)}; missing {', '.join(missing)}")
    if table.empty:
        raise InputError(path, "no label rows")
    bad = ~table["label"].isin(["0", "1"])
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        first = f"{table['label'].iloc[row]!r} in data row {row + 1}"
        raise InputError(path, f"{int(bad.sum())} labels are not 0 or 1 (first: {first})")
    labels = table.loc[:, list(LABEL_COLUMNS)].copy()
    labels["label"] = labels["label"].astype(np.int8)
    return labels


@dataclass(frozen=True)
class CellFeatures:
    """A DeepDDS cell-feature file: ``values`` cell lines x Ensembl gene ids (TPM, float32, file order)."""

    values: pd.DataFrame
    transcripts: pd.Series  # gene id -> the file's transcript id


def read_cell_features(path: str | Path, cell_ids: CellIds) -> CellFeatures:
    """Read a DeepDDS cell-feature CSV (two header rows, then one row per cell line; see the module docstring)."""
    try:
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise InputError(path, f"not a readable CSV ({error})") from error
    if len(raw) < 3 or raw.iat[0, 0] != GENE_ROW or raw.iat[1, 0] != TRANSCRIPT_ROW:
        raise InputError(path, f"expected a '{GENE_ROW}' row, a '{TRANSCRIPT_ROW}' row, then one row per cell line")
    genes = pd.Index(raw.iloc[0, 1:], name="gene_id")
    if (genes == "").any() or genes.duplicated().any():
        raise InputError(path, f"gene ids must be unique and non-empty ({int(genes.duplicated().sum())} repeated)")
    cells = _cell_index(raw.iloc[2:, 0].tolist(), cell_ids, path)
    try:
        values = raw.iloc[2:, 1:].to_numpy().astype(np.float64)
    except ValueError as error:
        raise InputError(path, f"cell-line values must be numbers ({error})") from error
    if not np.isfinite(values).all() or (values < 0).any():
        raise InputError(path, "cell-line values must be finite, non-negative TPM")
    table = pd.DataFrame(values.astype(np.float32), index=cells, columns=genes)
    transcripts = pd.Series(raw.iloc[1, 1:].to_numpy(), index=genes, name=TRANSCRIPT_ROW)
    log.info("%s: %d cell lines x %d genes", path, *table.shape)
    return CellFeatures(values=table, transcripts=transcripts)


def _cell_index(row_ids: list[str], cell_ids: CellIds, path: str | Path) -> pd.Index:
    """The cell-line ids of the feature rows, read as ``cell_ids`` says; repeated ids refuse the file."""
    if cell_ids == "ccle_name":
        plain = [row for row in row_ids if "_" not in row.strip("_")]
        if plain:
            raise InputError(path, f"row id {plain[0]!r} is not a CCLE name NAME_TISSUE (cell_ids='ccle_name')")
        names = [row.split("_", 1)[0] for row in row_ids]
    else:
        names = row_ids
    index = pd.Index(names, name="cell")
    repeated = index[index.duplicated()].unique().tolist()
    if "" in names or repeated:
        shown = ", ".join(repeated[:NAMES_SHOWN])
        raise InputError(path, f"cell-line ids must be unique and non-empty (repeated: {shown})")
    return index


def read_smiles(path: str | Path) -> pd.Series:
    """DeepDDS' ``smiles.csv``: drug name -> SMILES."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as error:
        raise InputError(path, f"not a readable CSV ({error})") from error
    if list(table.columns[:2]) != ["name", "smile"]:
        raise InputError(path, "expected the columns name, smile")
    if table["name"].duplicated().any() or (table == "").any().any():
        raise InputError(path, "drug names must be unique and every drug needs a SMILES")
    return pd.Series(table["smile"].to_numpy(), index=pd.Index(table["name"], name="name"), name="smile")


@dataclass(frozen=True)
class Screen:
    """The usable part of one labels file: its rows, their cell lines' features and the drugs they name."""

    pairs: pd.DataFrame  # drug1, drug2, cell, label; index = data row number in the labels file (0-based)
    cells: pd.DataFrame  # features of the screen's cell lines (sorted) x genes
    drugs: list[str]  # the SMILES the kept rows use (sorted)
    dropped: pd.DataFrame  # the dropped rows with a column ``reason``


def match_screen(
    labels: pd.DataFrame,
    features: CellFeatures,
    invalid_smiles: Mapping[str, str],
    source: str,
    names: Mapping[str, str],
) -> Screen:
    """Keep the label rows whose cell has features and whose drugs have parseable SMILES (exact matching).

    ``invalid_smiles`` holds the SMILES rdkit could not parse (the ``invalid`` of
    :func:`sclong.tasks.drugs.molecules.featurize`, keyed by SMILES); ``names`` maps SMILES to drug names
    for the report (``smiles.csv`` inverted; others are shown as SMILES).
    """
    no_cell = ~labels["cell"].isin(features.values.index)
    empty = (labels["drug1"] == "") | (labels["drug2"] == "")
    unparsed = labels["drug1"].isin(invalid_smiles) | labels["drug2"].isin(invalid_smiles)
    reasons = ["cell without features", "drug without SMILES", "unparseable SMILES"]
    reason = np.select([no_cell, empty, unparsed], reasons, "")
    keep = reason == ""
    dropped = labels.loc[~keep].assign(reason=reason[~keep])
    if not keep.any():
        hint = _ccle_hint(labels["cell"], features.values.index) if no_cell.all() else ""
        raise InputError(source, f"no label row is usable ({_drop_summary(dropped, invalid_smiles, names)}){hint}")
    pairs = labels.loc[keep]
    if len(dropped):
        summary = _drop_summary(dropped, invalid_smiles, names)
        log.warning("%s: dropped %d of %d label rows: %s", source, len(dropped), len(labels), summary)
    else:
        log.info("%s: all %d label rows usable", source, len(labels))
    cells = features.values.loc[sorted(pairs["cell"].unique())]
    drugs = sorted(set(pairs["drug1"]) | set(pairs["drug2"]))
    return Screen(pairs=pairs, cells=cells, drugs=drugs, dropped=dropped)


def _drop_summary(dropped: pd.DataFrame, invalid: Mapping[str, str], names: Mapping[str, str]) -> str:
    """``12 cell without features (cells: A, B), 3 unparseable SMILES (drugs: X)`` for the report line."""
    parts = []
    for reason, rows in dropped.groupby("reason", sort=True):
        if reason == "cell without features":
            kind, shown = "cells", sorted(rows["cell"].unique())
        elif reason == "drug without SMILES":
            kind, shown = "data rows", [str(row + 1) for row in rows.index]
        else:
            used = set(rows["drug1"]) | set(rows["drug2"])
            kind, shown = "drugs", sorted(names.get(s, s) for s in used if s in invalid)
        listed = ", ".join(shown[:NAMES_SHOWN]) + (", ..." if len(shown) > NAMES_SHOWN else "")
        parts.append(f"{len(rows)} {reason} ({kind}: {listed})")
    return "; ".join(parts)


def _ccle_hint(cells: pd.Series, row_ids: pd.Index) -> str:
    """A hint when the feature rows look like CCLE names of the label cells (``J82`` vs ``J82_URINARY_TRACT``)."""
    prefixes = {row.split("_", 1)[0] for row in row_ids if "_" in row}
    if prefixes & set(cells):
        return "; the feature rows look like CCLE names (NAME_TISSUE): read them with cell_ids='ccle_name'"
    return ""


def validation_split(pairs: pd.DataFrame, fraction: float, seed: int, by: SplitBy) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (train, validation) of ``pairs`` for model selection (rule in the module docstring)."""
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    positions = np.arange(len(pairs))
    if by == "pairs":
        train, validation = train_test_split(positions, test_size=fraction, random_state=seed, stratify=pairs["label"])
        return np.sort(train), np.sort(validation)
    cells = np.array(sorted(pairs["cell"].unique()))
    if len(cells) < 2:
        raise ValueError("a validation split by cell lines needs at least two cell lines")
    n_validation = min(max(1, round(fraction * len(cells))), len(cells) - 1)
    held = np.random.default_rng(seed).choice(cells, size=n_validation, replace=False)
    in_validation = pairs["cell"].isin(held).to_numpy()
    return positions[~in_validation], positions[in_validation]


def auroc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (sklearn ``roc_auc_score``); ``None`` when ``labels`` hold one class only."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        return None
    return float(roc_auc_score(labels, np.asarray(scores, dtype=np.float64)))


def cell_inputs(values: pd.DataFrame, genes: pd.Index, missing: MissingGenes) -> pd.DataFrame:
    """Cell lines x ``genes`` inputs from per-gene values covering some of them (scLong values drop genes
    absent from its vocabulary): ``zero`` puts 0 for an absent gene, keeping the file's genes and order (the
    paper's 954 inputs, as scLong's public code fills them); ``drop`` keeps only the covered genes."""
    unknown = values.columns.difference(genes)
    if len(unknown):
        raise ValueError(f"{len(unknown)} value columns are not genes of the features file (first: {unknown[0]})")
    covered = genes[genes.isin(values.columns)]
    log.info("cell inputs: %d of %d genes have values; %s", len(covered), len(genes),
             "absent genes set to 0" if missing == "zero" else "absent genes left out")  # fmt: skip
    if missing == "zero":
        return values.reindex(columns=genes, fill_value=0.0).astype(np.float32)
    return values.loc[:, covered].astype(np.float32)
