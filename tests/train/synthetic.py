"""A small synthetic corpus (cluster-specific gene programs, sparse, max 10 per cell) for training tests,
its gene files (Gene2vec matrix, GO graph, vocabulary, gene table) and the arguments of a run on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

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


class Knowledge(NamedTuple):
    """The gene files of a synthetic corpus."""

    gene2vec: Path
    go_graph: Path
    vocabulary: Path
    gene_table: Path


def gene_id(gene: int) -> str:
    return f"ENSG{gene:011d}"


def write_genes(out: Path, n_genes: int) -> tuple[Path, Path]:
    """Write ``vocabulary.tsv`` and a plain ``gene_table.tsv`` of genes ENSG00000000000...; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    ids = [gene_id(g) for g in range(n_genes)]
    table = out / "gene_table.tsv"
    rows = [f"{i}\tG{g}\tG{g}\tprotein_coding\t1\t{g + 1}\t\t" for g, i in enumerate(ids)]
    table.write_text("ensembl_gene_id\tsymbol\thgnc_symbol\tbiotype\tchromosome\tentrez\tprevious_symbols\t"
                     "alias_symbols\n" + "\n".join(rows) + "\n")  # fmt: skip
    vocabulary = out / "vocabulary.tsv"
    rows = [f"{g}\t{i}\tG{g}\tprotein_coding\t{g + 1}\t0\t0\t1\t0\t0" for g, i in enumerate(ids)]
    vocabulary.write_text("index\tensembl_id\tsymbol\tbiotype\tentrez\tnonzero_cells\ttop_expressed\t"
                          "protein_coding\tgo\tgene2vec\n" + "\n".join(rows) + "\n")  # fmt: skip
    return vocabulary, table


def write_knowledge(out: Path, n_genes: int = 48, dim: int = 16, seed: int = 0) -> Knowledge:
    """Write ``gene2vec.npy``, a ring-shaped GO graph TSV, the vocabulary and the gene table."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    gene2vec = out / "gene2vec.npy"
    np.save(gene2vec, rng.normal(size=(n_genes, dim)).astype(np.float32))
    graph = out / "go_graph.tsv"
    lines = [f"{g}\t{(g + 1) % n_genes}\t{gene_id(g)}\t{gene_id((g + 1) % n_genes)}\t0.5" for g in range(n_genes)]
    graph.write_text("source\ttarget\tsource_id\ttarget_id\tweight\n" + "\n".join(lines) + "\n")
    return Knowledge(gene2vec, graph, *write_genes(out, n_genes))


def train_settings(**changes: Any) -> dict[str, Any]:
    """Every key of the ``pretrain`` settings (less ``variants`` and ``threads``) for 60 steps of 8 cells."""
    settings = {
        "micro_batch_size": 8, "grad_accum": 1, "epochs": 1, "max_steps": 60, "max_lr": 1e-3, "min_lr": 1e-6,
        "first_cycle": 6, "cycle_mult": 2.0, "warmup": 2, "gamma": 0.9, "schedule_unit": "steps", "clip_norm": 1.0,
        "mask_prob": 0.15, "mask_token_prob": 0.9, "val_every": 20, "val_cells": None, "eval_batch_size": 16,
        "checkpoint_every": 7, "log_every": 1, "num_workers": 0, "seed": 0, "precision": "auto",
        "deterministic": True,
    }  # fmt: skip
    unknown = set(changes) - set(settings)
    assert not unknown, unknown
    return {**settings, **changes}


def pretrain_args(corpus: Path, knowledge: Knowledge, out: Path, variant: str = "sclong", **changes: Any) -> list[str]:
    """``sclong.train.pretrain`` arguments of a CPU run, one thread, :func:`train_settings` with ``changes``."""
    return [
        "--settings", json.dumps(train_settings(**changes)), "--model-config", model_config(), "--variant", variant,
        "--corpus", str(corpus), "--gene2vec", str(knowledge.gene2vec), "--go-graph", str(knowledge.go_graph),
        "--vocabulary", str(knowledge.vocabulary), "--gene-table", str(knowledge.gene_table), "--out", str(out),
        "--device", "cpu", "--threads", "1", "--no-progress", "--no-tensorboard",
    ]  # fmt: skip


def model_config(dim: int = 16, attention: str = "performer") -> str:
    """Inline JSON of a tiny model (one-layer encoders)."""
    small = {"depth": 1, "heads": 2, "dim_head": 8, "hidden": dim, "nb_features": 16, "attention": attention}
    large = {**small, "hidden": 32}
    return json.dumps(
        {"gene_dim": dim, "expr_hidden": 8, "top_k": 16, "large": large, "mini": small, "full": small}
    )
