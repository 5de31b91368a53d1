"""Per-element expression encoder and the reconstruction decoder."""

from __future__ import annotations

import torch
from torch import nn


class ExpressionEncoder(nn.Module):
    """Scalar value -> Linear(1, hidden) -> ReLU -> Linear(hidden, dim); [MASK] vector; LayerNorm.

    Masked positions get the learned ``mask_embedding`` instead of the MLP output (their value is
    never seen); the LayerNorm applies to every position.
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.mask_embedding = nn.Parameter(torch.randn(dim) * 0.02)
        self.norm = nn.LayerNorm(dim)

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``values`` [B, G] float, ``mask`` [B, G] bool -> [B, G, dim]."""
        x = self.mlp(values.unsqueeze(-1))
        x = torch.where(mask.unsqueeze(-1), self.mask_embedding.to(x.dtype), x)
        return self.norm(x)


class Decoder(nn.Module):
    """Representation [B, N, dim] -> one scalar per element.

    ``shared``: one Linear(dim -> 1) for every gene (public code). ``gene_specific``: a linear head
    per gene (weight [n_genes, dim], bias [n_genes]), applied in one vectorised product.
    """

    def __init__(self, dim: int, n_genes: int, gene_specific: bool) -> None:
        super().__init__()
        self.gene_specific = gene_specific
        if gene_specific:
            self.weight = nn.Parameter(torch.randn(n_genes, dim) * dim**-0.5)
            self.bias = nn.Parameter(torch.zeros(n_genes))
        else:
            self.linear = nn.Linear(dim, 1)

    def forward(self, representations: torch.Tensor, genes: torch.Tensor | None = None) -> torch.Tensor:
        """``genes`` [B, N] gives each element's gene index (``None``: element n is gene n)."""
        if not self.gene_specific:
            return self.linear(representations).squeeze(-1)
        if genes is None:
            return (representations * self.weight).sum(-1) + self.bias
        return (representations * self.weight[genes]).sum(-1) + self.bias[genes]
