"""Gene encoder: a trainable Gene2vec table refined by one GCN layer over the GO gene graph."""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import SGConv


class GeneEncoder(nn.Module):
    """Gene vectors [n_genes, dim] for every gene, computed once per forward.

    With ``use_go`` the vectors are ``SGConv(K=1)`` (Kipf-Welling normalisation
    D^-1/2 (A + I) D^-1/2 with the edge weights, then a linear map) applied to the trainable table
    initialised from Gene2vec; without it they are the table itself and there is no GCN. The graph is
    kept as buffers (``edge_index`` [2, E] int64, ``edge_weight`` [E] float) so a checkpoint carries it.
    """

    def __init__(
        self, gene2vec: torch.Tensor, edge_index: torch.Tensor, edge_weight: torch.Tensor, use_go: bool
    ) -> None:
        super().__init__()
        n_genes, dim = gene2vec.shape
        self.gene2vec = nn.Parameter(gene2vec.detach().clone().float())
        self.gcn = SGConv(dim, dim, K=1) if use_go else None
        self.register_buffer("edge_index", edge_index.detach().clone().long())
        self.register_buffer("edge_weight", edge_weight.detach().clone().float())
        if use_go and edge_index.numel() and not edge_index.is_meta and int(edge_index.max()) >= n_genes:
            raise ValueError(f"edge_index refers to gene {int(edge_index.max())} of {n_genes}")

    def forward(self) -> torch.Tensor:
        """[n_genes, dim] gene vectors."""
        if self.gcn is None:
            return self.gene2vec
        return self.gcn(self.gene2vec, self.edge_index, self.edge_weight)
