"""Training of the drug-combination networks: batches of pairs, model selection on validation AUROC, one test.

* :class:`PairLoader`: the pairs of one split as index tensors (drug 1, drug 2 = positions in the
  screen's drug ``Batch``; cell = row of the cell-input matrix) and labels, in batches; the training loader
  reshuffles every epoch with its own seeded generator, the others keep their order.
* :func:`fit`: Adam (torch defaults: betas 0.9/0.999, eps 1e-8, no weight decay), cross-entropy. The
  learning rate per epoch (:func:`learning_rate`): linear warm-up from ``lr / warmup_epochs`` to ``lr`` over
  ``warmup_epochs``, then linear to ``final_lr`` at the last epoch (the paper's scLong setting: 1e-4, 50,
  1e-5); ``warmup_epochs`` 0 and ``final_lr == lr`` give DeepDDS' constant rate. Every ``eval_every``
  epochs (and after the last) the validation AUROC is computed; the weights of the best one (the earliest
  on ties) are kept. The test loader is read once, after training, with those weights: DeepDDS' code
  picks its epoch by the test AUC, which this loop cannot do.
* Per-epoch history (epoch, learning rate, mean training loss, validation AUROC) is returned for the task to
  write; progress is logged as epochs go.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Batch

from sclong.progress import Progress
from sclong.tasks.drugs.combination_data import auroc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairBatch:
    """One batch: drug positions, cell inputs and labels of its pairs."""

    drug1: torch.Tensor
    drug2: torch.Tensor
    cells: torch.Tensor
    label: torch.Tensor


class PairLoader:
    """Batches of one split's pairs (module docstring); ``seed`` ``None``: no shuffling."""

    def __init__(
        self,
        pairs: pd.DataFrame,
        drugs: list[str],
        cell_inputs: pd.DataFrame,
        batch_size: int,
        seed: int | None,
    ) -> None:
        drug_position = {smiles: i for i, smiles in enumerate(drugs)}
        self.drug1 = torch.tensor([drug_position[s] for s in pairs["drug1"]], dtype=torch.long)
        self.drug2 = torch.tensor([drug_position[s] for s in pairs["drug2"]], dtype=torch.long)
        self.cell = torch.as_tensor(cell_inputs.index.get_indexer(pairs["cell"]), dtype=torch.long)
        if (self.cell < 0).any():
            raise ValueError("a pair's cell line has no row in the cell inputs")
        self.cells = torch.as_tensor(cell_inputs.to_numpy(dtype=np.float32))
        self.label = torch.as_tensor(pairs["label"].to_numpy(dtype=np.int64))
        self.batch_size = batch_size
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.label)

    def __iter__(self) -> Iterator[PairBatch]:
        order = torch.arange(len(self))
        if self.generator is not None:
            order = torch.randperm(len(self), generator=self.generator)
        for rows in order.split(self.batch_size):
            yield PairBatch(self.drug1[rows], self.drug2[rows], self.cells[self.cell[rows]], self.label[rows])


@dataclass(frozen=True)
class FitSettings:
    """Optimisation of one drug-combination network (see the module docstring)."""

    epochs: int
    lr: float
    warmup_epochs: int
    final_lr: float
    eval_every: int


@dataclass(frozen=True)
class FitResult:
    """The test predictions of the selected weights and how they were selected."""

    test_labels: np.ndarray
    test_scores: np.ndarray  # softmax probability of class 1
    best_epoch: int  # 1-based
    best_validation_auroc: float
    history: pd.DataFrame  # epoch, lr, train_loss, validation_auroc (NaN where not evaluated)


def learning_rate(settings: FitSettings, epoch: int) -> float:
    """The learning rate of 0-based ``epoch`` (linear warm-up, then linear to ``final_lr``)."""
    if epoch < settings.warmup_epochs:
        return settings.lr * (epoch + 1) / settings.warmup_epochs
    span = settings.epochs - 1 - settings.warmup_epochs
    done = (epoch - settings.warmup_epochs) / span if span > 0 else 1.0
    return settings.lr + (settings.final_lr - settings.lr) * done


def predict(model: nn.Module, drugs: Batch, loader: PairLoader, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and class-1 probabilities of every pair of ``loader`` (evaluation mode, no gradients)."""
    model.eval()
    labels, scores = [], []
    with torch.no_grad():
        for batch in loader:
            logits = model(drugs, batch.drug1.to(device), batch.drug2.to(device), batch.cells.to(device))
            scores.append(torch.softmax(logits, dim=1)[:, 1].cpu().numpy())
            labels.append(batch.label.numpy())
    return np.concatenate(labels), np.concatenate(scores)


def fit(
    model: nn.Module,
    drugs: Batch,
    train: PairLoader,
    validation: PairLoader,
    test: PairLoader,
    settings: FitSettings,
    seed: int,
    device: str,
) -> FitResult:
    """Train ``model`` on ``train``, keep the weights of the best validation AUROC, then predict ``test`` once."""
    torch.manual_seed(seed)
    model, drugs = model.to(device), drugs.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    best_auroc, best_epoch, best_state = -np.inf, 0, copy.deepcopy(model.state_dict())
    rows = []
    with Progress(settings.epochs, "drug combination training", "epochs") as progress:
        for epoch in range(settings.epochs):
            lr = learning_rate(settings, epoch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            model.train()
            total = 0.0
            for batch in train:
                logits = model(drugs, batch.drug1.to(device), batch.drug2.to(device), batch.cells.to(device))
                loss = F.cross_entropy(logits, batch.label.to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(batch.label)
            value = np.nan
            if (epoch + 1) % settings.eval_every == 0 or epoch + 1 == settings.epochs:
                value = auroc(*predict(model, drugs, validation, device))
                if value is None:
                    raise ValueError("the validation split holds one class only: its AUROC cannot select a model")
                if value > best_auroc:
                    best_auroc, best_epoch, best_state = value, epoch + 1, copy.deepcopy(model.state_dict())
                log.info("epoch %d: train loss %.4f, validation AUROC %.4f", epoch + 1, total / len(train), value)
            rows.append({"epoch": epoch + 1, "lr": lr, "train_loss": total / len(train), "validation_auroc": value})
            progress.update(1)
    model.load_state_dict(best_state)
    labels, scores = predict(model, drugs, test, device)
    log.info("selected epoch %d (validation AUROC %.4f); test predicted once", best_epoch, best_auroc)
    return FitResult(labels, scores, best_epoch, float(best_auroc), pd.DataFrame(rows))
