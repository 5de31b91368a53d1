"""The DeepCE baseline (Pham et al. 2021) in torch, as its public code (``models/deepce.py``,
``neural_fingerprint.py``, ``graph_degree_conv.py``, ``drug_gene_attention.py``) defines it.

* Drug encoder, the neural fingerprint: atoms start from the 62-d DeepCE features (bonds 6-d). Each of
  the ``conv_sizes`` layers (DeepCE: 16, 16) computes, per atom, W_self h + W_deg (sum over neighbours of
  [h_neighbour ; bond]) + b, with one W_deg per degree 0-5 (degree 0: no neighbour term), then batch
  normalisation without affine parameters and ReLU. Every layer's input and the last output go through
  their own Linear -> softmax over the 128 features; the per-atom sum of those softmaxes is the atom's
  embedding (padded per molecule, with a mask).
* Genes: the gene feature matrix (genes x input dim; DeepCE's ``gene_vector.csv``) -> Linear -> 128.
* Drug-gene attention, 2 layers x 4 heads: in each layer the genes attend to the atoms (padding masked)
  and to each other; the two results are concatenated -> Linear 256 -> 128 -> ReLU, added to the input
  and layer-normalised; then a position-wise feed-forward 128 -> 512 -> 128 (ReLU, dropout), added and
  normalised with the same LayerNorm; a final Linear 128 -> 128.
* Head, per gene: [attention output ; drug embedding (sum over atoms) ; cell line (one-hot 7 -> Linear
  -> 4) ; dose (one-hot 6 -> Linear -> 4)] -> ReLU -> Linear 264 -> 128 -> ReLU -> Linear -> 1.
* Initialisation as its code: outside the attention block, Xavier-uniform for every parameter with more
  than one dimension and zeros for the others. DeepCE trains with MSE and Adam, learning rate 2e-4
  (:data:`LEARNING_RATE`); its pert-type embedding is unused with ``trt_cp`` alone and left out.
* ``width`` (DeepCE: 128, the default) replaces every 128 above but the head's hidden layer, and the
  feed-forward is 4 x ``width``: the demo runs it narrower, as the 978 x 978 gene self-attention at 128-d
  costs seconds per batch on two CPU cores; the paper config keeps DeepCE's 128.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sclong.tasks.drugs.molecules import ATOM_DIMS, BOND_DIM

EMBED_DIM = 128
CONV_SIZES = (16, 16)
DEGREES = tuple(range(6))
N_LAYERS, N_HEADS, FEEDFORWARD_DIM = 2, 4, 512
CONDITION_DIM = 4
HIDDEN_DIM = 128
LEARNING_RATE = 2e-4


class GraphDegreeConv(nn.Module):
    """One neural-fingerprint convolution: a separate neighbour weight per atom degree."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.self_linear = nn.Linear(in_dim, out_dim, bias=False)
        self.degree_linear = nn.ModuleList(nn.Linear(in_dim + BOND_DIM, out_dim, bias=False) for _ in DEGREES)
        self.bias = nn.Parameter(torch.zeros(1, out_dim))
        self.normalize = nn.BatchNorm1d(out_dim, affine=False)

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        source, target = edge_index
        summed = torch.zeros(h.shape[0], h.shape[1] + BOND_DIM, dtype=h.dtype, device=h.device)
        summed.index_add_(0, target, torch.cat([h[source], edge_attr], dim=1))
        degree = torch.bincount(target, minlength=h.shape[0])
        if degree.numel() and int(degree.max()) > DEGREES[-1]:
            raise ValueError(f"an atom has degree {int(degree.max())}; DeepCE's fingerprint covers degrees 0-5")
        neighbours = torch.zeros(h.shape[0], self.bias.shape[1], dtype=h.dtype, device=h.device)
        for d in DEGREES[1:]:
            atoms = degree == d
            if atoms.any():
                neighbours[atoms] = self.degree_linear[d](summed[atoms])
        return F.relu(self.normalize(self.self_linear(h) + neighbours + self.bias))


