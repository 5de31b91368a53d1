"""Read GO annotations from a GAF 2.1 file and map its genes to Ensembl IDs.

A *GAF gene* is one database object, the pair (column 1 DB, column 2 DB object ID), e.g.
``UniProtKB:P00395`` or ``NCBIGene:4512``; its symbol (column 3) and synonyms (column 11, ``|``-separated)
are those of its first kept line. Symbols alone are not enough: a current NCBI-based GAF calls MT-CO1
``COX1``, which is also an alias of PTGS1.

Lines starting with ``!`` are comments; every other non-blank line is a data line. A data line is
*malformed* (skipped and counted) when it has fewer than 15 tab-separated columns, no DB, DB object ID
or symbol (columns 1-3), a GO ID (column 5) that is not ``GO:`` + 7 digits, or an aspect (column 9) other
than P, F or C. A file with more malformed lines than
``max_malformed_fraction`` of its data lines (config ``go_annotations.max_malformed_fraction``) is an
error; fewer give a WARNING with their count. Lines whose qualifier (column 4) contains ``NOT`` are
negative annotations: skipped and counted.

Mapping (:func:`map_gaf_genes`), per GAF gene, the first rule that matches wins:

1. its DB object ID: ``NCBIGene`` IDs through the gene table's ``entrez`` column, ``UniProtKB``
   accessions through its optional ``uniprot_ids`` column (``how='db_id'`` and ``level`` the column;
   with several genes ``how='ambiguous'``, resolved by the preference order of
   :mod:`sclong.knowledge.genes`);
2. its symbol, with :func:`sclong.knowledge.genes.map_symbols`;
3. its synonyms, in order: the first one that maps.

GAF genes with different symbols that still land on one Ensembl gene get their annotations merged:
:func:`gaf_collisions` lists them and :func:`map_gaf_genes` logs a WARNING. Several database objects with
one symbol (UniProt entries of one gene's proteins) landing on one gene are expected and only counted.
"""

from __future__ import annotations

import argparse
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.errors import ConfigError, InputError
from sclong.knowledge.files import open_text
from sclong.knowledge.genes import GeneTable, map_symbols
from sclong.settings import from_mapping, parse_settings

log = logging.getLogger(__name__)

MIN_COLUMNS = 15
GO_ID = re.compile(r"^GO:\d{7}$")
ASPECTS = frozenset("PFC")
DB_ID_COLUMNS = {"NCBIGene": "entrez", "UniProtKB": "uniprot_ids"}
MAPPING_COLUMNS = ("ensembl_id", "how", "level", "candidates", "via")


@dataclass(frozen=True)
class GafSettings:
    """The ``go_annotations`` config section."""

    max_malformed_fraction: float

    def __post_init__(self) -> None:
        if not 0 <= self.max_malformed_fraction <= 1:
            raise ConfigError("go_annotations.max_malformed_fraction", "must be in [0, 1]")


def add_gaf_settings_argument(parser: argparse.ArgumentParser) -> None:
    """Add the required ``--gaf-settings`` option: the config section ``go_annotations`` as inline JSON."""
    parser.add_argument("--gaf-settings", required=True, metavar="JSON",
                        help="the config section 'go_annotations' as one JSON object")  # fmt: skip


def parse_gaf_settings(text: str) -> GafSettings:
    """The :class:`GafSettings` of a ``--gaf-settings`` value."""
    return from_mapping(GafSettings, parse_settings(text, "go_annotations"), "go_annotations")


@dataclass(frozen=True)
class GafAnnotations:
    """The positive annotations of a GAF file.

    ``genes`` has one row per GAF gene with columns ``db``, ``db_id``, ``symbol`` and ``synonyms`` (a
    list, without the symbol itself); ``frame`` has one row per kept line with columns ``gene`` (row
    number in ``genes``), ``go_id`` (categorical) and ``aspect`` (P/F/C).
    """

    path: str
    genes: pd.DataFrame
    frame: pd.DataFrame
    n_lines: int
    n_malformed: int
    n_negated: int


def read_gaf(path: str | Path, max_malformed_fraction: float) -> GafAnnotations:
    """Parse a GAF file, skipping (and counting) malformed lines and ``NOT`` annotations."""
    gene_of: dict[tuple[str, str], int] = {}
    genes: list[tuple[str, str, str, list[str]]] = []
    term_of: dict[str, int] = {}
    line_genes: list[int] = []
    line_terms: list[int] = []
    aspects: list[str] = []
    valid_go: dict[str, bool] = {"": False}
    n_lines = n_malformed = n_negated = 0
    try:
        with open_text(path) as handle:
            for line in handle:
                if line.startswith("!") or not line.strip():
                    continue
                n_lines += 1
                # columns 1-11 and the rest, which must hold columns 12-15 at least
                fields = line.split("\t", 11)
                go_id = fields[4] if len(fields) == 12 and fields[11].count("\t") >= MIN_COLUMNS - 12 else ""
                valid = valid_go.get(go_id)
                if valid is None:
                    valid = valid_go[go_id] = GO_ID.match(go_id) is not None
                if not valid or not fields[0] or not fields[1] or not fields[2] or fields[8] not in ASPECTS:
                    n_malformed += 1
                    continue
                if "NOT" in fields[3].split("|"):
                    n_negated += 1
                    continue
                key = (fields[0], fields[1])
                gene = gene_of.get(key)
                if gene is None:
                    gene = gene_of[key] = len(genes)
                    genes.append((*key, fields[2], [s for s in fields[10].split("|") if s and s != fields[2]]))
                line_genes.append(gene)
                line_terms.append(term_of.setdefault(go_id, len(term_of)))
                aspects.append(fields[8])
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read GAF file ({err})") from err
    if not n_lines:
        raise InputError(path, "no GAF data lines")
    _check_malformed(path, n_lines, n_malformed, max_malformed_fraction)
    gene_frame = pd.DataFrame(genes, columns=["db", "db_id", "symbol", "synonyms"])
    go_id = pd.Categorical.from_codes(np.array(line_terms, dtype=np.int64), categories=list(term_of))
    frame = pd.DataFrame({"gene": np.array(line_genes, dtype=np.int64), "go_id": go_id, "aspect": aspects})
    log.info(
        "%s: %d annotation lines, %d malformed skipped, %d NOT skipped, %d kept for %d GAF genes (%d symbols)",
        path, n_lines, n_malformed, n_negated, len(frame), len(genes), gene_frame["symbol"].nunique(),
    )  # fmt: skip
    return GafAnnotations(str(path), gene_frame, frame, n_lines, n_malformed, n_negated)


