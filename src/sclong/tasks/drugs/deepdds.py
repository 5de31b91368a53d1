"""The drug-combination networks: DeepDDS' GCNNet and the scLong model, in torch-geometric.

Both take the drug graphs of a whole screen as one torch-geometric ``Batch`` (78-d DeepDDS atoms, the
``deepdds`` scheme of :mod:`sclong.tasks.drugs.molecules`), the positions of each pair's two drugs in it,
and the pairs' cell-line vectors; they return two logits per pair (cross-entropy, class 1 = synergy).
The graph convolutions run once per drug of the batch and their pooled vectors are gathered per pair:
the same numbers as DeepDDS' per-pair graphs (its convolutions see one molecule at a time and hold no
dropout), at the cost of the screen's few dozen molecules instead of two per pair.

* :class:`DeepDDS` (``models/gcn.py`` of ``Sinwang404/DeepDDS``, branch ``master``): GCNConv 78-78-156-312
  with ReLU after each, global max pool, Linear 312-156 + ReLU + dropout, Linear 156-128 + dropout; drug 2
  goes through drug 1's layers (its code defines a second branch and never calls it: left out); the cell
  vector L2-normalised over genes, then Linear 954-512 + ReLU, 512-256 + ReLU, 256-128; the three 128-d
  vectors concatenated, Linear 384-512 + ReLU + dropout, 512-128 + ReLU + dropout, 128-2. Dropout 0.2 in
  its code. Its GCN training script: Adam at a constant 5e-4, batch 256, 1000 epochs, the pairs permuted
  once (:class:`~sclong.tasks.drugs.combination_train.PairLoader` reshuffles every epoch, seeded); the
  paper says the baselines shared the scLong model's optimisation settings: the task's config decides.
* :class:`ScLongCombination` (the paper's Methods, Supplementary Fig. 7): cell branch Linear n-512-256-128
  with ReLU after each (n = the cell inputs: 954 scLong per-gene values, see
  :func:`sclong.tasks.drugs.combination_data.cell_inputs`), not normalised; two separate GCNs (drug 1 and
  drug 2 each its own), GCNConv 78-1024-512-156 with ReLU after each and global max pooling (the pooling is
  not stated; DeepDDS' is used); [156; 156; 128] -> Linear 440-1024, 1024-512, 512-128, each + ReLU +
  dropout, then 128-2. scLong's public code instead keeps DeepDDS' GCNNet and feeds it the full 954 x 200
  representation (Linear 200-4 per gene): the paper's text is followed here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import GCNConv, global_max_pool

ATOM_DIM = 78
NetKind = Literal["deepdds", "sclong"]


class DrugGCN(nn.Module):
    """GCNConv layers of the given widths, ReLU after each, then global max pooling per molecule."""

    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))

    def forward(self, drugs: Batch) -> torch.Tensor:
        x = drugs.x
        for conv in self.convs:
            x = torch.relu(conv(x, drugs.edge_index))
        return global_max_pool(x, drugs.batch, size=drugs.num_graphs)


def mlp(widths: Sequence[int], dropout: float, last_activation: bool) -> nn.Sequential:
    """Linear layers of the given widths, each followed by ReLU and dropout (the last only if asked)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if last_activation or i < len(widths) - 2:
            layers.extend([nn.ReLU(), nn.Dropout(dropout)] if dropout else [nn.ReLU()])
    return nn.Sequential(*layers)


class DeepDDS(nn.Module):
    """DeepDDS' GCNNet (module docstring)."""

    def __init__(self, n_cell_inputs: int, dropout: float) -> None:
        super().__init__()
        self.gcn = DrugGCN([ATOM_DIM, ATOM_DIM, 2 * ATOM_DIM, 4 * ATOM_DIM])
        self.drug_fc = nn.Sequential(nn.Linear(4 * ATOM_DIM, 2 * ATOM_DIM), nn.ReLU(), nn.Dropout(dropout),
                                     nn.Linear(2 * ATOM_DIM, 128), nn.Dropout(dropout))  # fmt: skip
        self.cell = mlp([n_cell_inputs, 512, 256, 128], dropout=0.0, last_activation=False)
        self.head = mlp([3 * 128, 512, 128, 2], dropout=dropout, last_activation=False)

    def forward(self, drugs: Batch, drug1: torch.Tensor, drug2: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        pooled = self.gcn(drugs)
        x1, x2 = self.drug_fc(pooled[drug1]), self.drug_fc(pooled[drug2])
        cell = self.cell(F.normalize(cells, p=2, dim=1))
        return self.head(torch.cat([x1, x2, cell], dim=1))


class ScLongCombination(nn.Module):
    """The paper's scLong drug-combination model (module docstring)."""

    def __init__(self, n_cell_inputs: int, dropout: float) -> None:
        super().__init__()
        self.gcn1 = DrugGCN([ATOM_DIM, 1024, 512, 156])
        self.gcn2 = DrugGCN([ATOM_DIM, 1024, 512, 156])
        self.cell = mlp([n_cell_inputs, 512, 256, 128], dropout=0.0, last_activation=True)
        self.head = nn.Sequential(mlp([2 * 156 + 128, 1024, 512, 128], dropout=dropout, last_activation=True),
                                  nn.Linear(128, 2))  # fmt: skip

    def forward(self, drugs: Batch, drug1: torch.Tensor, drug2: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.gcn1(drugs)[drug1], self.gcn2(drugs)[drug2]
        return self.head(torch.cat([x1, x2, self.cell(cells)], dim=1))


def build(kind: NetKind, n_cell_inputs: int, dropout: float, seed: int) -> nn.Module:
    """A freshly initialised network of ``kind`` (torch's default initialisation, drawn with ``seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind == "deepdds":
            return DeepDDS(n_cell_inputs, dropout)
        return ScLongCombination(n_cell_inputs, dropout)
