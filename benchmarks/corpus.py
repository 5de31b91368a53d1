"""Corpus throughput and memory: normalisation + sharding of streamed sparse blocks.

Synthetic raw-count blocks (27,874 genes, ``--nnz`` non-zeros per cell, ``--block`` cells per block)
are generated outside the timed region and pushed through

* ``normalise+shard``: raw/log1p detection, ``normalize`` and ``ShardWriter.add`` (the target:
  >= 20,000 cells/s per core at ~2,000 non-zeros per cell, ``paper`` normalisation), and
* ``qc+normalise+shard``: the whole per-block path of the corpus build: vocabulary re-indexing,
  low-count filter, duplicate hashing, detection, normalisation and sharding.

``read cells/s``: random access afterwards, ``ShardedCSR.rows`` on batches of 64 random cells (what a
training ``DataLoader`` does; warm page cache). Peak RSS is taken before this read phase, whose
memory-mapped pages (page cache, reclaimable) would otherwise count as resident.

Each corpus size runs in a fresh process, so peak RSS is that run's own: streaming means it should be
nearly the same for every size. ``cells/s`` is wall-clock; ``cells/CPU-s`` divides by the process's CPU
time (one core: nothing here is multi-threaded), which is the fairer number on a shared machine.
Usage: ``python benchmarks/corpus.py [--sizes 20000 100000]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sclong.data.normalize import detect_kind, normalize
from sclong.data.qc import DuplicateFilter, to_vocabulary, vocabulary_lookup
from sclong.io.shards import ShardedCSR, ShardWriter

N_GENES = 27_874
READ_BATCHES, READ_BATCH_SIZE = 200, 64


def synthetic_block(rng: np.random.Generator, n_cells: int, nnz: int) -> sp.csr_matrix:
    """Raw counts with exactly ``nnz`` sorted distinct genes per cell."""
    steps = rng.integers(1, 2 * (N_GENES // nnz) - 1, size=(n_cells, nnz), dtype=np.int32)
    indices = np.cumsum(steps, axis=1, dtype=np.int32) - 1
    data = rng.integers(1, 40, size=n_cells * nnz, dtype=np.int32).astype(np.float32)
    indptr = np.arange(n_cells + 1, dtype=np.int64) * nnz
    return sp.csr_matrix((data, indices.ravel(), indptr), shape=(n_cells, N_GENES))


def run(n_cells: int, nnz: int, block: int, mode: str, method: str, out: Path) -> dict[str, float]:
    """Stream ``n_cells`` synthetic cells through ``mode``; returns timing and peak RSS."""
    baseline_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rng = np.random.default_rng(0)
    var = pd.DataFrame({"soma_joinid": np.arange(N_GENES), "feature_id": [f"ENSG{i:011d}" for i in range(N_GENES)]})
    vocabulary = list(rng.permutation(var["feature_id"]))  # a different gene order than the source
    lookup = vocabulary_lookup(var, vocabulary)
    duplicates = DuplicateFilter()
    elapsed = cpu = 0.0
    with ShardWriter(out, N_GENES, cells_per_shard=50_000) as writer:
        for start in range(0, n_cells, block):
            cells = synthetic_block(rng, min(block, n_cells - start), nnz)
            tic, cpu_tic = time.perf_counter(), time.process_time()
            if mode == "qc+normalise+shard":
                kind = detect_kind(cells.data, "benchmark")
                cells = to_vocabulary(cells, lookup, N_GENES)
                cells = cells[np.diff(cells.indptr) >= 300]
                cells = cells[duplicates.first_seen(cells)]
            else:
                kind = detect_kind(cells.data, "benchmark")
            writer.add(normalize(cells, kind, method))
            elapsed += time.perf_counter() - tic
            cpu += time.process_time() - cpu_tic
        tic, cpu_tic = time.perf_counter(), time.process_time()
        writer.close()
        elapsed += time.perf_counter() - tic
        cpu += time.process_time() - cpu_tic
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reader = ShardedCSR(out)
    batches = rng.integers(0, n_cells, size=(READ_BATCHES, READ_BATCH_SIZE))
    tic = time.perf_counter()
    for batch in batches:
        reader.rows(batch)
    read_per_s = batches.size / (time.perf_counter() - tic)
    return {
        "cells_per_s": n_cells / elapsed,
        "cells_per_cpu_s": n_cells / cpu,
        "nnz_per_s": n_cells * nnz / elapsed,
        "peak_rss_mib": peak_mib,
        "baseline_rss_mib": baseline_mib,
        "read_cells_per_s": read_per_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--nnz", type=int, default=2000)
    parser.add_argument("--block", type=int, default=4096)
    parser.add_argument("--methods", nargs="+", default=["paper", "scanpy"])
    parser.add_argument("--child", nargs=3, metavar=("N_CELLS", "MODE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n_cells, mode, method = args.child
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(run(int(n_cells), args.nnz, args.block, mode, method, Path(tmp) / "corpus")))
        return 0
    columns = ("cells", "cells/s", "cells/CPU-s", "M nnz/s", "peak RSS MiB", "after imports", "read cells/s")
    widths = (8, 9, 12, 8, 13, 14, 13)
    print(f"{'path':<20} {'norm':<7} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    for mode in ("normalise+shard", "qc+normalise+shard"):
        for method in args.methods:
            for n_cells in args.sizes:
                command = [sys.executable, __file__, "--nnz", str(args.nnz), "--block", str(args.block)]
                result = subprocess.run(
                    [*command, "--child", str(n_cells), mode, method], check=True, capture_output=True, text=True
                )
                r = json.loads(result.stdout.splitlines()[-1])
                print(
                    f"{mode:<20} {method:<7} {n_cells:>8} {r['cells_per_s']:>9.0f} {r['cells_per_cpu_s']:>12.0f}"
                    f" {r['nnz_per_s'] / 1e6:>8.1f}"
                    f" {r['peak_rss_mib']:>13.0f} {r['baseline_rss_mib']:>14.0f} {r['read_cells_per_s']:>13.0f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
