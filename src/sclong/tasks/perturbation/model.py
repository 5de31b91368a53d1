"""The scLong perturbation model: frozen scLong representations + GEARS' perturbation embedding and decoder.

For a perturbed cell paired with a control cell (METHODS.md, DOWNSTREAM.md):

* ``r`` [genes, d]: the frozen backbone's representations (``representations`` output, d = the checkpoint's
  ``gene_dim``) of the control cell's measured genes; a measured gene outside the checkpoint's vocabulary
  gets a zero vector (their number is logged).
* ``p`` [d]: GEARS' perturbation embedding: a learned embedding of every perturbation-graph gene
  (``max_norm`` 1, as GEARS), propagated by ``go_layers`` SGConv layers over the GO graph of
  :mod:`.go_files`, summed over the condition's perturbed genes (zero for the control).
* ``h = MLP(ReLU(r + p))`` with ``mlp_sizes`` (paper 200-400-200; Linear + batch norm, ReLU between), then
  GEARS' decoder: a per-gene value ``w_g = h_g . W1_g + b1_g``, a cross-gene MLP of all ``w`` (genes ->
  H -> H, H = the last MLP size), and ``out_g = [w_g ; cross] . W2_g + b2_g``, added to the control
  cell's measured value.

Loss (GEARS' ``loss_fct``): for every distinct condition c of the batch with its n_c cells and genes K_c
(the genes with a non-zero mean in c; every gene for the control), ``sum |pred - y|^(2 + gamma) / (n_c |K_c|)
+ lambda sum (sign(y - ctrl) - sign(pred - ctrl))^2 / (n_c |K_c|)`` with ``ctrl`` the mean of all control
cells; the sum over conditions is divided by their number. Training as GEARS: Adam with weight decay, the
learning rate multiplied by ``lr_decay`` after every epoch, gradient values clipped at ``grad_clip``, full
batches only (its ``drop_last``), here with ``accumulation`` batches per optimiser step. After every epoch the
validation conditions are predicted; the epoch with the lowest validation ``mse_de`` is kept. The test
conditions' pairs are drawn and predicted only after training.

Representations are computed once per control cell (they depend only on the checkpoint and the control
cell) into a float16 memory-mapped store in a temporary directory of the job, reused by every seed of the
job, and streamed batch by batch: at Norman's size that is n_control x 5,045 x d values on disk, never in
memory, and one backbone pass per control cell instead of one per perturbed cell and epoch.
"""

from __future__ import annotations

import copy
import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sclong.errors import ConfigError
from sclong.progress import Progress
from sclong.tasks.perturbation.go_files import GoAnnotations, PertGraph, pert_graph
from sclong.tasks.perturbation.metrics import condition_metrics
from sclong.tasks.perturbation.screen import CONTROL, Pairs, Predictions, Screen, Split, pair_controls

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

LOG_COLUMNS = ("epoch", "train_loss", "val_mse_de", "val_pearson_delta_de", "seconds", "lr")
STORE_DTYPE = np.float16


