"""A small synthetic corpus (cluster-specific gene programs, sparse, max 10 per cell) for training tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from sclong.io.shards import ShardWriter


def write_corpus(out: Path, n_cells: int = 192, n_genes: int = 48, n_val: int = 32, seed: int = 0) -> Path:
    """Write a corpus directory with ``train.npy``/``val.npy``; returns ``out``."""
    rng = np.random.default_rng(seed)
    programs = rng.gamma(1.0, 1.0, size=(4, n_genes)) * (rng.random((4, n_genes)) < 0.5)
    labels = rng.integers(0, 4, n_cells)
    counts = rng.poisson(programs[labels] * 3.0)
    values = np.log1p(counts).astype(np.float32)
    values[:, 0] = 0.0  # one all-zero gene: never masked
    values[0] = 0.0  # one empty cell: nothing to mask
    peak = values.max(axis=1, keepdims=True)
    values = np.where(peak > 0, values * 10.0 / np.maximum(peak, 1e-9), 0.0).astype(np.float32)
    cells = rng.permutation(n_cells)
    with ShardWriter(out, n_genes=n_genes, cells_per_shard=64) as writer:
        writer.add(sp.csr_matrix(values))
        writer.close(arrays={"train": np.sort(cells[n_val:]), "val": np.sort(cells[:n_val])})
    return out


def write_knowledge(out: Path, n_genes: int = 48, dim: int = 16, seed: int = 0) -> tuple[Path, Path]:
    """Write ``gene2vec.npy`` and a ring-shaped GO graph TSV; returns their paths."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    gene2vec = out / "gene2vec.npy"
    np.save(gene2vec, rng.normal(size=(n_genes, dim)).astype(np.float32))
    graph = out / "go_graph.tsv"
    lines = [
        f"{g}\t{(g + 1) % n_genes}\tENSG{g:011d}\tENSG{(g + 1) % n_genes:011d}\t0.5" for g in range(n_genes)
    ]
    graph.write_text("source\ttarget\tsource_id\ttarget_id\tweight\n" + "\n".join(lines) + "\n")
    return gene2vec, graph


def model_config(dim: int = 16, attention: str = "performer") -> str:
    """Inline JSON of a tiny model (one-layer encoders)."""
    small = {"depth": 1, "heads": 2, "dim_head": 8, "hidden": dim, "nb_features": 16, "attention": attention}
    large = {**small, "hidden": 32}
    return json.dumps(
        {"gene_dim": dim, "expr_hidden": 8, "top_k": 16, "large": large, "mini": small, "full": small}
    )
