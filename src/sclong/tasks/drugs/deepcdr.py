"""DeepCDR's network in torch, its pair loaders and the training loop with early stopping on validation loss.

The network (DeepCDR's ``KerasMultiSourceGCNModel`` with expression as its only omics input, the setting
the paper uses; sizes as the paper and DeepCDR's code give them):

* drug: graph convolutions over the atoms (75-d ConvMol features), each ``H' = Â (H W + b)`` with
  ``Â = D^-1/2 (A + I) D^-1/2`` (DeepCDR's ``GraphConv`` over its normalised adjacency), then ReLU,
  batch norm and dropout 0.1; the last layer has 100 units; the atoms' mean (DeepCDR averages over its
  100 padded atom slots, padding included: here over the molecule's own atoms);
* cell line: expression (raw for the DeepCDR baseline, scLong per-gene values for the scLong variants)
  -> 256, tanh, batch norm, dropout 0.1 -> 100, ReLU;
* head: [drug; cell] -> Dense 300 (tanh), dropout 0.1, then as a 1-channel sequence of 300 values:
  Conv (30 filters, width 150) ReLU, max-pool 2, Conv (10, 5) ReLU, max-pool 3, Conv (5, 5) ReLU,
  max-pool 3, dropout 0.1, flatten, dropout 0.2, linear output (ln IC50).

Training (:func:`fit_and_test`): Adam, MSE loss, up to ``max_epochs``; after each epoch the validation
loss (MSE over the validation pairs) is computed; training stops when it has not improved for
``patience`` epochs and the weights of the best epoch are restored. Only then are the test pairs
predicted, once. Each epoch's train and validation loss and seconds go to a TSV file.
"""

from __future__ import annotations

import copy
import csv
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_mean_pool
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from sclong.progress import Progress

log = logging.getLogger(__name__)

CELL_HIDDEN = 256
BRANCH_DIM = 100
DENSE = 300
CONVS = ((30, 150, 2), (10, 5, 3), (5, 5, 3))  # (filters, width, max-pool size)
DROPOUT = 0.1
FINAL_DROPOUT = 0.2
HISTORY_COLUMNS = ("epoch", "train_loss", "validation_loss", "seconds")


def head_width() -> int:
    """Length of the flattened CNN output: ``filters x positions`` after the last pooling."""
    length = DENSE
    for _, width, pool in CONVS:
        length = (length - width + 1) // pool
    return CONVS[-1][0] * length


