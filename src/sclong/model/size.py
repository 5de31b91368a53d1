"""Build a model without allocating memory, and count its parameters per component."""

from __future__ import annotations

import torch

from sclong.model.config import ModelConfig
from sclong.model.sclong import ScLong


def build_meta_model(config: ModelConfig, n_edges: int = 0) -> ScLong:
    """A :class:`ScLong` on the meta device (shapes only), e.g. to size the paper's 1B model."""
    with torch.device("meta"):
        return ScLong(
            config,
            torch.empty(config.n_genes, config.gene_dim),
            torch.empty(2, n_edges, dtype=torch.long),
            torch.empty(n_edges),
        )


def count_parameters(config: ModelConfig) -> dict[str, int]:
    """Trainable parameters per top-level component and their ``total``."""
    model = build_meta_model(config)
    counts = {name: sum(p.numel() for p in child.parameters()) for name, child in model.named_children()}
    counts.update({name: p.numel() for name, p in model.named_parameters(recurse=False)})
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts
