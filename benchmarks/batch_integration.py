"""Seconds of the batch-integration task per method at demo size (the demo's budget: ~1 minute in all).

Simulated cells as the demo's (``--cells`` x ``--genes``, 3 batches, 5 cell types, raw counts) are
written to an .h5ad, with a random ``obsm['X_sclong']`` of 201 values standing in for a model variant's
embedding (the task only reads it). Each method is run in a fresh process through ``sclong.tasks.run``
with the demo config's block, as the workflow's job does. ``job s`` is that process's wall clock
(start-up, imports, load, every seed) and ``job CPU-s`` its CPU time, the fairer number on a shared
machine; ``load s`` and ``seed s`` come from its log. Usage:
``python benchmarks/batch_integration.py [--cells 1000 --genes 2000 --threads 1]``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from sclong.data.simulate import SimulationParams, simulate
from sclong.settings import to_json
from sclong.tasks.base import model_variant

REPO = Path(__file__).resolve().parents[1]
LOADED = re.compile(r"inputs loaded in ([\d.]+) s")
SEED = re.compile(r"seed (\d+): \d+ metrics in ([\d.]+) s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=1000)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of each job (the demo's: 1)")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    block = {**config["tasks"]["batch_integration"], "device": "cpu", "normalization": "paper"}
    seeds = config["tasks"]["seeds"]
    params = SimulationParams(n_cells=args.cells, n_cell_types=5, n_batches=3, seed=0, cell_seed=1)
    cells = simulate([f"ENSG{i:011d}" for i in range(args.genes)], params)
    cells.obsm["X_sclong"] = np.random.default_rng(0).normal(size=(cells.n_obs, 201)).astype(np.float32)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cells.h5ad"
        cells.write_h5ad(path)
        for method in block["methods"]:
            name = "embedding" if model_variant(method) else "dataset"
            run_seeds = seeds if method == "scvi" else seeds[:1]
            command = [sys.executable, "-m", "sclong.tasks.run", "--task", "batch_integration", "--method", method,
                       "--seeds", *map(str, run_seeds), "--input", f"{name}={path}", "--scale", "demo",
                       "--out-dir", str(Path(tmp) / method), "--settings", to_json(block)]  # fmt: skip
            started, cpu_before = time.perf_counter(), _children_cpu()
            result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            wall, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
            if result.returncode:
                sys.exit(f"{method} failed:\n{result.stderr[-3000:]}")
            load = float(LOADED.search(result.stderr).group(1))
            per_seed = [float(s) for _, s in SEED.findall(result.stderr)]
            value = (Path(tmp) / method / f"seed{run_seeds[0]}" / "metrics.tsv").read_text().splitlines()[1]
            rows.append((method, len(run_seeds), wall, cpu, load, per_seed, value.split("\t")[5]))
    print(f"{args.cells} cells x {args.genes} genes, 3 batches, 5 cell types, OMP_NUM_THREADS={args.threads}")
    print(f"{'method':<10} {'seeds':>5} {'job s':>7} {'job CPU-s':>9} {'load s':>7} {'seed s':>20} {'batch_asw':>10}")
    for method, n, wall, cpu, load, per_seed, value in rows:
        seed_text = ", ".join(f"{s:.1f}" for s in per_seed)
        print(f"{method:<10} {n:>5} {wall:>7.1f} {cpu:>9.1f} {load:>7.1f} {seed_text:>20} {float(value):>10.3f}")
    print(f"{'total':<10} {'':>5} {sum(r[2] for r in rows):>7.1f} {sum(r[3] for r in rows):>9.1f}")


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
