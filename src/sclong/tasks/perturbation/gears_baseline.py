"""GEARS itself (PyPI ``cell-gears``) on the task's split and DE genes, offline, on the configured device.

* Data path: the files GEARS would download (``gene2go_all.pkl``, ``essential_all_data_pert_genes.pkl``,
  its GO edge table) are written by :func:`sclong.tasks.perturbation.go_files.write_gears_files` from the
  workflow's GO sources, so that ``PertData`` and ``model_initialize`` find "local copies" and GEARS builds
  its perturbation graph (top ``go_top_k + 1`` sources per gene) and its co-expression graph itself.
* Screen: handed to ``PertData.new_data_process(skip_calc_de=True)`` with ``uns`` filled from the task's own
  DE genes, keyed by GEARS' ``condition_name`` (``<cell_type>_<condition>_<dose>``):
  ``rank_genes_groups_cov_all`` (GEARS' loaders take its top 20 for their ``mse_de``) and
  ``top_non_dropout_de_20`` both hold the screen's top-20 non-dropout DE genes, and ``non_zeros_gene_idx`` the
  genes with a non-zero condition mean (GEARS' loss filter). GEARS pairs each perturbed cell with a random
  control cell from NumPy's global generator when it processes a dataset, once per data path (its
  ``cell_graphs.pkl``, reused by every later run there); here too: the first seed of a job processes the
  screen with NumPy seeded :data:`PAIRING_SEED`, later seeds in the same ``workdir`` load it, so that a seed's
  result does not depend on which seeds ran before it. The run's seed draws the model's initialisation and
  the batch order. Its X is a CSR matrix that
  also takes a pandas row mask (:func:`_series_indexable`: cell-gears 0.1.2 against SciPy >= 1.15).
* Split: GEARS' ``custom`` split file written from the task's :class:`Split`.
* Training: ``GEARS.train`` unchanged (Adam, weight decay, lr halved per epoch, gradient values clipped at 1,
  best epoch by validation ``mse_de``). The test loader is withheld from GEARS (it would evaluate the test set
  at the end of ``train``); the selected model predicts it afterwards with GEARS' ``evaluate``, and the
  predictions are the mean predicted profile of each test condition's cells.
* Log: per epoch, the mean training loss of GEARS' steps and the validation ``mse_de``/``pearson_delta_de``
  of its validation pass, recorded by wrapping the two functions ``GEARS.train`` calls for them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pickle
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.errors import ConfigError
from sclong.tasks.perturbation.go_files import GoAnnotations, pert_graph, write_gears_files
from sclong.tasks.perturbation.model import LOG_COLUMNS, validation_scores
from sclong.tasks.perturbation.reader import gears_dose
from sclong.tasks.perturbation.screen import CONTROL, Predictions, Screen, Split

log = logging.getLogger(__name__)

DATASET = "screen"
STAMP = "sclong_screen.json"
PAIRING_SEED = 0
GEARS_LR_DECAY = 0.5  # GEARS.train: StepLR(step_size=1, gamma=0.5)


@dataclass(frozen=True)
class GearsSettings:
    """The GEARS baseline's block of the task settings (config ``tasks.genetic_perturbation.gears``)."""

    epochs: int
    batch_size: int
    eval_batch_size: int
    lr: float
    weight_decay: float
    hidden_size: int
    go_top_k: int
    direction_lambda: float

    def __post_init__(self) -> None:
        key = "tasks.genetic_perturbation.gears"
        for name in ("epochs", "batch_size", "eval_batch_size", "hidden_size", "go_top_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{key}.{name}", "must be an integer >= 1")
        if not self.lr > 0:
            raise ConfigError(f"{key}.lr", "must be > 0")
        for name in ("weight_decay", "direction_lambda"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{key}.{name}", "must be >= 0")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when available, else ``cpu``; other values unchanged (GEARS defaults to cuda)."""
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def gears_adata(screen: Screen, conditions: list[str]):
    """The cells of ``conditions`` in the AnnData layout GEARS' ``PertData`` reads, with the task's DE genes."""
    import anndata as ad
    import scipy.sparse as sp

    rows = np.flatnonzero(np.isin(screen.conditions, conditions))
    names = np.asarray(screen.adata.var_names).astype(str)
    cell_type = screen.adata.obs["cell_type"].astype(str).to_numpy()[rows]
    obs = pd.DataFrame({"condition": screen.conditions[rows].astype(str), "cell_type": cell_type},
                       index=[f"cell{i}" for i in rows])  # fmt: skip
    key = {c: f"{cell_type[0]}_{c}_{gears_dose(c)}" for c in conditions}  # GEARS' condition_name
    de = {key[c]: names[screen.de_genes[c]] for c in conditions if c != CONTROL}
    uns = {
        "rank_genes_groups_cov_all": de,
        "top_non_dropout_de_20": de,
        "non_zeros_gene_idx": {key[c]: np.flatnonzero(screen.mean(c) != 0) for c in conditions},
    }
    matrix = sp.csr_matrix(screen.adata.X[rows], dtype=np.float32)
    return ad.AnnData(X=matrix, obs=obs, var=pd.DataFrame({"gene_name": screen.genes}, index=names), uns=uns)


def _series_indexable(matrix):
    """``matrix`` as a CSR matrix that also takes a pandas boolean Series as row key.

    ``GEARS.__init__`` selects its control cells with ``adata.X[adata.obs.condition == 'ctrl']``, which SciPy
    >= 1.15 refuses for a sparse matrix ('Series' object has no attribute 'nonzero'); this subclass passes such
    a key on as its NumPy array and changes nothing else.
    """
    import scipy.sparse as sp

    class SeriesIndexableCSR(sp.csr_matrix):
        def __getitem__(self, key):
            return super().__getitem__(key.to_numpy() if isinstance(key, pd.Series) else key)

    return SeriesIndexableCSR(matrix)


@contextlib.contextmanager
def _recorded_training(module, val_loader, screen: Screen, settings: GearsSettings) -> Iterator[list[tuple]]:
    """Record GEARS' step losses and validation passes during ``GEARS.train`` into per-epoch log rows."""
    loss_fct, evaluate = module.loss_fct, module.evaluate
    rows: list[tuple] = []
    losses: list[float] = []
    started = [time.perf_counter()]

    def recording_loss(*args, **kwargs):
        loss = loss_fct(*args, **kwargs)
        losses.append(float(loss))
        return loss

    def recording_evaluate(loader, *args, **kwargs):
        result = evaluate(loader, *args, **kwargs)
        if loader is val_loader:
            mse_de, pearson_delta_de = validation_scores(screen, _condition_means(result))
            epoch = len(rows) + 1
            rows.append((epoch, float(np.mean(losses)), mse_de, pearson_delta_de,
                         time.perf_counter() - started[0], settings.lr * GEARS_LR_DECAY ** (epoch - 1)))  # fmt: skip
            log.info("GEARS epoch %d: train loss %.4g, validation mse_de %.4g, pearson_delta_de %.3f",
                     epoch, rows[-1][1], mse_de, pearson_delta_de)  # fmt: skip
            losses.clear()
            started[0] = time.perf_counter()
        return result

    module.loss_fct, module.evaluate = recording_loss, recording_evaluate
    try:
        yield rows
    finally:
        module.loss_fct, module.evaluate = loss_fct, evaluate


def _condition_means(result: dict) -> Predictions:
    """Mean predicted profile per condition of GEARS' ``evaluate`` output (``pred``, ``pert_cat``)."""
    frame = pd.DataFrame(np.asarray(result["pred"], dtype=np.float64))
    means = frame.groupby(np.asarray(result["pert_cat"]), sort=False).mean()
    return {str(c): means.loc[c].to_numpy() for c in means.index}


def fit_predict_gears(
    screen: Screen, split: Split, go: GoAnnotations, settings: GearsSettings, seed: int, device: str, workdir: Path
) -> tuple[Predictions, pd.DataFrame]:
    """GEARS trained on ``split.train``, its epoch chosen on ``split.val``, predicting ``split.test``; returns
    the predictions and the per-epoch training log (columns of the scLong model's log). ``workdir`` (a
    directory of the job, the same for all its seeds) holds GEARS' data path and processed screen."""
    import gears.gears as gears_module
    import torch
    from gears import GEARS, PertData
    from gears.inference import evaluate

    if not split.val:
        raise ConfigError("tasks.genetic_perturbation", "the split has no validation condition to select on")
    device = resolve_device(device)
    conditions = [*split.train, *split.val, *split.test]
    perturbed = sorted({gene for c in conditions for gene in screen.perturbed(c)})
    graph = pert_graph(go, screen.genes, perturbed, settings.go_top_k)
    data_path = Path(workdir) / "gears"
    write_gears_files(go, graph, screen.genes, data_path)
    split_file = Path(workdir) / "split.pkl"
    with open(split_file, "wb") as handle:
        pickle.dump({"train": list(split.train), "val": list(split.val), "test": list(split.test)}, handle)
    pert_data = PertData(str(data_path), default_pert_graph=True)
    stamp = json.dumps({"source": screen.source, "shape": list(screen.adata.shape), "conditions": sorted(conditions)})
    if (data_path / STAMP).is_file() and (data_path / STAMP).read_text() == stamp:
        pert_data.load(data_path=str(data_path / DATASET))
    else:
        np.random.seed(PAIRING_SEED)
        pert_data.new_data_process(dataset_name=DATASET, adata=gears_adata(screen, conditions), skip_calc_de=True)
        (data_path / STAMP).write_text(stamp)
    np.random.seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)
    if pert_data.adata.is_view:  # load() leaves a view, on which a new X would not be kept as given
        pert_data.adata = pert_data.adata.copy()
    pert_data.adata.X = _series_indexable(pert_data.adata.X)
    pert_data.prepare_split(split="custom", seed=seed, split_dict_path=str(split_file))
    pert_data.get_dataloader(batch_size=settings.batch_size, test_batch_size=settings.eval_batch_size)
    test_loader = pert_data.dataloader.pop("test_loader")
    model = GEARS(pert_data, device=device)
    model.model_initialize(hidden_size=settings.hidden_size, num_similar_genes_go_graph=settings.go_top_k,
                           direction_lambda=settings.direction_lambda)  # fmt: skip
    with _recorded_training(gears_module, pert_data.dataloader["val_loader"], screen, settings) as rows:
        model.train(epochs=settings.epochs, lr=settings.lr, weight_decay=settings.weight_decay)
    predictions = _condition_means(evaluate(test_loader, model.best_model, False, device))
    return predictions, pd.DataFrame(rows, columns=list(LOG_COLUMNS))
