"""GRN metrics and cosine initialisation at the paper's size: wall time and peak memory.

* ``metrics deepsem`` / ``metrics beeline``: EPR + AUPR ratio (:func:`sclong.tasks.grn.metrics.grn_metrics`)
  of a 17,735 x 17,735 float32 score matrix (314M pairs) against 436,563 true edges from 487 TFs, each
  TF with its own random targets; scores are N(0, 1) plus 0.5 on true edges, 10% NaN (unpredicted), NaN
  diagonal. The DeepSEM definition works on the TF rows (487 x 17,735); BEELINE's AUPR on all 314M
  ordered pairs of the truth's genes (here every gene is a target of some TF).
* ``cosine``: :func:`sclong.tasks.grn.similarity.cosine_adjacency` of 17,735 genes x 758 cells (the hESC
  size) followed by :func:`sclong.tasks.grn.similarity.deepsem_init` (DeepSEM's initial A).

Each case runs in a fresh process; inputs are built before the clock starts. ``peak RSS`` is the process's
peak (``resource.getrusage``), input included; ``over input`` subtracts the RSS once the input was built.
Usage: ``python benchmarks/grn_metrics.py [--genes 17735 --tfs 487 --edges 436563 --cells 758]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

CASES = ("metrics deepsem", "metrics beeline", "cosine")


def rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """Current resident memory, MiB."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def truth_edges(rng: np.random.Generator, n_genes: int, n_tfs: int, n_edges: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_edges`` distinct TF -> gene edges (no self-loops) from ``n_tfs`` random TFs."""
    tfs = rng.choice(n_genes, n_tfs, replace=False)
    codes = np.unique(tfs[rng.integers(0, n_tfs, 2 * n_edges)].astype(np.int64) * n_genes
                      + rng.integers(0, n_genes, 2 * n_edges))  # fmt: skip
    codes = codes[codes // n_genes != codes % n_genes]
    codes = rng.permutation(codes)[:n_edges]
    return codes // n_genes, codes % n_genes


def run_case(case: str, args: argparse.Namespace) -> dict[str, float]:
    """One case in this process: build its input, then time it."""
    rng = np.random.default_rng(0)
    if case == "cosine":
        from sclong.tasks.grn.similarity import cosine_adjacency, deepsem_init

        vectors = rng.standard_normal((args.cells, args.genes), dtype=np.float32)
        before = current_rss_mib()
        started = time.perf_counter()
        deepsem_init(cosine_adjacency(vectors))
        return {"seconds": time.perf_counter() - started, "peak": rss_mib(), "input": before}
    from sclong.tasks.grn.metrics import grn_metrics

    source, target = truth_edges(rng, args.genes, args.tfs, args.edges)
    scores = rng.standard_normal((args.genes, args.genes), dtype=np.float32)
    scores[source, target] += 0.5
    for start in range(0, args.genes, 1024):  # in row blocks: the input's own peak stays ~ its size
        rows = scores[start : start + 1024]
        rows[rng.random(rows.shape, dtype=np.float32) < 0.1] = np.nan
    np.fill_diagonal(scores, np.nan)
    before = current_rss_mib()
    started = time.perf_counter()
    result = grn_metrics(scores, source, target, case.split()[1])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak": rss_mib(), "input": before, **{m.metric: m.value for m in result}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--genes", type=int, default=17_735)
    parser.add_argument("--tfs", type=int, default=487)
    parser.add_argument("--edges", type=int, default=436_563)
    parser.add_argument("--cells", type=int, default=758)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args)))
        return
    flags = [f"--genes={args.genes}", f"--tfs={args.tfs}", f"--edges={args.edges}", f"--cells={args.cells}"]
    print(f"{args.genes:,} genes, {args.tfs} TFs, {args.edges:,} true edges, {args.cells} cells")
    print(f"{'case':<18} {'seconds':>8} {'peak RSS MiB':>13} {'over input MiB':>15}  values")
    for case in CASES:
        out = subprocess.run([sys.executable, __file__, f"--case={case}", *flags], capture_output=True, text=True,
                             check=True)  # fmt: skip
        row = json.loads(out.stdout.strip().splitlines()[-1])
        extra = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("seconds", "peak", "input"))
        print(f"{case:<18} {row['seconds']:>8.1f} {row['peak']:>13,.0f} {row['peak'] - row['input']:>15,.0f}  {extra}")


if __name__ == "__main__":
    main()