@dataclass(frozen=True)
class ModelSettings:
    """The scLong perturbation model's block of the task settings (config ``tasks.genetic_perturbation.model``)."""

    epochs: int
    batch_size: int
    accumulation: int
    lr: float
    lr_decay: float
    weight_decay: float
    grad_clip: float
    autofocus_gamma: float
    direction_lambda: float
    mlp_sizes: list[int]
    go_top_k: int
    go_layers: int
    representation_batch_size: int
    eval_batch_size: int

    def __post_init__(self) -> None:
        key = "tasks.genetic_perturbation.model"
        for name in ("epochs", "batch_size", "accumulation", "go_top_k", "go_layers", "representation_batch_size",
                     "eval_batch_size"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{key}.{name}", "must be an integer >= 1")
        if self.batch_size < 2:
            raise ConfigError(f"{key}.batch_size", "must be >= 2 (batch norm needs two cells)")
        for name in ("lr", "grad_clip"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{key}.{name}", "must be > 0")
        if not 0 < self.lr_decay <= 1:
            raise ConfigError(f"{key}.lr_decay", "must be in (0, 1]")
        for name in ("weight_decay", "autofocus_gamma", "direction_lambda"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{key}.{name}", "must be >= 0")
        if len(self.mlp_sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in self.mlp_sizes):
            raise ConfigError(f"{key}.mlp_sizes", "must list at least two positive integers")


def _mlp(sizes: Sequence[int]) -> torch.nn.Sequential:
    """Linear + batch norm per layer, ReLU between layers (GEARS' MLP)."""
    import torch

    layers: list[torch.nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers += [torch.nn.Linear(n_in, n_out), torch.nn.BatchNorm1d(n_out)]
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def perturbation_head(n_genes: int, graph: PertGraph, settings: ModelSettings) -> torch.nn.Module:
    """The trainable model (module docstring) for ``n_genes`` measured genes and the perturbation graph."""
    import torch
    from torch_geometric.nn import SGConv

    edge_index, weight = graph.edge_arrays()
    sizes = settings.mlp_sizes
    hidden = sizes[-1]

    class PerturbationHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pert_emb = torch.nn.Embedding(len(graph.genes), sizes[0], max_norm=True)
            self.go_layers = torch.nn.ModuleList(SGConv(sizes[0], sizes[0], 1) for _ in range(settings.go_layers))
            self.register_buffer("edge_index", torch.from_numpy(edge_index))
            self.register_buffer("edge_weight", torch.from_numpy(weight))
            self.mlp = _mlp(sizes)
            self.w1 = torch.nn.Parameter(torch.empty(n_genes, hidden))
            self.b1 = torch.nn.Parameter(torch.zeros(n_genes))
            self.cross = _mlp([n_genes, hidden, hidden])
            self.w2 = torch.nn.Parameter(torch.empty(n_genes, hidden + 1))
            self.b2 = torch.nn.Parameter(torch.zeros(n_genes))
            torch.nn.init.xavier_normal_(self.w1)
            torch.nn.init.xavier_normal_(self.w2)

        def forward(self, reps: torch.Tensor, control: torch.Tensor, cells: torch.Tensor,
                    nodes: torch.Tensor) -> torch.Tensor:  # fmt: skip
            """``reps`` [B, G, d], ``control`` [B, G]; perturbed gene ``nodes[i]`` belongs to cell ``cells[i]``."""
            n_cells, n_genes, dim = reps.shape
            emb = self.pert_emb(torch.arange(len(graph.genes), device=reps.device))
            for i, layer in enumerate(self.go_layers):
                emb = layer(emb, self.edge_index, self.edge_weight)
                if i < len(self.go_layers) - 1:
                    emb = emb.relu()
            pert = reps.new_zeros(n_cells, dim).index_add(0, cells, emb[nodes])
            h = self.mlp(torch.relu(reps + pert[:, None, :]).reshape(n_cells * n_genes, dim))
            w = (h.reshape(n_cells, n_genes, -1) * self.w1).sum(-1) + self.b1
            cross = self.cross(w)[:, None, :].expand(n_cells, n_genes, -1)
            out = (torch.cat([w[..., None], cross], dim=-1) * self.w2).sum(-1) + self.b2
            return out + control

    return PerturbationHead()


def gears_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    conditions: np.ndarray,
    control_mean: torch.Tensor,
    kept_genes: dict[str, torch.Tensor],
    gamma: float,
    direction_lambda: float,
) -> torch.Tensor:
    """GEARS' autofocus + direction loss (module docstring); ``kept_genes`` maps each non-control condition
    to its genes with a non-zero mean."""
    import torch

    total = pred.new_zeros(())
    distinct = pd.unique(conditions)
    for condition in distinct:
        rows = torch.from_numpy(np.flatnonzero(conditions == condition)).to(pred.device)
        genes = kept_genes[condition] if condition != CONTROL else torch.arange(pred.shape[1], device=pred.device)
        p, y, c = pred[rows][:, genes], target[rows][:, genes], control_mean[genes]
        n = p.shape[0] * p.shape[1]
        total = total + (p - y).abs().pow(2 + gamma).sum() / n
        total = total + direction_lambda * (torch.sign(y - c) - torch.sign(p - c)).pow(2).sum() / n
    return total / len(distinct)


class RepresentationStore:
    """Frozen-backbone representations of every control cell's measured genes, in a float16 memmap.

    Built in a temporary directory that lives as long as the store; :meth:`get` reads the rows of some
    control cells.
    """

    def __init__(self, screen: Screen, checkpoint: Path, device: str, normalization: str, batch_size: int) -> None:
        from sclong.tasks.representations import load_model_cells, representation_batches

        cells = load_model_cells(checkpoint, screen.adata[screen.control_rows], device, normalization, screen.source)
        names = [str(name) for name in screen.adata.var_names]
        vocab = cells.genes.reindex(names)
        measured = np.flatnonzero(vocab.notna().to_numpy())
        n_missing = len(names) - len(measured)
        log.info("representations: %d of %d measured genes in the checkpoint's vocabulary; %d get a zero "
                 "representation", len(measured), len(names), n_missing)  # fmt: skip
        self.dim = cells.model.config.gene_dim
        self.n_missing = n_missing
        self.device = cells.device
        self.row_of = {int(row): i for i, row in enumerate(screen.control_rows)}
        shape = (len(screen.control_rows), len(names), self.dim)
        self._directory = tempfile.TemporaryDirectory(prefix="sclong-perturbation-")
        path = Path(self._directory.name) / "representations.npy"
        positions = vocab.iloc[measured].to_numpy(np.int64)
        rows = np.arange(len(screen.control_rows))
        with open(path, "wb") as handle, Progress(len(rows), "control-cell representations", "cells") as progress:
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(STORE_DTYPE)), "fortran_order": False,
                      "shape": shape}  # fmt: skip
            np.lib.format.write_array_header_1_0(handle, header)
            for batch in representation_batches(cells, rows, batch_size, positions):
                block = np.zeros((len(batch), len(names), self.dim), dtype=STORE_DTYPE)
                block[:, measured] = batch
                handle.write(block.tobytes())
                progress.update(len(batch))
        self.values = np.load(path, mmap_mode="r")  # written sequentially, mapped read-only: pages stay on disk
        del cells

    def get(self, control_rows: np.ndarray) -> np.ndarray:
        """Float32 representations [cells, genes, d] of the given control rows (screen rows)."""
        return self.values[[self.row_of[int(r)] for r in control_rows]].astype(np.float32)

    def close(self) -> None:
        """Remove the store's file."""
        del self.values
        self._directory.cleanup()


_STORES: dict[tuple, tuple[Screen, RepresentationStore]] = {}  # the screen is held so that its id stays unique


def control_representations(
    screen: Screen, checkpoint: Path, device: str, normalization: str, batch_size: int
) -> RepresentationStore:
    """The store of ``screen``'s control cells under ``checkpoint``, built once and reused by the next seeds
    of the job (the representations depend on the checkpoint and the control cells only). One store is
    kept: asking for another closes it."""
    key = (id(screen), screen.source, str(checkpoint), device, normalization)
    if key not in _STORES:
        for _, old in _STORES.values():
            old.close()
        _STORES.clear()
        _STORES[key] = (screen, RepresentationStore(screen, checkpoint, device, normalization, batch_size))
    return _STORES[key][1]


@dataclass
class ModelInputs:
    """Everything a batch needs besides the representation store."""

    screen: Screen
    nodes: dict[str, list[int]]
    kept_genes: dict[str, torch.Tensor]
    control_mean: torch.Tensor


def _dense(matrix, rows: np.ndarray) -> np.ndarray:
    block = matrix[rows]
    return np.asarray(block.toarray() if hasattr(block, "toarray") else block, dtype=np.float32)


def batch_tensors(inputs: ModelInputs, store: RepresentationStore, pairs: Pairs, index: np.ndarray) -> tuple:
    """Tensors (reps, control values, target values, cells, nodes) of the pairs ``index``."""
    import torch

    device = store.device
    controls = pairs.controls[index]
    conditions = pairs.conditions[index]
    cells = [i for i, c in enumerate(conditions) for _ in inputs.nodes[c]]
    nodes = [n for c in conditions for n in inputs.nodes[c]]
    return (
        torch.from_numpy(store.get(controls)).to(device),
        torch.from_numpy(_dense(inputs.screen.adata.X, controls)).to(device),
        torch.from_numpy(_dense(inputs.screen.adata.X, pairs.rows[index])).to(device),
        torch.tensor(cells, dtype=torch.long, device=device),
        torch.tensor(nodes, dtype=torch.long, device=device),
    )


def _chunks(n: int, size: int) -> Iterator[np.ndarray]:
    for start in range(0, n, size):
        yield np.arange(start, min(start + size, n))


def predict(model: torch.nn.Module, inputs: ModelInputs, store: RepresentationStore, pairs: Pairs,
            batch_size: int) -> Predictions:  # fmt: skip
    """Mean predicted expression per condition of ``pairs`` (model in eval mode, no gradients)."""
    import torch

    model.eval()
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    with torch.no_grad():
        for index in _chunks(len(pairs.rows), batch_size):
            reps, control, _, cells, nodes = batch_tensors(inputs, store, pairs, index)
            pred = model(reps, control, cells, nodes).double().cpu().numpy()
            for condition in pd.unique(pairs.conditions[index]):
                mask = pairs.conditions[index] == condition
                sums[condition] = sums.get(condition, 0.0) + pred[mask].sum(axis=0)
                counts[condition] = counts.get(condition, 0) + int(mask.sum())
    return {condition: sums[condition] / counts[condition] for condition in sums}


def validation_scores(screen: Screen, predictions: Predictions) -> tuple[float, float]:
    """Mean ``mse_de`` and ``pearson_delta_de`` over the predicted (validation) conditions."""
    control = screen.control_mean()
    scores = [condition_metrics(pred, screen.mean(c), control, screen.de_genes[c]) for c, pred in predictions.items()]
    return float(np.mean([s["mse_de"] for s in scores])), float(np.mean([s["pearson_delta_de"] for s in scores]))


def train_and_select(
    model: torch.nn.Module,
    inputs: ModelInputs,
    store: RepresentationStore,
    train: Pairs,
    val: Pairs,
    settings: ModelSettings,
    rng: np.random.Generator,
) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train on ``train``; return the model of the epoch with the lowest validation ``mse_de`` and the log."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=settings.lr_decay)
    n_batches = len(train.rows) // settings.batch_size
    if n_batches == 0:
        raise ConfigError("tasks.genetic_perturbation.model.batch_size",
                          f"is {settings.batch_size}, more than the {len(train.rows)} training cells")  # fmt: skip
    best, best_state, rows = np.inf, copy.deepcopy(model.state_dict()), []
    with Progress(settings.epochs * n_batches, "scLong perturbation fine-tune", "batches") as progress:
        for epoch in range(1, settings.epochs + 1):
            started, lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
            model.train()
            order = rng.permutation(len(train.rows))[: n_batches * settings.batch_size]
            losses = []
            optimizer.zero_grad()
            for step, index in enumerate(order.reshape(n_batches, settings.batch_size), start=1):
                reps, control, target, cells, nodes = batch_tensors(inputs, store, train, index)
                loss = gears_loss(model(reps, control, cells, nodes), target, train.conditions[index],
                                  inputs.control_mean, inputs.kept_genes, settings.autofocus_gamma,
                                  settings.direction_lambda)  # fmt: skip
                (loss / settings.accumulation).backward()
                losses.append(float(loss.detach()))
                if step % settings.accumulation == 0 or step == n_batches:
                    torch.nn.utils.clip_grad_value_(model.parameters(), settings.grad_clip)
                    optimizer.step()
                    optimizer.zero_grad()
                progress.update(1)
            scheduler.step()
            mse_de, pearson_delta_de = validation_scores(inputs.screen, predict(model, inputs, store, val,
                                                                                settings.eval_batch_size))  # fmt: skip
            rows.append((epoch, float(np.mean(losses)), mse_de, pearson_delta_de, time.perf_counter() - started, lr))
            log.info("epoch %d: train loss %.4g, validation mse_de %.4g, pearson_delta_de %.3f",
                     epoch, rows[-1][1], mse_de, pearson_delta_de)  # fmt: skip
            if mse_de < best:
                best, best_state = mse_de, copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return model, pd.DataFrame(rows, columns=list(LOG_COLUMNS))


def fit_predict_sclong(
    screen: Screen,
    split: Split,
    checkpoint: Path,
    go: GoAnnotations,
    settings: ModelSettings,
    seed: int,
    device: str,
    normalization: str,
) -> tuple[Predictions, pd.DataFrame]:
    """Train on ``split.train``, select on ``split.val`` (``mse_de``), predict ``split.test``; returns the
    predictions and the per-epoch training log (columns :data:`LOG_COLUMNS`)."""
    import torch

    if not split.val:
        raise ConfigError("tasks.genetic_perturbation", "the split has no validation condition to select on")
    conditions = [*split.train, *split.val, *split.test]
    perturbed = sorted({gene for c in conditions for gene in screen.perturbed(c)})
    graph = pert_graph(go, screen.genes, perturbed, settings.go_top_k)
    node = {gene: i for i, gene in enumerate(graph.genes)}
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    store = control_representations(screen, checkpoint, device, normalization, settings.representation_batch_size)
    if store.dim != settings.mlp_sizes[0]:
        raise ConfigError(
            "tasks.genetic_perturbation.model.mlp_sizes",
            f"starts with {settings.mlp_sizes[0]}; {checkpoint} has gene_dim {store.dim}",
        )
    inputs = ModelInputs(
        screen=screen,
        nodes={c: [node[g] for g in screen.perturbed(c)] for c in conditions},
        kept_genes={
            c: torch.from_numpy(np.flatnonzero(screen.mean(c) != 0)).to(store.device)
            for c in split.train
            if c != CONTROL
        },
        control_mean=torch.from_numpy(screen.control_mean().astype(np.float32)).to(store.device),
    )
    model = perturbation_head(len(screen.genes), graph, settings).to(store.device)
    train, val = pair_controls(screen, split.train, rng), pair_controls(screen, split.val, rng)
    model, training = train_and_select(model, inputs, store, train, val, settings, rng)
    test = pair_controls(screen, split.test, rng)
    predictions = predict(model, inputs, store, test, settings.eval_batch_size)
    return predictions, training
