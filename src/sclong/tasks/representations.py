"""scLong gene representations of a task's cells, computed in the task's job from a checkpoint.

Tasks that need gene-level values of particular cells (GRN inference: per-gene values across all cells;
marker genes: gene vectors averaged over sampled cells) run the model here rather than storing a
cells x genes x dim array: at paper scale that array would not fit on disk. Cells are mapped to the
checkpoint's vocabulary, checked and normalised exactly as ``sclong embed`` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sclong.errors import InputError
from sclong.tasks.device import torch_device


@dataclass
class ModelCells:
    """A checkpoint's model with cells mapped to its vocabulary.

    ``values`` (cells x mapped genes, CSR, normalised) feed vocabulary positions ``vocab_index``; ``genes``
    maps each input var name found in the vocabulary to its vocabulary position; ``mapping`` is the
    mapping table of every var name (:class:`sclong.embedding.GeneMapping` ``table``) and ``vocabulary``
    the checkpoint's.
    """

    model: object
    values: object
    vocab_index: np.ndarray
    genes: pd.Series
    device: object
    mapping: pd.DataFrame
    vocabulary: pd.DataFrame


def load_model_cells(
    checkpoint: Path,
    adata: object,
    device: Literal["auto", "cpu", "cuda"],
    normalization: str,
    source: str,
    input_kind: Literal["auto", "raw", "log1p"] = "auto",
) -> ModelCells:
    """Load ``checkpoint`` on ``device`` and prepare the cells of ``adata`` (var names: symbols or Ensembl
    IDs) as :func:`sclong.embedding.prepare_cells` does for ``sclong embed``, normalised with
    ``normalization`` (``embed.normalization``); ``input_kind`` as ``sclong embed --input-kind``. The
    coverage is logged, not enforced: a task uses the genes its dataset has."""
    import torch

    from sclong.embed import EmbedSettings
    from sclong.embedding import prepare_cells
    from sclong.model.checkpoint import load_checkpoint

    target = torch_device(device)
    loaded = load_checkpoint(checkpoint, map_location=target)
    settings = EmbedSettings(min_coverage=0.0, normalization=normalization)
    prepared = prepare_cells(adata, loaded.vocabulary, loaded.gene_table, settings, input_kind=input_kind,
                             source=source)  # fmt: skip
    mapping = prepared.mapping
    names = pd.Series(mapping.vocab_index, index=[str(adata.var_names[i]) for i in mapping.var_index])
    loaded.model.eval()
    return ModelCells(loaded.model, prepared.values, mapping.vocab_index, names, torch.device(target),
                      mapping.table, loaded.vocabulary)  # fmt: skip


def representation_batches(
    cells: ModelCells, rows: np.ndarray, batch_size: int, positions: np.ndarray
) -> Iterator[np.ndarray]:
    """Representations [batch, len(positions), gene_dim] of the cells ``rows`` (of ``cells.values``), batch by
    batch (no gradients: the backbone is frozen)."""
    import torch

    from sclong.embedding import model_input

    index = torch.as_tensor(positions, device=cells.device)
    for start in range(0, len(rows), batch_size):
        chunk = cells.values[rows[start : start + batch_size]]
        dense = model_input(chunk, cells.vocab_index, cells.model.config.n_genes)
        with torch.no_grad():
            out = cells.model(torch.from_numpy(dense).to(cells.device))
        yield out.representations[:, index].float().cpu().numpy()


def gene_representations(
    cells: ModelCells,
    genes: Sequence[str],
    rows: np.ndarray,
    reduce: Literal["features", "cells"],
    batch_size: int,
) -> np.ndarray:
    """Representations of ``genes`` (input var names in the vocabulary) for the cells ``rows``.

    ``reduce`` ``features``: each gene's representation averaged over its features -> cells x genes (the
    per-gene value of a cell); ``cells``: averaged over the cells -> genes x gene_dim.
    """
    missing = [gene for gene in genes if gene not in cells.genes.index]
    if missing:
        raise InputError("genes", f"{len(missing)} gene(s) not in the model's vocabulary, e.g. {missing[:5]}")
    positions = cells.genes.loc[list(genes)].to_numpy()
    if reduce == "features":
        batches = representation_batches(cells, rows, batch_size, positions)
        return np.concatenate([batch.mean(axis=-1) for batch in batches])
    total = np.zeros((len(positions), cells.model.config.gene_dim), dtype=np.float64)
    for batch in representation_batches(cells, rows, batch_size, positions):
        total += batch.sum(axis=0)
    return (total / max(len(rows), 1)).astype(np.float32)