class NeuralFingerprint(nn.Module):
    """Per-atom DeepCE embeddings: the sum over layers of softmax(Linear(atom representation))."""

    def __init__(self, conv_sizes: Sequence[int] = CONV_SIZES, out_dim: int = EMBED_DIM) -> None:
        super().__init__()
        sizes = [ATOM_DIMS["deepce"], *conv_sizes]
        self.convs = nn.ModuleList(GraphDegreeConv(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.outputs = nn.ModuleList(nn.Linear(size, out_dim) for size in sizes)

    def forward(self, batch: object) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch``: a torch-geometric Batch of DeepCE graphs -> (atoms [B, max atoms, out], mask [B, max atoms])."""
        from torch_geometric.utils import to_dense_batch

        h = batch.x
        activations = torch.softmax(self.outputs[0](h), dim=-1)
        for conv, output in zip(self.convs, self.outputs[1:], strict=True):
            h = conv(h, batch.edge_index, batch.edge_attr)
            activations = activations + torch.softmax(output(h), dim=-1)
        return to_dense_batch(activations, batch.batch)


class DrugGeneAttentionLayer(nn.Module):
    """Genes attend to the atoms and to each other; concatenation -> Linear -> ReLU; feed-forward."""

    def __init__(self, dim: int, heads: int, feedforward: int, dropout: float) -> None:
        super().__init__()
        self.cross = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.self_attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.merge = nn.Linear(2 * dim, dim)
        self.feedforward = nn.Sequential(
            nn.Linear(dim, feedforward), nn.ReLU(), nn.Dropout(dropout), nn.Linear(feedforward, dim)
        )
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, genes: torch.Tensor, atoms: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        to_atoms, _ = self.cross(genes, atoms, atoms, key_padding_mask=padding, need_weights=False)
        to_genes, _ = self.self_attention(genes, genes, genes, need_weights=False)
        genes = self.norm(genes + self.dropout(F.relu(self.merge(torch.cat([to_atoms, to_genes], dim=-1)))))
        return self.norm(genes + self.dropout(self.feedforward(genes)))


class DeepCE(nn.Module):
    """DeepCE: drug graph + cell line + dose -> the 978 landmark genes' values (module docstring)."""

    def __init__(
        self, gene_features: torch.Tensor, n_cells: int, n_doses: int, dropout: float, width: int = EMBED_DIM
    ) -> None:
        super().__init__()
        self.register_buffer("gene_features", gene_features.float())
        self.n_cells, self.n_doses = n_cells, n_doses
        self.fingerprint = NeuralFingerprint(out_dim=width)
        self.gene_embed = nn.Linear(gene_features.shape[1], width)
        feedforward = FEEDFORWARD_DIM * width // EMBED_DIM
        self.attention = nn.ModuleList(
            DrugGeneAttentionLayer(width, N_HEADS, feedforward, dropout) for _ in range(N_LAYERS)
        )
        self.attention_out = nn.Linear(width, width)
        self.cell_embed = nn.Linear(n_cells, CONDITION_DIM)
        self.dose_embed = nn.Linear(n_doses, CONDITION_DIM)
        self.head = nn.Sequential(
            nn.Linear(2 * width + 2 * CONDITION_DIM, HIDDEN_DIM), nn.ReLU(), nn.Linear(HIDDEN_DIM, 1)
        )
        for name, parameter in self.named_parameters():
            if name.startswith(("attention.", "attention_out.")):
                continue
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)
            else:
                nn.init.zeros_(parameter)

    def forward(self, drugs: object, cell: torch.Tensor, dose: torch.Tensor) -> torch.Tensor:
        """``drugs``: a Batch of B DeepCE graphs; ``cell``, ``dose``: [B] indices -> predictions [B, genes]."""
        atoms, mask = self.fingerprint(drugs)
        drug = atoms.sum(dim=1)
        genes = self.gene_embed(self.gene_features).unsqueeze(0).expand(atoms.shape[0], -1, -1)
        for layer in self.attention:
            genes = layer(genes, atoms, ~mask)
        genes = self.attention_out(genes)
        conditions = torch.cat(
            [
                drug,
                self.cell_embed(F.one_hot(cell, self.n_cells).to(drug.dtype)),
                self.dose_embed(F.one_hot(dose, self.n_doses).to(drug.dtype)),
            ],
            dim=-1,
        )
        features = torch.cat([genes, conditions.unsqueeze(1).expand(-1, genes.shape[1], -1)], dim=-1)
        return self.head(F.relu(features)).squeeze(-1)
