"""Tiny model configurations and checkpoints shared by the model tests."""

from __future__ import annotations

from pathlib import Path

import torch

from sclong.model import EncoderConfig, ModelConfig, ScLong, save_model
from tests.train.synthetic import write_genes

N_GENES = 12
DIM = 16


def tiny_config(**overrides) -> ModelConfig:
    """12 genes, width 16, one-block encoders, top-5 to the large encoder."""
    small = {"depth": 1, "heads": 2, "dim_head": 8, "hidden": DIM, "nb_features": 16}
    settings = {
        "n_genes": N_GENES,
        "gene_dim": DIM,
        "expr_hidden": 8,
        "top_k": 5,
        "large": EncoderConfig(**{**small, "hidden": 24}),
        "mini": EncoderConfig(**small),
        "full": EncoderConfig(**small),
    }
    settings.update(overrides)
    return ModelConfig(**settings)


def tiny_graph(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gene2vec [12, 16] and a ring graph with random weights."""
    generator = torch.Generator().manual_seed(seed)
    gene2vec = torch.randn(N_GENES, DIM, generator=generator)
    source = torch.arange(N_GENES)
    edge_index = torch.stack([torch.cat([source, (source + 1) % N_GENES]), torch.cat([(source + 1) % N_GENES, source])])
    edge_weight = torch.rand(edge_index.shape[1], generator=generator)
    return gene2vec, edge_index, edge_weight


def tiny_model(seed: int = 0, **overrides) -> ScLong:
    torch.manual_seed(seed)
    return ScLong(tiny_config(**overrides), *tiny_graph(seed)).eval()


def tiny_cells() -> torch.Tensor:
    """3 cells x 12 genes, with zeros and ties."""
    generator = torch.Generator().manual_seed(1)
    values = torch.rand(3, N_GENES, generator=generator) * 10
    values[:, ::3] = 0.0
    values[0, 1] = values[0, 2] = 9.5
    return values


def save_tiny(directory: Path, model: ScLong) -> Path:
    """Save ``model`` as a checkpoint with a synthetic vocabulary and gene table of its genes."""
    vocabulary, gene_table = write_genes(directory.parent / f"{directory.name}-genes", model.config.n_genes)
    return save_model(directory, model, vocabulary=vocabulary, gene_table=gene_table)
