"""Read GO annotations from a GAF 2.1 file and map their gene symbols to Ensembl IDs.

A data line is *malformed* (skipped and counted) when it has fewer than 15 tab-separated columns, no
symbol (column 3), a GO ID (column 5) that is not ``GO:`` + 7 digits, or an aspect (column 9) other than
P, F or C. Lines whose qualifier (column 4) contains ``NOT`` are negative annotations: skipped and
counted. A GAF symbol is mapped with :func:`sclong.knowledge.genes.map_symbols`; if it is unmapped, its
synonyms (column 11, ``|``-separated) are tried in order and the first one that maps is used.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sclong.errors import InputError
from sclong.knowledge.files import open_text
from sclong.knowledge.genes import GeneTable, map_symbols

log = logging.getLogger(__name__)

MIN_COLUMNS = 15
GO_ID = re.compile(r"^GO:\d{7}$")
ASPECTS = frozenset("PFC")


@dataclass(frozen=True)
class GafAnnotations:
    """The positive annotations of a GAF file.

    ``frame`` has one row per kept line with columns ``symbol``, ``go_id`` and ``aspect`` (P/F/C);
    ``synonyms`` maps each symbol to the synonyms of its first line.
    """

    path: str
    frame: pd.DataFrame
    synonyms: dict[str, list[str]]
    n_lines: int
    n_malformed: int
    n_negated: int


def read_gaf(path: str | Path) -> GafAnnotations:
    """Parse a GAF file, skipping (and counting) malformed lines and ``NOT`` annotations."""
    symbols: list[str] = []
    go_ids: list[str] = []
    aspects: list[str] = []
    synonyms: dict[str, list[str]] = {}
    n_lines = n_malformed = n_negated = 0
    try:
        with open_text(path) as handle:
            for line in handle:
                if line.startswith("!") or not line.strip():
                    continue
                n_lines += 1
                fields = line.rstrip("\n\r").split("\t")
                if len(fields) < MIN_COLUMNS or not fields[2] or not GO_ID.match(fields[4]) or fields[8] not in ASPECTS:
                    n_malformed += 1
                    continue
                if "NOT" in fields[3].split("|"):
                    n_negated += 1
                    continue
                symbol = fields[2]
                symbols.append(symbol)
                go_ids.append(fields[4])
                aspects.append(fields[8])
                if symbol not in synonyms:
                    synonyms[symbol] = [s for s in fields[10].split("|") if s and s != symbol]
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read GAF file ({err})") from err
    if n_lines and n_malformed == n_lines:
        raise InputError(path, f"none of its {n_lines} data lines is a valid GAF 2.1 annotation")
    frame = pd.DataFrame({"symbol": symbols, "go_id": go_ids, "aspect": aspects})
    log.info(
        "%s: %d annotation lines, %d malformed skipped, %d NOT skipped, %d kept for %d symbols",
        path, n_lines, n_malformed, n_negated, len(frame), len(synonyms),
    )  # fmt: skip
    return GafAnnotations(str(path), frame, synonyms, n_lines, n_malformed, n_negated)


def map_gaf_symbols(annotations: GafAnnotations, table: GeneTable) -> pd.DataFrame:
    """Map every distinct GAF symbol to an Ensembl ID, falling back on its synonyms.

    Returns the columns of :func:`map_symbols` (``query`` is the GAF symbol) plus ``via``: the symbol
    or synonym that produced the match (``''`` when unmapped).
    """
    result = map_symbols(list(annotations.synonyms), table)
    result["via"] = result["query"].where(result["how"] != "unmapped", "")
    pairs = [
        (row, synonym)
        for row in result.index[result["how"] == "unmapped"]
        for synonym in annotations.synonyms[result.at[row, "query"]]
    ]
    if pairs:
        rows, synonyms = zip(*pairs, strict=True)
        rescued = map_symbols(synonyms, table).assign(row=rows)
        rescued = rescued[rescued["how"] != "unmapped"].drop_duplicates("row")  # first synonym that maps
        columns = ["ensembl_id", "how", "level", "candidates"]
        result.loc[rescued["row"], columns] = rescued[columns].to_numpy()
        result.loc[rescued["row"], "via"] = rescued["query"].to_numpy()
    return result
