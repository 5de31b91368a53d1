"""Build the gene vocabulary: Ensembl IDs from four sources, de-duplicated and sorted.

Sources (each flagged by a 0/1 column of ``vocabulary.tsv``):

* ``top_expressed``: the top-N genes by number of cells with a non-zero value in the corpus (per-gene
  count TSV with columns ``feature_id``, ``feature_name``, ``nonzero_cells``; a feature is mapped by its
  ID, else by its name; counts of features mapping to the same gene are summed; genes with zero count
  are never "top"; ties broken by lower Ensembl ID);
* ``protein_coding``: every protein-coding gene of the gene table on the primary assembly (1-22, X, Y,
  MT; alternate-haplotype copies would only duplicate them);
* ``go``: every gene with at least one positive annotation in the GAF (GAF genes mapped as in
  :mod:`sclong.knowledge.gaf`: database ID, then symbol, then synonyms);
* ``gene2vec``: every gene of a Gene2vec word2vec text file (optional).

Rows are sorted by Ensembl ID and numbered from 0 (``index``). ``mapping_report.tsv`` lists every
input symbol per source that was unmapped or ambiguous (resolved by the rule of
:mod:`sclong.knowledge.genes`; a symbol that HGNC and Ensembl give to different genes says so), and
every GAF gene whose Ensembl gene also receives a GAF gene with another symbol, with the reason.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sclong.cli import run_module_main
from sclong.errors import ConfigError, InputError
from sclong.io.atomic import atomic_path
from sclong.knowledge.gaf import (
    GafAnnotations,
    add_gaf_settings_argument,
    gaf_collisions,
    map_gaf_genes,
    parse_gaf_settings,
    read_gaf,
)
from sclong.knowledge.gene2vec_file import read_word2vec_text
from sclong.knowledge.genes import PRIMARY_CHROMOSOMES, GeneTable, map_symbols, read_gene_table
from sclong.settings import add_settings_argument, from_mapping, parse_settings

log = logging.getLogger(__name__)

SOURCES = ("top_expressed", "protein_coding", "go", "gene2vec")
COLUMNS = ("index", "ensembl_id", "symbol", "biotype", "entrez", "nonzero_cells", *SOURCES)
COUNT_COLUMNS = ("feature_id", "feature_name", "nonzero_cells")
REPORT_COLUMNS = ("source", "query", "how", "level", "ensembl_id", "candidates", "reason")
PREFERENCE = "protein-coding > primary assembly > lowest ID"


@dataclass(frozen=True)
class VocabularySettings:
    """The ``vocabulary`` config section."""

    top_n_expressed: int

    def __post_init__(self) -> None:
        if not isinstance(self.top_n_expressed, int) or self.top_n_expressed < 0:
            raise ConfigError("vocabulary.top_n_expressed", "must be an integer >= 0")


def read_counts(path: str | Path, table: GeneTable) -> tuple[pd.Series, pd.DataFrame]:
    """Per-gene non-zero cell counts (indexed by Ensembl ID) and the mapping of the count file's features."""
    try:
        counts = pd.read_csv(path, sep="\t", dtype={"feature_id": str, "feature_name": str}, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read non-zero count table ({err})") from err
    missing = [column for column in COUNT_COLUMNS if column not in counts.columns]
    if missing:
        raise InputError(path, f"non-zero count table lacks column(s): {', '.join(missing)}")
    nonzero = pd.to_numeric(counts["nonzero_cells"], errors="coerce")
    if nonzero.isna().any() or (nonzero < 0).any():
        raise InputError(path, "column nonzero_cells must hold non-negative integers")
    mapping = map_symbols(counts["feature_id"], table)
    by_name = map_symbols(counts["feature_name"], table)
    unmapped = (mapping["how"] == "unmapped") & (by_name["how"] != "unmapped")
    mapping[unmapped] = by_name[unmapped]
    per_gene = nonzero[mapping["how"] != "unmapped"].groupby(mapping["ensembl_id"]).sum().astype("int64")
    return per_gene, mapping


def top_genes(per_gene: pd.Series, n: int) -> list[str]:
    """The ``n`` genes with the most non-zero cells (ties: lower Ensembl ID first; zero counts excluded)."""
    frame = per_gene[per_gene > 0].rename("count").rename_axis("gene").reset_index()
    frame = frame.sort_values(["count", "gene"], ascending=[False, True], kind="stable")
    return frame["gene"].head(n).tolist()


def report_rows(source: str, mapping: pd.DataFrame, table: GeneTable) -> pd.DataFrame:
    """Rows of the mapping report for the unmapped and ambiguous queries of one source."""
    rows = mapping[mapping["how"].isin(["unmapped", "ambiguous"])].copy()
    rows["reason"] = [_reason(source, row, table) for row in rows.itertuples(index=False)]
    if "gaf_id" in rows:
        rows["reason"] = rows["gaf_id"] + ": " + rows["reason"]
    rows["source"] = source
    return rows.reindex(columns=list(REPORT_COLUMNS))


def _reason(source: str, row: tuple, table: GeneTable) -> str:
    """Why one query of the mapping report is unmapped or how its ambiguity was resolved."""
    if row.how == "unmapped":
        if row.query.strip().startswith("ENSG"):
            return "unknown Ensembl ID"
        tried = " (GAF synonyms and database ID tried too)" if source == "go" else ""
        return f"no current, previous or alias symbol matches{tried}"
    candidates = row.candidates.split(", ")
    if row.level in ("entrez", "uniprot_ids"):
        return f"{len(candidates)} genes share this {row.level} ID; chose {row.ensembl_id} ({PREFERENCE})"
    matched = getattr(row, "via", "") or row.query  # a GAF synonym may have matched instead of the symbol
    note = f" {matched} (a GAF synonym)" if matched != row.query else ""
    key = matched.strip().upper()
    if row.level == "current" and key in table.symbol_conflicts:
        hgnc = [gene for gene in candidates if table.frame.at[gene, "hgnc_symbol"].upper() == key]
        ensembl = [gene for gene in candidates if gene not in hgnc]
        return (f"HGNC gives this symbol{note} to {', '.join(hgnc)}, Ensembl's display name to {', '.join(ensembl)}; "
                f"chose {row.ensembl_id} ({PREFERENCE})")  # fmt: skip
    return f"{len(candidates)} genes share this {row.level} symbol{note}; chose {row.ensembl_id} ({PREFERENCE})"


def collision_rows(mapping: pd.DataFrame) -> pd.DataFrame:
    """Rows of the mapping report for GAF genes with different symbols that map to one Ensembl gene."""
    rows = gaf_collisions(mapping)
    rows["reason"] = (rows["gaf_id"] + ": GAF genes " + rows["shared_by"] + " all map to " + rows["ensembl_id"]
                      + "; their annotations are merged")  # fmt: skip
    return rows.assign(source="go").reindex(columns=list(REPORT_COLUMNS))


def build_vocabulary(
    table: GeneTable,
    annotations: GafAnnotations,
    counts_path: str | Path,
    top_n: int,
    gene2vec_path: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the vocabulary (columns :data:`COLUMNS`) and the mapping report (:data:`REPORT_COLUMNS`)."""
    per_gene, count_mapping = read_counts(counts_path, table)
    frame = table.frame
    coding = frame.index[(frame["biotype"] == "protein_coding") & frame["chromosome"].isin(PRIMARY_CHROMOSOMES)]
    gaf_mapping = map_gaf_genes(annotations, table)
    members = {
        "top_expressed": set(top_genes(per_gene, top_n)),
        "protein_coding": set(coding),
        "go": set(gaf_mapping["ensembl_id"].dropna()),
        "gene2vec": set(),
    }
    mappings = {"top_expressed": count_mapping, "go": gaf_mapping}
    if gene2vec_path is not None:
        symbols, _ = read_word2vec_text(gene2vec_path)
        mappings["gene2vec"] = map_symbols(symbols, table)
        members["gene2vec"] = set(mappings["gene2vec"]["ensembl_id"].dropna())

    genes = sorted(set().union(*members.values()))
    vocab = pd.DataFrame({"index": range(len(genes)), "ensembl_id": genes})
    vocab["symbol"] = frame.loc[genes, "display_symbol"].to_numpy()
    vocab["biotype"] = frame.loc[genes, "biotype"].to_numpy()
    vocab["entrez"] = frame.loc[genes, "entrez"].to_numpy()
    vocab["nonzero_cells"] = per_gene.reindex(genes, fill_value=0).to_numpy()
    for source in SOURCES:
        vocab[source] = vocab["ensembl_id"].isin(members[source]).astype("int8")
    parts = [report_rows(source, mapping, table) for source, mapping in mappings.items()]
    report = pd.concat([*parts, collision_rows(gaf_mapping)], ignore_index=True)
    _log_summary(vocab, mappings, members)
    return vocab, report


def _log_summary(vocab: pd.DataFrame, mappings: dict[str, pd.DataFrame], members: dict[str, set[str]]) -> None:
    for source, mapping in mappings.items():
        how = mapping["how"].value_counts()
        mapped = len(mapping) - int(how.get("unmapped", 0))
        log.info(
            "%s: %d input symbols, %d mapped (%.1f%%; %d ambiguous resolved), %d unmapped",
            source, len(mapping), mapped, 100 * mapped / max(len(mapping), 1),
            int(how.get("ambiguous", 0)), int(how.get("unmapped", 0)),
        )  # fmt: skip
    sizes = ", ".join(f"{source} {len(members[source])}" for source in SOURCES)
    log.info("vocabulary: %d genes (genes per source: %s)", len(vocab), sizes)


def read_vocabulary(path: str | Path) -> pd.DataFrame:
    """Read a ``vocabulary.tsv`` written by this module; ``index`` must run 0..n-1 in file order."""
    try:
        vocab = pd.read_csv(path, sep="\t", dtype={"ensembl_id": str, "symbol": str, "entrez": str},
                            keep_default_na=False)  # fmt: skip
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read vocabulary ({err})") from err
    missing = [column for column in COLUMNS if column not in vocab.columns]
    if missing:
        raise InputError(path, f"vocabulary lacks column(s): {', '.join(missing)}")
    if not vocab["index"].equals(pd.Series(range(len(vocab)))):
        raise InputError(path, "column index must number the rows 0..n-1 in order")
    if vocab["ensembl_id"].duplicated().any():
        raise InputError(path, "duplicate ensembl_id in vocabulary")
    return vocab


def write_tsv(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a tab-separated table with header, atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sclong.knowledge.vocabulary", description=__doc__.split("\n")[0])
    parser.add_argument("--gene-table", required=True, help="gene table TSV(.gz)")
    parser.add_argument("--gaf", required=True, help="GO annotations, GAF 2.1 (.gz)")
    parser.add_argument("--gene2vec", help="optional Gene2vec vectors, word2vec text format")
    parser.add_argument("--counts", required=True, help="per-gene non-zero cell counts TSV")
    parser.add_argument("--out", required=True, help="vocabulary.tsv to write")
    parser.add_argument("--report", required=True, help="mapping_report.tsv to write")
    add_settings_argument(parser, "vocabulary")
    add_gaf_settings_argument(parser)
    args = parser.parse_args(argv)
    settings = from_mapping(VocabularySettings, parse_settings(args.settings, "vocabulary"), "vocabulary")
    gaf_settings = parse_gaf_settings(args.gaf_settings)
    table = read_gene_table(args.gene_table)
    annotations = read_gaf(args.gaf, gaf_settings.max_malformed_fraction)
    vocab, report = build_vocabulary(table, annotations, args.counts, settings.top_n_expressed, args.gene2vec)
    write_tsv(vocab, args.out)
    write_tsv(report, args.report)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
