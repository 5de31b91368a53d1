"""Real cells (celltypist sample), vocabularies (protein-coding genes of the full gene table; the demo gene
table's genes) and a tiny random scLong saved to disk."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import pandas as pd
import pytest
import torch

from sclong.knowledge.genes import PRIMARY_CHROMOSOMES, GeneTable, read_gene_table
from sclong.model import EncoderConfig, ModelConfig, ScLong, save_model

CELLS = "cells/celltypist_sample_counts.h5ad"
GENES = "genes/ensembl100_grch38_genes.tsv.gz"
DEMO_GENES = Path(__file__).resolve().parents[2] / "resources" / "demo" / "genes.tsv.gz"
DIM = 16


@pytest.fixture(scope="session")
def gene_table(shared_data: Path) -> GeneTable:
    return read_gene_table(shared_data / GENES)


@pytest.fixture(scope="session")
def vocabulary_path(gene_table: GeneTable, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every protein-coding gene on the primary assembly (19,941), in the vocabulary.tsv format."""
    frame = gene_table.frame
    genes = frame[(frame["biotype"] == "protein_coding") & frame["chromosome"].isin(PRIMARY_CHROMOSOMES)]
    return write_vocabulary(genes, tmp_path_factory.mktemp("vocab") / "vocabulary.tsv")


@pytest.fixture(scope="session")
def demo_gene_table() -> GeneTable:
    return read_gene_table(DEMO_GENES)


@pytest.fixture(scope="session")
def demo_vocabulary_path(demo_gene_table: GeneTable, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every gene of the demo gene table (2,000), as the demo's vocabulary holds them."""
    return write_vocabulary(demo_gene_table.frame, tmp_path_factory.mktemp("demo_vocab") / "vocabulary.tsv")


def write_vocabulary(genes: pd.DataFrame, path: Path) -> Path:
    """Gene table rows as a vocabulary.tsv, sorted by Ensembl ID."""
    genes = genes.sort_index()
    vocab = pd.DataFrame({
        "index": range(len(genes)), "ensembl_id": genes["ensembl_gene_id"].to_numpy(),
        "symbol": genes["display_symbol"].to_numpy(), "biotype": "protein_coding",
        "entrez": genes["entrez"].to_numpy(), "nonzero_cells": 0, "top_expressed": 0, "protein_coding": 1,
        "go": 0, "gene2vec": 0,
    })  # fmt: skip
    vocab.to_csv(path, sep="\t", index=False)
    return path


def tiny_model(n_genes: int, use_leg: bool = True) -> ScLong:
    torch.manual_seed(0)
    small = EncoderConfig(depth=1, heads=2, dim_head=8, hidden=DIM, nb_features=16)
    config = ModelConfig(n_genes=n_genes, gene_dim=DIM, expr_hidden=8, top_k=64, large=small, mini=small,
                         full=small, use_leg=use_leg)  # fmt: skip
    ring = torch.arange(n_genes)
    edges = torch.stack([ring, (ring + 1) % n_genes])
    return ScLong(config, torch.randn(n_genes, DIM), edges, torch.rand(n_genes)).eval()


@pytest.fixture(scope="session")
def checkpoint(vocabulary_path: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    n_genes = len(pd.read_csv(vocabulary_path, sep="\t"))
    return save_model(tmp_path_factory.mktemp("ckpt"), tiny_model(n_genes), vocabulary=vocabulary_path,
                      gene_table=shared_data / GENES)  # fmt: skip


@pytest.fixture(scope="session")
def celltypist(shared_data: Path) -> ad.AnnData:
    return ad.read_h5ad(shared_data / CELLS)


@pytest.fixture(scope="session")
def few_cells(celltypist: ad.AnnData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 6 celltypist cells (all genes) as an .h5ad."""
    path = tmp_path_factory.mktemp("cells") / "few.h5ad"
    celltypist[:6].copy().write_h5ad(path)
    return path
