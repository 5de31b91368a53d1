"""Generate the committed demo gene resources: ~2,000 real human genes with their real GO annotations.

Recipe (deterministic; ``--seed`` picks the filler genes):

1. Task genes = the genes of scanpy's ``pbmc68k_reduced`` (``.raw.var_names`` if larger than
   ``var_names``) U the 299 genes of ``perturbation/papalexi2021_thp1_eccite_subset.h5ad`` U the 978
   L1000 landmark genes (row metadata of ``l1000/a375_24h_plate.gct.gz``), mapped to Ensembl 100 with
   :func:`sclong.knowledge.genes.map_symbols`.
   Task genes without GO annotations are kept.
2. Filler = primary-assembly protein-coding genes with >= 1 GO annotation that are not task genes,
   drawn uniformly without replacement with ``numpy.random.default_rng(seed)`` from the list sorted
   by Ensembl ID, until there are ``--n-genes`` genes.
3. Outputs in ``--out``: ``genes.tsv.gz`` (the gene-table rows of those genes, same columns, except that
   a previous or alias symbol is kept only where the full table maps that symbol to this very gene:
   FLG, an alias of FGFR1 but the symbol of filaggrin, would otherwise map to FGFR1 in the subset),
   ``goa_human_demo.gaf.gz`` (the GAF header and every line of a GAF gene (DB, DB object ID) that maps
   to one of them, unchanged) and ``go-basic_demo.obo.gz`` (the OBO header without subset/synonym-type
   definitions, the terms those lines use plus all their is_a/part_of ancestors, with id, name,
   namespace, alt_id, def, is_a and the same-namespace part_of lines kept, and the part_of typedef).
   Files are gzipped with mtime 0 so reruns are byte-identical.
"""

from __future__ import annotations

import argparse
import gzip
import io
import logging
import sys
from collections.abc import Iterable
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scanpy as sc
from goatools.godag.go_tasks import get_go2ancestors

from sclong.cli import run_module_main
from sclong.errors import InputError
from sclong.io.atomic import atomic_path
from sclong.knowledge.files import open_text
from sclong.knowledge.gaf import map_gaf_genes, read_gaf
from sclong.knowledge.genes import (
    LIST_COLUMNS,
    PRIMARY_CHROMOSOMES,
    REQUIRED_COLUMNS,
    GeneTable,
    map_symbols,
    read_gene_table,
    split_list,
)
from sclong.knowledge.go_graph import load_go_dag

log = logging.getLogger(__name__)

GENE_TABLE = "genes/ensembl100_grch38_genes.tsv.gz"
GAF = "go/goa_human_2019-01-29.gaf.gz"
OBO = "go/go_2019-01-29.obo.gz"
PAPALEXI = "perturbation/papalexi2021_thp1_eccite_subset.h5ad"
L1000 = "l1000/a375_24h_plate.gct.gz"
OBO_TERM_TAGS = ("id", "name", "namespace", "alt_id", "def", "is_a")
OBO_HEADER_DROP = ("subsetdef", "synonymtypedef")


def read_gct_genes(path: str | Path) -> pd.DataFrame:
    """Row metadata (``id``, ``pr_gene_id``, ``pr_gene_symbol``, ...) of a GCT 1.3 file."""
    try:
        with open_text(path) as handle:
            version = handle.readline().strip()
            dims = handle.readline().split()
            if version != "#1.3" or len(dims) != 4:
                raise InputError(path, "not a GCT 1.3 file (first lines must be '#1.3' and four dimensions)")
            n_rows, _, n_row_meta, n_col_meta = map(int, dims)
            header = handle.readline().rstrip("\n").split("\t")
            rows = pd.read_csv(handle, sep="\t", header=None, dtype=str, skiprows=n_col_meta, nrows=n_rows,
                               usecols=range(1 + n_row_meta))  # fmt: skip
    except (OSError, ValueError, EOFError) as err:
        raise InputError(path, f"cannot read GCT file ({err})") from err
    rows.columns = header[: 1 + n_row_meta]
    return rows


def task_genes(shared: Path, table: GeneTable) -> dict[str, pd.DataFrame]:
    """Mapping results (columns of :func:`map_symbols`) of the three task gene lists."""
    pbmc = sc.datasets.pbmc68k_reduced()
    pbmc_names = pbmc.raw.var_names if pbmc.raw is not None and pbmc.raw.n_vars > pbmc.n_vars else pbmc.var_names
    papalexi = ad.read_h5ad(shared / PAPALEXI, backed="r")
    papalexi_names = list(papalexi.var_names)
    papalexi.file.close()
    gct = read_gct_genes(shared / L1000)
    return {
        "pbmc68k_reduced": map_symbols(pbmc_names, table),
        "papalexi2021": map_symbols(papalexi_names, table),
        "l1000_landmarks": map_symbols(gct["pr_gene_symbol"], table),
    }


def choose_genes(task: Iterable[str], candidates: Iterable[str], n_genes: int, seed: int) -> list[str]:
    """Task genes plus seeded random candidates (not already chosen) up to ``n_genes``, sorted by ID."""
    chosen = set(task)
    pool = sorted(set(candidates) - chosen)
    n_fill = max(0, min(n_genes - len(chosen), len(pool)))
    fill = np.random.default_rng(seed).choice(len(pool), size=n_fill, replace=False)
    return sorted(chosen | {pool[i] for i in fill})


