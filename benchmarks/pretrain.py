"""Speed and memory of demo-size pretraining on this CPU: one run per variant, then a table.

Takes the model and pretraining settings from ``config/config.yaml`` (``model``, ``pretrain``; ``--set
key=value`` changes a pretraining setting, the value read as YAML). Writes a synthetic corpus (``--cells`` x
``--genes``, cluster-specific gene programs, normalised to a maximum of 10 per cell), Gene2vec-shaped
vectors, a random top-20 graph and a vocabulary and gene table of made-up genes into a scratch directory, then
runs ``python -m sclong.train.pretrain`` once per variant in a subprocess and reports steps/s, cells/s,
peak RSS (of that process), wall and CPU time (on a shared machine, CPU time / threads estimates the
wall time an idle machine would take), and the final validation masked MSE against the gene-mean baseline.

    .venv/bin/python benchmarks/pretrain.py [--threads 2] [--steps N] [--variants sclong wo_leg wo_go random_go]
        [--set micro_batch_size=32 ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import yaml

from sclong.io.shards import ShardWriter

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
WORKFLOW_KEYS = ("variants", "threads")  # pretrain keys of the workflow, not of the training command


def demo_settings(path: Path = CONFIG) -> tuple[dict, dict]:
    """The model mapping and the pretraining settings (as the rule passes them) of a workflow config."""
    config = yaml.safe_load(path.read_text())
    return config["model"], {k: v for k, v in config["pretrain"].items() if k not in WORKFLOW_KEYS}


def write_inputs(root: Path, n_cells: int, n_genes: int, dim: int, density: float, seed: int = 0) -> None:
    """Synthetic corpus, Gene2vec matrix and GO-style graph under ``root``."""
    rng = np.random.default_rng(seed)
    programs = rng.gamma(0.8, 1.0, size=(8, n_genes)) * (rng.random((8, n_genes)) < density * 2)
    labels = rng.integers(0, 8, n_cells)
    values = np.log1p(rng.poisson(programs[labels] * 2.0 * rng.gamma(4, 0.25, (n_cells, 1)))).astype(
        np.float32
    )
    peak = values.max(axis=1, keepdims=True)
    values = np.where(peak > 0, values * 10.0 / np.maximum(peak, 1e-9), 0).astype(np.float32)
    order = rng.permutation(n_cells)
    n_val = max(1, n_cells // 20)
    with ShardWriter(root / "corpus", n_genes=n_genes, cells_per_shard=2000) as writer:
        writer.add(sp.csr_matrix(values))
        writer.close(arrays={"train": np.sort(order[n_val:]), "val": np.sort(order[:n_val])})
    np.save(root / "gene2vec.npy", rng.normal(0, 0.1, (n_genes, dim)).astype(np.float32))
    ids = [f"ENSG{g:011d}" for g in range(n_genes)]
    pd.DataFrame({"index": range(n_genes), "ensembl_id": ids, "symbol": [f"G{g}" for g in range(n_genes)],
                  "biotype": "protein_coding", "entrez": "", "nonzero_cells": 0, "top_expressed": 0,
                  "protein_coding": 1, "go": 0, "gene2vec": 0}).to_csv(root / "vocabulary.tsv", sep="\t", index=False)
    pd.DataFrame({"ensembl_gene_id": ids, "symbol": [f"G{g}" for g in range(n_genes)], "hgnc_symbol": "",
                  "biotype": "protein_coding", "chromosome": "1", "entrez": "", "previous_symbols": "",
                  "alias_symbols": ""}).to_csv(root / "gene_table.tsv", sep="\t", index=False)  # fmt: skip
    target = np.repeat(np.arange(n_genes), 20)
    source = (target + rng.integers(1, n_genes, target.size)) % n_genes
    for name, low in (("go_graph.tsv", 0.1), ("go_graph_random.tsv", 0.0)):  # random_go: U(0, 1) weights
        with open(root / name, "w") as handle:
            handle.write("source\ttarget\tsource_id\ttarget_id\tweight\n")
            for s, t, w in zip(source, target, rng.uniform(low, 1.0, target.size), strict=True):
                handle.write(f"{s}\t{t}\tG{s}\tG{t}\t{w:.4f}\n")


def run(root: Path, variant: str, model: dict, settings: dict, threads: int) -> dict[str, float | str]:
    """One pretraining run in a subprocess; its speed, peak RSS and final losses."""
    out = root / f"run-{variant}"
    command = [
        sys.executable, "-m", "sclong.train.pretrain", "--settings", json.dumps(settings),
        "--model-config", json.dumps(model), "--variant", variant, "--corpus", str(root / "corpus"),
        "--gene2vec", str(root / "gene2vec.npy"),
        "--go-graph", str(root / ("go_graph_random.tsv" if variant == "random_go" else "go_graph.tsv")),
        "--vocabulary", str(root / "vocabulary.tsv"), "--gene-table", str(root / "gene_table.tsv"),
        "--out", str(out), "--threads", str(threads), "--no-progress", "--no-tensorboard",
    ]  # fmt: skip
    steps = settings["max_steps"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{variant}: pretraining failed with status {status}")
    with open(out / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    train_s = float(rows[-1]["elapsed_s"])
    return {
        "variant": variant,
        "steps/s": steps / train_s,
        "cells/s": float(np.mean([float(r["cells_per_s"]) for r in rows])),
        "peak RSS MiB": usage.ru_maxrss / 1024,
        "wall s": wall,
        "CPU s": usage.ru_utime + usage.ru_stime,
        "val MSE": float(rows[-1]["val_loss"]),
        "baseline MSE": float(rows[-1]["baseline_val_mse"]),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=3500)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--density", type=float, default=0.15, help="about this fraction of values non-zero")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the config's max_steps)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=["sclong", "wo_leg", "wo_go", "random_go"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="change a pretrain setting")
    parser.add_argument("--config", type=Path, default=CONFIG, help="workflow config with model and pretrain")
    opts = parser.parse_args(argv)
    model, settings = demo_settings(opts.config)
    if opts.steps:  # one cosine cycle over the run
        settings.update(max_steps=opts.steps, first_cycle=opts.steps)
    for change in opts.set:
        key, _, value = change.partition("=")
        if key not in settings:
            parser.error(f"--set {change}: {key} is not a pretrain setting ({', '.join(settings)})")
        settings[key] = yaml.safe_load(value)
    with tempfile.TemporaryDirectory(prefix="sclong-bench-") as tmp:
        root = Path(tmp)
        write_inputs(root, opts.cells, opts.genes, model["gene_dim"], opts.density)
        results = [run(root, v, model, settings, opts.threads) for v in opts.variants]
    header = list(results[0])
    print(f"{opts.cells} cells x {opts.genes} genes, model and settings of {opts.config}, {settings['max_steps']} "
          f"steps of {settings['micro_batch_size'] * settings['grad_accum']} cells, {opts.threads} torch threads, "
          "runs one after another")  # fmt: skip
    print(" | ".join(f"{h:>12}" for h in header))
    for row in results:
        print(" | ".join(f"{v:>12.4g}" if isinstance(v, float) else f"{v:>12}" for v in row.values()))
    print(f"total wall: {sum(r['wall s'] for r in results):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