class GraphConv(nn.Module):
    """DeepCDR's graph convolution ``Â (H W + b)``; ``Â`` given as ``edge_index`` with self-loops and weights."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        h = self.linear(x)
        return torch.zeros_like(h).index_add_(0, edge_index[1], weight[:, None] * h[edge_index[0]])


class DeepCDR(nn.Module):
    """DeepCDR (module doc) for ``n_genes`` cell features and ``atom_dim`` atom features; ``gcn_units`` are
    the widths of the graph convolutions before the last (100-unit) one.
    ``forward(cells [B, n_genes], drugs: torch_geometric Batch) -> [B]``."""

    def __init__(self, n_genes: int, atom_dim: int, gcn_units: Sequence[int]) -> None:
        super().__init__()
        widths = [atom_dim, *gcn_units, BRANCH_DIM]
        self.convs = nn.ModuleList(GraphConv(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in widths[1:])
        self.dropout = nn.Dropout(DROPOUT)
        self.cell = nn.Sequential(
            nn.Linear(n_genes, CELL_HIDDEN), nn.Tanh(), nn.BatchNorm1d(CELL_HIDDEN), nn.Dropout(DROPOUT),
            nn.Linear(CELL_HIDDEN, BRANCH_DIM), nn.ReLU(),
        )  # fmt: skip
        layers: list[nn.Module] = [nn.Linear(2 * BRANCH_DIM, DENSE), nn.Tanh(), nn.Dropout(DROPOUT),
                                   nn.Unflatten(1, (1, DENSE))]  # fmt: skip
        channels = 1
        for filters, width, pool in CONVS:
            layers += [nn.Conv1d(channels, filters, width), nn.ReLU(), nn.MaxPool1d(pool)]
            channels = filters
        layers += [nn.Dropout(DROPOUT), nn.Flatten(), nn.Dropout(FINAL_DROPOUT), nn.Linear(head_width(), 1)]
        self.head = nn.Sequential(*layers)

    def drug_vectors(self, drugs: Batch) -> torch.Tensor:
        """The drug branch: [graphs, 100]."""
        x = drugs.x
        edge_index, weight = gcn_norm(drugs.edge_index, None, x.shape[0], add_self_loops=True)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = self.dropout(norm(torch.relu(conv(x, edge_index, weight))))
        return global_mean_pool(x, drugs.batch, size=drugs.num_graphs)

    def forward(self, cells: torch.Tensor, drugs: Batch) -> torch.Tensor:
        return self.head(torch.cat([self.drug_vectors(drugs), self.cell(cells)], dim=1)).squeeze(1)


@dataclass(frozen=True)
class PairSet:
    """Pairs as positions: ``cells`` rows of the feature matrix, ``drugs`` positions in the graph list."""

    cells: np.ndarray
    drugs: np.ndarray
    targets: np.ndarray


def pair_set(pairs: pd.DataFrame, rows: np.ndarray, cell_lines: pd.Index, drug_keys: Sequence[str]) -> PairSet:
    """The pairs table's ``rows`` (columns ``cell_line``, ``pubchem_cid``, ``ln_ic50``) as positions into
    ``cell_lines`` (the feature matrix's rows) and ``drug_keys`` (the graph list's order)."""
    part = pairs.iloc[rows]
    cells = cell_lines.get_indexer(part["cell_line"])
    drugs = pd.Index(drug_keys).get_indexer(part["pubchem_cid"])
    if (cells < 0).any() or (drugs < 0).any():
        raise ValueError("pairs name cell lines or drugs absent from the features or graphs")
    return PairSet(cells.astype(np.int64), drugs.astype(np.int64), part["ln_ic50"].to_numpy(np.float32))


def loader(
    pairs: PairSet, features: np.ndarray, graphs: Sequence[Data], batch_size: int, shuffle: bool, seed: int
) -> Iterable:
    """Batches ``(cells [B, n_genes], drugs Batch, targets [B])``; shuffled with ``seed`` when ``shuffle``."""
    table = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
    dataset = TensorDataset(torch.from_numpy(pairs.cells), torch.from_numpy(pairs.drugs),
                            torch.from_numpy(pairs.targets))  # fmt: skip

    def collate(items: list) -> tuple:
        cells, drugs, targets = (torch.stack(column) for column in zip(*items, strict=True))
        return table[cells], Batch.from_data_list([graphs[i] for i in drugs.tolist()]), targets

    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=collate, generator=generator)


@dataclass(frozen=True)
class TrainSettings:
    """``learning_rate`` (Adam), ``max_epochs``, ``patience`` (epochs without a better validation loss)."""

    learning_rate: float
    max_epochs: int
    patience: int


@dataclass(frozen=True)
class Fitted:
    """Test predictions (in the test loader's order), the best epoch, and the per-epoch history."""

    test_predictions: np.ndarray
    best_epoch: int
    history: pd.DataFrame


def predict(model: nn.Module, batches: Iterable, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Predictions and targets of every batch, in order, without gradients, in eval mode."""
    model.eval()
    predicted, measured = [], []
    with torch.no_grad():
        for cells, drugs, targets in batches:
            predicted.append(model(cells.to(device), drugs.to(device)).cpu().numpy())
            measured.append(targets.numpy())
    if not predicted:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
    return np.concatenate(predicted), np.concatenate(measured)


def fit_and_test(
    model: nn.Module,
    loaders: Mapping[str, Iterable],
    settings: TrainSettings,
    device: torch.device,
    history_path: Path,
) -> Fitted:
    """Train on ``loaders['train']`` with early stopping on ``loaders['validation']`` (module doc), restore the
    best epoch's weights, then predict ``loaders['test']`` once. The history goes to ``history_path``."""
    model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    best, best_epoch, best_state, wait = math.inf, 0, copy.deepcopy(model.state_dict()), 0
    rows = []
    history_path.parent.mkdir(parents=True, exist_ok=True)
    with history_path.open("w", newline="") as handle, Progress(settings.max_epochs, "deepcdr", "epochs") as bar:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(HISTORY_COLUMNS)
        for epoch in range(1, settings.max_epochs + 1):
            start = time.perf_counter()
            model.train()
            total, count = 0.0, 0
            for cells, drugs, targets in loaders["train"]:
                optimiser.zero_grad()
                loss = torch.nn.functional.mse_loss(model(cells.to(device), drugs.to(device)), targets.to(device))
                loss.backward()
                optimiser.step()
                total, count = total + loss.item() * len(targets), count + len(targets)
            predicted, measured = predict(model, loaders["validation"], device)
            validation = float(np.mean((predicted - measured) ** 2)) if len(measured) else math.nan
            row = (epoch, total / max(count, 1), validation, time.perf_counter() - start)
            rows.append(row)
            writer.writerow(row)
            handle.flush()
            bar.update(1)
            log.info("epoch %d: train loss %.4f, validation loss %.4f (%.1f s)", *row)
            if validation < best:
                best, best_epoch, best_state, wait = validation, epoch, copy.deepcopy(model.state_dict()), 0
            else:
                wait += 1
                if wait >= settings.patience:
                    log.info("early stop after epoch %d: no better validation loss for %d epochs", epoch, wait)
                    break
    if not math.isfinite(best):
        raise ValueError("the validation loss was never finite: no epoch to keep")
    model.load_state_dict(best_state)
    log.info("best epoch %d (validation loss %.4f); predicting the test pairs", best_epoch, best)
    predicted, _ = predict(model, loaders["test"], device)
    return Fitted(predicted, best_epoch, pd.DataFrame(rows, columns=list(HISTORY_COLUMNS)))