def obo_subset(path: str | Path, keep: set[str], part_of: dict[str, set[str]]) -> str:
    """OBO text with the header, the ``keep`` terms (selected tags) and the part_of typedef."""
    with open_text(path) as handle:
        stanzas = handle.read().split("\n\n")
    header = [line for line in stanzas[0].splitlines() if not line.startswith(OBO_HEADER_DROP)]
    header.append("remark: sclong demo subset: terms annotated to the demo genes and their is_a/part_of ancestors")
    out = ["\n".join(header)]
    for stanza in stanzas[1:]:
        lines = stanza.strip("\n").splitlines()
        if not lines:
            continue
        if lines[0] == "[Typedef]" and "id: part_of" in lines:
            out.append("\n".join(lines))
        if lines[0] != "[Term]" or lines[1][4:] not in keep:
            continue
        term = lines[1][4:]
        kept = [lines[0]] + [line for line in lines[1:] if line.split(":", 1)[0] in OBO_TERM_TAGS]
        kept += [line for line in lines if line.startswith("relationship: part_of ")
                 and line.split()[2] in part_of.get(term, ())]  # fmt: skip
        out.append("\n".join(kept))
    return "\n\n".join(out) + "\n"


def write_gzip_text(path: Path, text: str) -> None:
    """Write text gzipped with mtime 0 (byte-identical reruns), atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle:
            handle.write(text.encode("utf-8"))


def gaf_subset(path: str | Path, genes: set[tuple[str, str]]) -> str:
    """The GAF's header lines and the data lines whose (DB, DB object ID) (columns 1-2) is in ``genes``."""
    out = io.StringIO()
    with open_text(path) as handle:
        for line in handle:
            fields = line.split("\t", 2)
            if line.startswith("!") or (len(fields) > 2 and (fields[0], fields[1]) in genes):
                out.write(line)
    return out.getvalue()


def own_symbols_only(rows: pd.DataFrame, table: GeneTable) -> tuple[pd.DataFrame, dict[str, int]]:
    """``rows`` with each previous/alias symbol kept only if ``table`` maps it to that row's gene, and the
    number of symbols dropped per list column."""
    rows = rows.copy()
    dropped = {}
    for column in LIST_COLUMNS:
        items = rows[column].map(split_list).explode().dropna()
        target = map_symbols(items, table)["ensembl_id"].to_numpy()
        own = target == rows.loc[items.index, "ensembl_gene_id"].to_numpy()
        dropped[f"dropped_{column}"] = int((~own).sum())
        kept = items[own].groupby(level=0, sort=False).agg(", ".join)
        rows[column] = kept.reindex(rows.index, fill_value="")
    return rows, dropped


def generate(shared: Path, out: Path, n_genes: int = 2000, seed: int = 0) -> dict[str, int]:
    """Write the three demo files into ``out``; return counts for the README and the log."""
    table = read_gene_table(shared / GENE_TABLE)
    annotations = read_gaf(shared / GAF, max_malformed_fraction=0.0)
    gaf_map = map_gaf_genes(annotations, table)
    annotated = set(gaf_map["ensembl_id"].dropna())
    mappings = task_genes(shared, table)
    counts: dict[str, int] = {}
    task: set[str] = set()
    for name, mapping in mappings.items():
        genes = set(mapping["ensembl_id"].dropna())
        counts[f"{name}_symbols"] = len(mapping)
        counts[f"{name}_unmapped"] = int((mapping["how"] == "unmapped").sum())
        task |= genes
    counts["task_genes"] = len(task)
    counts["task_genes_without_go"] = len(task - annotated)
    frame = table.frame
    coding = frame.index[(frame["biotype"] == "protein_coding") & frame["chromosome"].isin(PRIMARY_CHROMOSOMES)]
    genes = choose_genes(task, annotated & set(coding), n_genes, seed)
    counts["genes"] = len(genes)

    selected = gaf_map["ensembl_id"].isin(set(genes)).to_numpy()
    gaf_genes = annotations.genes[selected]
    gaf_text = gaf_subset(shared / GAF, set(zip(gaf_genes["db"], gaf_genes["db_id"], strict=True)))
    dag = load_go_dag(shared / OBO)
    used = annotations.frame.loc[selected[annotations.frame["gene"].to_numpy()], "go_id"]
    terms = {dag[go_id] for go_id in used.unique() if go_id in dag}
    ancestors = get_go2ancestors(terms, {"part_of"})
    keep = {t.id for t in terms}.union(*(ancestors.get(t.id, set()) for t in terms))
    part_of = {t: {p.id for p in dag[t].relationship.get("part_of", ())} for t in keep}
    counts["gaf_lines"] = sum(1 for line in gaf_text.splitlines() if not line.startswith("!"))
    counts["go_terms"] = len(keep)

    rows, dropped = own_symbols_only(frame.loc[genes, list(REQUIRED_COLUMNS)], table)
    counts.update(dropped)
    write_gzip_text(out / "genes.tsv.gz", rows.to_csv(sep="\t", index=False))
    write_gzip_text(out / "goa_human_demo.gaf.gz", gaf_text)
    write_gzip_text(out / "go-basic_demo.obo.gz", obo_subset(shared / OBO, keep, part_of))
    log.info("demo subset: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sclong.knowledge.demo_subset", description=__doc__.split("\n")[0])
    parser.add_argument("--shared-data", type=Path, required=True, help="the shared real-data directory")
    parser.add_argument("--out", type=Path, required=True, help="directory for the demo files")
    parser.add_argument("--n-genes", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.shared_data.is_dir():
        raise InputError(args.shared_data, "not a directory")
    generate(args.shared_data, args.out, args.n_genes, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
