"""Time the GO Jaccard graph on the real ontology and annotations; print one row per stage.

Usage: python benchmarks/go_graph.py [--shared-data ../shared/data] [--propagate] [--block-size 1024]

The vocabulary is every GAF gene that maps to Ensembl plus every primary-assembly protein-coding gene
(about what the paper's vocabulary holds apart from the corpus-only genes). ``seconds`` is wall-clock,
``CPU s`` the process's CPU time (user + system, all threads: BLAS may use several cores), the fairer
number on a shared machine. Peak RSS is the process's maximum resident set size after each stage.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from sclong.knowledge.gaf import map_gaf_genes, read_gaf
from sclong.knowledge.genes import PRIMARY_CHROMOSOMES, read_gene_table
from sclong.knowledge.go_graph import annotation_pairs, build_edges, load_go_dag, term_matrix, write_edges

REPO = Path(__file__).resolve().parents[1]


def peak_rss_mib() -> float:
    """Maximum resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--propagate", action="store_true")
    parser.add_argument("--block-size", type=int, default=1024)
    parser.add_argument("--top-k", type=int, default=20)
    args = parser.parse_args(argv)
    data = args.shared_data
    stages: list[tuple[str, float, float, float]] = []
    clock, cpu = time.perf_counter(), time.process_time()

    def done(stage: str) -> None:
        nonlocal clock, cpu
        now, cpu_now = time.perf_counter(), time.process_time()
        stages.append((stage, now - clock, cpu_now - cpu, peak_rss_mib()))
        clock, cpu = now, cpu_now

    table = read_gene_table(data / "genes" / "ensembl100_grch38_genes.tsv.gz")
    done("read gene table")
    dag = load_go_dag(data / "go" / "go_2019-01-29.obo.gz")
    done("parse ontology (goatools)")
    annotations = read_gaf(data / "go" / "goa_human_2019-01-29.gaf.gz", max_malformed_fraction=0.0)
    done("parse GAF")
    mapping = map_gaf_genes(annotations, table)
    frame = table.frame
    coding = frame.index[(frame["biotype"] == "protein_coding") & frame["chromosome"].isin(PRIMARY_CHROMOSOMES)]
    genes = sorted(set(mapping["ensembl_id"].dropna()) | set(coding))
    vocab = pd.DataFrame({"index": range(len(genes)), "ensembl_id": genes})
    done("map GAF genes, vocabulary")
    pairs = annotation_pairs(vocab, annotations, mapping, dag, ["BP", "MF", "CC"])
    matrix, terms = term_matrix(pairs, len(vocab), dag, propagate=args.propagate)
    done("gene x term matrix")
    edges = build_edges(matrix, k=args.top_k, min_jaccard=0.0, block_size=args.block_size)
    done("Jaccard + top-k")
    with tempfile.TemporaryDirectory() as tmp:
        write_edges(edges, vocab, Path(tmp) / "go_graph.tsv")
    done("write edge list")

    total = sum(seconds for _, seconds, _, _ in stages)
    total_cpu = sum(cpu_s for _, _, cpu_s, _ in stages)
    print(
        f"genes {len(vocab)} (with terms {int((matrix.getnnz(axis=1) > 0).sum())}), terms {len(terms)}, "
        f"gene-term pairs {matrix.nnz}, edges {len(edges)}, propagate {args.propagate}, "
        f"block size {args.block_size}"
    )
    result = pd.DataFrame(stages, columns=["stage", "seconds", "CPU s", "peak RSS MiB"])
    result.loc[len(result)] = ["total", total, total_cpu, peak_rss_mib()]
    print(result.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
