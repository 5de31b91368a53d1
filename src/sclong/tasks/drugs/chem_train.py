"""Training of the chemical-perturbation networks (scLong's and DeepCE), shared by both.

* :class:`Profiles`: the profiles of one part of the split: each one's drug (a key of the graphs), cell-line
  and dose indices and its 978 true values. Batches carry a torch-geometric ``Batch`` of the drugs' graphs;
  the training batches are reshuffled every epoch with a generator seeded by the run's seed.
* :func:`fit`: MSE loss, Adam (torch defaults apart from the learning rate; DeepCE: 2e-4), ``epochs``
  epochs. After every epoch the validation profiles (drugs disjoint from training) are predicted and scored
  by ``selection``: ``pearson`` (the mean per-profile Pearson, higher is better) or ``rmse`` (lower), as
  DeepCE selects on its dev set; the weights of the best epoch (the earliest on ties) are kept.
* :func:`fit_and_test`: :func:`fit`, then the test profiles are predicted once, with the selected weights.
  No test value is seen before that.
* The per-epoch log (epoch, mean training loss, validation RMSE and Pearson, whether selected) is a table.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from sclong.tasks.drugs.l1000_metrics import per_profile_correlation, rmse

log = logging.getLogger(__name__)

Selection = Literal["pearson", "rmse"]
HISTORY_COLUMNS = ("epoch", "train_loss", "validation_rmse", "validation_pearson", "selected")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation of one network (module docstring)."""

    epochs: int
    batch_size: int
    learning_rate: float
    selection: Selection


@dataclass(frozen=True)
class Profiles:
    """One part's profiles: ``drugs`` (graph keys), ``cell`` and ``dose`` indices, ``values`` (n x genes)."""

    drugs: list[str]
    cell: np.ndarray
    dose: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.drugs)

    def batches(
        self, graphs: Mapping[str, object], batch_size: int, generator: torch.Generator | None, device: str
    ) -> Iterator[tuple[object, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(drug graphs, cell, dose, true values) per batch on ``device``; shuffled when a generator is given."""
        from torch_geometric.data import Batch

        order = torch.arange(len(self)) if generator is None else torch.randperm(len(self), generator=generator)
        for rows in order.split(batch_size):
            rows = rows.numpy()
            drugs = Batch.from_data_list([graphs[self.drugs[i]] for i in rows])
            cell = torch.as_tensor(self.cell[rows], dtype=torch.long)
            dose = torch.as_tensor(self.dose[rows], dtype=torch.long)
            tensors = (cell, dose, torch.as_tensor(self.values[rows]))
            yield (drugs.to(device), *(tensor.to(device) for tensor in tensors))


@dataclass(frozen=True)
class FitResult:
    """Test predictions of the selected weights, the selected epoch (1-based) and the per-epoch log."""

    test_predictions: np.ndarray
    best_epoch: int
    history: pd.DataFrame


def predict(
    model: nn.Module, profiles: Profiles, graphs: Mapping[str, object], batch_size: int, device: str
) -> np.ndarray:
    """Predictions (profiles x genes) in evaluation mode, without gradients."""
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(drugs, cell, dose).cpu().numpy() for drugs, cell, dose, _ in
                               profiles.batches(graphs, batch_size, None, device)])  # fmt: skip


def selection_score(true: np.ndarray, predicted: np.ndarray, selection: Selection) -> float:
    """Higher is better: the mean per-profile Pearson (constant profiles ignored; -inf if all are), or -RMSE."""
    if selection == "rmse":
        return -rmse(true, predicted)
    values = per_profile_correlation(true, predicted, "pearson")
    return float(np.nanmean(values)) if np.isfinite(values).any() else -np.inf


def fit(
    model: nn.Module,
    train: Profiles,
    validation: Profiles,
    graphs: Mapping[str, object],
    settings: TrainSettings,
    seed: int,
    device: str,
) -> tuple[int, pd.DataFrame]:
    """Train ``model`` and leave it holding the weights of the best validation epoch; (that epoch, log)."""
    if len(train) == 0 or len(validation) == 0:
        raise ValueError(f"training ({len(train)}) and validation ({len(validation)}) need profiles")
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    best, best_epoch, best_state, rows = -np.inf, 0, None, []
    for epoch in range(1, settings.epochs + 1):
        model.train()
        losses = []
        for drugs, cell, dose, true in train.batches(graphs, settings.batch_size, generator, device):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(drugs, cell, dose), true)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()) * len(cell))
        predicted = predict(model, validation, graphs, settings.batch_size, device)
        score = selection_score(validation.values, predicted, settings.selection)
        pearson = per_profile_correlation(validation.values, predicted, "pearson")
        rows.append([epoch, sum(losses) / len(train), rmse(validation.values, predicted),
                     float(np.nanmean(pearson)) if np.isfinite(pearson).any() else np.nan])  # fmt: skip
        if score > best or best_state is None:
            best, best_epoch, best_state = score, epoch, copy.deepcopy(model.state_dict())
        log.info("epoch %d/%d: train loss %.4f, validation RMSE %.4f, Pearson %.4f", epoch, settings.epochs,
                 *rows[-1][1:])  # fmt: skip
    model.load_state_dict(best_state)
    history = pd.DataFrame(rows, columns=list(HISTORY_COLUMNS[:-1]))
    history["selected"] = history["epoch"] == best_epoch
    log.info("selected epoch %d by validation %s", best_epoch, settings.selection)
    return best_epoch, history


def fit_and_test(
    model: nn.Module,
    parts: Mapping[str, Profiles],
    graphs: Mapping[str, object],
    settings: TrainSettings,
    seed: int,
    device: str,
) -> FitResult:
    """:func:`fit` on ``parts["train"]`` selecting on ``parts["validation"]``, then one prediction of the test."""
    best_epoch, history = fit(model, parts["train"], parts["validation"], graphs, settings, seed, device)
    return FitResult(predict(model, parts["test"], graphs, settings.batch_size, device), best_epoch, history)
