"""Bring a gene table into the workflow's layout: validate ours, or convert HGNC's complete set.

HGNC's ``hgnc_complete_set.txt`` (paper scale) has one row per approved symbol with pipe-separated
``prev_symbol`` / ``alias_symbol`` lists, ``locus_group``, ``entrez_id`` and (optional here) the
pipe-separated ``uniprot_ids``, which GAF files identify proteins by; rows without an Ensembl ID cannot
enter an Ensembl vocabulary and are dropped (their count is logged).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

import pandas as pd

from sclong.io.atomic import atomic_path
from sclong.knowledge.files import read_text_table
from sclong.knowledge.genes import OPTIONAL_COLUMNS, REQUIRED_COLUMNS, read_gene_table

log = logging.getLogger(__name__)

HGNC_COLUMNS = ("symbol", "locus_group", "location", "entrez_id", "ensembl_gene_id", "prev_symbol", "alias_symbol")
BIOTYPES = {"protein-coding gene": "protein_coding", "non-coding RNA": "ncRNA", "pseudogene": "pseudogene"}
CHROMOSOME = re.compile(r"^(\d{1,2}|X|Y)(?=[pq ]|cen|$)")


def _chromosome(location: str) -> str:
    if location.startswith("mitochondria"):
        return "MT"
    match = CHROMOSOME.match(location)
    return match.group(1) if match else ""


def convert_hgnc(path: str | Path) -> pd.DataFrame:
    """Convert HGNC's complete set to the workflow's gene-table columns."""
    hgnc = read_text_table(path, HGNC_COLUMNS, "HGNC table")
    with_id = hgnc[hgnc["ensembl_gene_id"].str.strip() != ""]
    shared = with_id["ensembl_gene_id"].duplicated()
    if shared.any():
        log.warning("%d HGNC rows repeat an Ensembl ID already taken; the first row is kept", int(shared.sum()))
        with_id = with_id[~shared]
    log.info("%d of %d HGNC genes have an Ensembl ID; the others are dropped", len(with_id), len(hgnc))

    def comma_list(column: str) -> pd.Series:
        if column not in with_id:
            return pd.Series("", index=with_id.index)
        return with_id[column].str.strip('"').str.split("|").map(lambda items: ", ".join(i for i in items if i))

    return pd.DataFrame(
        {
            "ensembl_gene_id": with_id["ensembl_gene_id"].str.strip(),
            "symbol": with_id["symbol"],
            "hgnc_symbol": with_id["symbol"],
            "biotype": with_id["locus_group"].map(BIOTYPES).fillna("other"),
            "chromosome": with_id["location"].map(_chromosome),
            "entrez": with_id["entrez_id"],
            "previous_symbols": comma_list("prev_symbol"),
            "alias_symbols": comma_list("alias_symbol"),
            "uniprot_ids": comma_list("uniprot_ids"),
        },
        columns=[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS],
    )


def prepare_gene_table(source: str | Path, table_format: str, out: str | Path) -> int:
    """Write the validated gene table of ``source`` (format ``sclong`` or ``hgnc``) to ``out``."""
    if table_format == "hgnc":
        frame = convert_hgnc(source)
    else:
        frame = read_gene_table(source).frame[[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]]
    with atomic_path(out) as tmp:
        frame.to_csv(tmp, sep="\t", index=False)
        read_gene_table(tmp)
    coding = int((frame["biotype"] == "protein_coding").sum())
    log.info("gene table %s: %d genes (%d protein-coding)", out, len(frame), coding)
    return len(frame)


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`prepare_gene_table`."""
    parser = argparse.ArgumentParser(prog="sclong gene-table", description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--format", choices=["sclong", "hgnc"], default="sclong", dest="table_format")
    args = parser.parse_args(argv)
    prepare_gene_table(args.source, args.table_format, args.out)
    return 0


if __name__ == "__main__":
    from sclong.cli import run_module_main

    sys.exit(run_module_main(__name__, sys.argv[1:]))