def _check_malformed(path: str | Path, n_lines: int, n_malformed: int, max_fraction: float) -> None:
    """Refuse a file with too many malformed lines; warn about fewer."""
    if n_malformed == n_lines:
        raise InputError(path, f"none of its {n_lines} data lines is a valid GAF 2.1 annotation")
    fraction = n_malformed / n_lines
    if fraction > max_fraction:
        raise InputError(
            path,
            f"{n_malformed} of its {n_lines} data lines ({fraction:.2%}) are not valid GAF 2.1 annotations, "
            f"more than go_annotations.max_malformed_fraction ({max_fraction:g})",
        )
    if n_malformed:
        log.warning("%s: %d of %d data lines (%.2f%%) are not valid GAF 2.1 annotations and were skipped",
                    path, n_malformed, n_lines, 100 * fraction)  # fmt: skip


def map_gaf_genes(annotations: GafAnnotations, table: GeneTable) -> pd.DataFrame:
    """Map every GAF gene to an Ensembl ID (rules in the module docstring).

    Returns one row per row of ``annotations.genes``: ``gaf_id`` (``DB:ID``), then the columns of
    :func:`map_symbols` (``query`` is the GAF symbol) and ``via``: the DB ID, symbol or synonym that
    produced the match (``''`` when unmapped).
    """
    genes = annotations.genes
    result = map_symbols(genes["symbol"], table)
    result.insert(0, "gaf_id", (genes["db"] + ":" + genes["db_id"]).to_numpy())
    result["via"] = result["query"].where(result["how"] != "unmapped", "")
    unmapped = result.index[result["how"] == "unmapped"]
    pairs = [(row, synonym) for row in unmapped for synonym in genes.at[row, "synonyms"]]
    if pairs:
        rows, synonyms = zip(*pairs, strict=True)
        rescued = map_symbols(synonyms, table).assign(row=rows)
        rescued = rescued[rescued["how"] != "unmapped"].drop_duplicates("row")  # first synonym that maps
        result.loc[rescued["row"], list(MAPPING_COLUMNS)] = rescued[[*MAPPING_COLUMNS[:-1], "query"]].to_numpy()
    by_id = [
        (row, [candidates[0], "db_id" if len(candidates) == 1 else "ambiguous", column, ", ".join(candidates), gaf_id])
        for row, (db, db_id, gaf_id) in enumerate(zip(genes["db"], genes["db_id"], result["gaf_id"], strict=True))
        if (column := DB_ID_COLUMNS.get(db)) and (candidates := table.lookup[column].get(db_id.strip().upper()))
    ]
    if by_id:
        rows, values = zip(*by_id, strict=True)
        result.loc[list(rows), list(MAPPING_COLUMNS)] = np.array(values, dtype=object)
    collisions = gaf_collisions(result)
    shared = result.dropna(subset=["ensembl_id"])["ensembl_id"].duplicated(keep=False).sum()
    log.info("%d of %d GAF genes mapped (%d by database ID); %d share an Ensembl gene with another",
             int(result["ensembl_id"].notna().sum()), len(result), len(by_id), int(shared))  # fmt: skip
    if len(collisions):
        example = collisions.iloc[0]
        log.warning(
            "%s: %d GAF genes with different symbols land on %d Ensembl genes and have their annotations merged "
            "(e.g. %s -> %s)",
            annotations.path, len(collisions), collisions["ensembl_id"].nunique(), example["shared_by"],
            example["ensembl_id"],
        )  # fmt: skip
    return result


def gaf_collisions(mapping: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`map_gaf_genes`'s result whose Ensembl gene also receives a GAF gene with another
    symbol (case-insensitive), with ``shared_by``: every GAF gene on that Ensembl gene, as ``DB:ID (symbol)``."""
    mapped = mapping.dropna(subset=["ensembl_id"])
    n_symbols = mapped["query"].str.upper().groupby(mapped["ensembl_id"]).transform("nunique")
    colliding = mapped[n_symbols > 1]
    labels = colliding["gaf_id"] + " (" + colliding["query"] + ")"
    shared_by = labels.groupby(colliding["ensembl_id"]).agg(", ".join)
    return colliding.assign(shared_by=colliding["ensembl_id"].map(shared_by))
