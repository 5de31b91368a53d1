"""The scLong chemical-perturbation model (METHODS.md, task 2; Fig. 3).

* Genes: the scLong gene vectors of the 978 landmark genes (the gene encoder's output, genes x its
  width) -> Linear -> ``width`` (the paper: 512, :data:`GENE_DIM`; smaller in the demo, for CPU time).
* Drug: the atoms' DeepCE features (62-d) through a 3-layer GCN (torch-geometric ``GCNConv``, 128-d,
  ReLU) -> Linear -> ``width`` per atom; the mean over atoms of the 128-d GCN output is the drug vector.
* 2 cross-attention layers x 4 heads: the genes query the atoms (padding masked); each layer adds the
  attention output to the genes and layer-normalises, then a feed-forward ``width`` -> ``feedforward_dim``
  -> ``width`` (ReLU, dropout), added and normalised.
* Head, per gene: [gene (512) ; drug vector (128) ; cell-line embedding (4) ; dose embedding (4)] = 648
  -> Linear -> ``hidden_dim`` -> ReLU -> Linear -> 1. MSE loss, Adam 2e-4 (:data:`LEARNING_RATE`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sclong.tasks.drugs.molecules import ATOM_DIMS

GENE_DIM = 512
GCN_DIM = 128
GCN_LAYERS = 3
N_LAYERS, N_HEADS = 2, 4
CONDITION_DIM = 4
HEAD_DIM = GENE_DIM + GCN_DIM + 2 * CONDITION_DIM  # at the paper's width
LEARNING_RATE = 2e-4


class DrugGCN(nn.Module):
    """3 GCN layers over the atoms' features -> per-atom 128-d vectors."""

    def __init__(self) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        sizes = [ATOM_DIMS["deepce"]] + [GCN_DIM] * GCN_LAYERS
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.relu(conv(x, edge_index))
        return x


class CrossAttentionLayer(nn.Module):
    """Genes query atoms; residual + LayerNorm; feed-forward; residual + LayerNorm."""

    def __init__(self, dim: int, heads: int, feedforward: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm_attention, self.norm_feedforward = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.feedforward = nn.Sequential(
            nn.Linear(dim, feedforward), nn.ReLU(), nn.Dropout(dropout), nn.Linear(feedforward, dim)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, genes: torch.Tensor, atoms: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        attended, _ = self.attention(genes, atoms, atoms, key_padding_mask=padding, need_weights=False)
        genes = self.norm_attention(genes + self.dropout(attended))
        return self.norm_feedforward(genes + self.dropout(self.feedforward(genes)))


class ChemPerturbationModel(nn.Module):
    """scLong gene vectors + drug graph + cell line + dose -> the landmark genes' values (module docstring)."""

    def __init__(
        self,
        gene_vectors: torch.Tensor,
        n_cells: int,
        n_doses: int,
        feedforward_dim: int,
        hidden_dim: int,
        dropout: float,
        width: int = GENE_DIM,
    ) -> None:
        super().__init__()
        self.register_buffer("gene_vectors", gene_vectors.float())
        self.gene_project = nn.Linear(gene_vectors.shape[1], width)
        self.gcn = DrugGCN()
        self.atom_project = nn.Linear(GCN_DIM, width)
        self.layers = nn.ModuleList(
            CrossAttentionLayer(width, N_HEADS, feedforward_dim, dropout) for _ in range(N_LAYERS)
        )
        self.cell_embed = nn.Embedding(n_cells, CONDITION_DIM)
        self.dose_embed = nn.Embedding(n_doses, CONDITION_DIM)
        head_dim = width + GCN_DIM + 2 * CONDITION_DIM
        self.head = nn.Sequential(nn.Linear(head_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, 1))

    def forward(self, drugs: object, cell: torch.Tensor, dose: torch.Tensor) -> torch.Tensor:
        """``drugs``: a Batch of B DeepCE-feature graphs; ``cell``, ``dose``: [B] indices -> [B, genes]."""
        from torch_geometric.nn import global_mean_pool
        from torch_geometric.utils import to_dense_batch

        atoms = self.gcn(drugs.x, drugs.edge_index)
        drug = global_mean_pool(atoms, drugs.batch, size=cell.shape[0])
        dense, mask = to_dense_batch(self.atom_project(atoms), drugs.batch, batch_size=cell.shape[0])
        genes = self.gene_project(self.gene_vectors).unsqueeze(0).expand(cell.shape[0], -1, -1)
        for layer in self.layers:
            genes = layer(genes, dense, ~mask)
        conditions = torch.cat([drug, self.cell_embed(cell), self.dose_embed(dose)], dim=-1)
        features = torch.cat([genes, conditions.unsqueeze(1).expand(-1, genes.shape[1], -1)], dim=-1)
        return self.head(features).squeeze(-1)
