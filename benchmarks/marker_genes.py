"""Time the marker-gene scoring (everything after the model's forward passes) per cell type; print a table.

Usage: python benchmarks/marker_genes.py [--permutations 1000 10000] [--repeats 3]

Random gene vectors at demo size (737 pbmc68k genes in the demo vocabulary x 64) and paper size (20,000
Zheng68K genes x 200), 4 planted markers, top 50 genes, 4 clusters, average linkage; each distance of
``tasks.marker_genes.distance``. Seconds are the median of ``--repeats`` runs of
:func:`sclong.tasks.marker_genes.analyse_cell_type` plus its metrics and artifact tables; a seed of the
task scores every configured cell type once (the paper's and the demo's configs have 2).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import pandas as pd

from sclong.tasks.marker_genes import analyse_cell_type, cell_type_metrics, cell_type_tables

SIZES = {"demo": (737, 64), "paper": (20_000, 200)}


def vectors(n_genes: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(n_genes, dim)).astype(np.float32)
    matrix[:4] = 3 * rng.normal(size=dim) + 0.3 * rng.normal(size=(4, dim))
    return matrix


def time_one(matrix: np.ndarray, permutations: int, distance: str, repeats: int) -> float:
    genes = [f"g{i}" for i in range(len(matrix))]
    seconds = []
    for repeat in range(repeats):
        started = time.perf_counter()
        result = analyse_cell_type(matrix, genes, genes[:4], top_genes=50, clusters=4, permutations=permutations,
                                   linkage="average", distance=distance, rng=np.random.default_rng(repeat))  # fmt: skip
        cell_type_metrics(result, "T", [], 50)
        cell_type_tables(result, "T")
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--permutations", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    time_one(vectors(100, 8), 5, "cosine", 1)  # imports and first calls outside the timings
    rows = []
    for size, (n_genes, dim) in SIZES.items():
        matrix = vectors(n_genes, dim)
        for distance in ("euclidean_rows", "cosine"):
            for permutations in args.permutations:
                seconds = time_one(matrix, permutations, distance, args.repeats)
                rows.append((size, n_genes, dim, distance, permutations, seconds, 1e3 * seconds / permutations))
    table = pd.DataFrame(rows, columns=["size", "genes", "dim", "distance", "permutations", "seconds per cell type",
                                        "ms per permutation"])  # fmt: skip
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
