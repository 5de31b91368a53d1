"""Gene feature vectors of the 978 L1000 landmark genes, the gene side of the chemical-perturbation networks.

* :func:`sclong_vectors`: the scLong gene vectors, the gene encoder's output of a checkpoint (genes x its
  width): the GO GCN applied to the trainable Gene2vec-initialised table (the table itself for ``wo_go``,
  which has no GCN), computed once without gradients. Landmarks map to the vocabulary as ``sclong embed``
  maps var names (:func:`sclong.embedding.map_to_vocabulary` with the checkpoint's gene table).
* :func:`gene2vec_vectors`: DeepCE's gene input, Gene2vec vectors of the landmarks, from the workflow's
  vocabulary-aligned Gene2vec matrix (``gene2vec.npy``, rows = vocabulary rows; the published 200-d file
  where ``sources.gene2vec`` is set, vectors trained on the corpus otherwise); mapped as above with the
  workflow's gene table (old landmark symbols such as ``KIAA0196`` resolve through previous symbols).

Landmarks that feed no vocabulary gene keep their place with a zero vector (every landmark is still
predicted and scored, as all 978 are in DeepCE's metrics; such a gene's query carries no identity of its
own). Their count and names are logged; a checkpoint or matrix covering no landmark is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GeneVectors:
    """``vectors``: landmarks x width float32 (in the landmarks' order); ``missing``: landmarks given zeros."""

    vectors: np.ndarray
    missing: list[str]


def pick_rows(
    table: np.ndarray, vocab_index: np.ndarray, genes: Sequence[str], what: str, source: str | Path
) -> GeneVectors:
    """Rows ``vocab_index`` (-1: none) of ``table`` for ``genes``; zeros where none (module docstring)."""
    found = vocab_index >= 0
    if not found.any():
        raise InputError(source, f"none of the {len(genes)} landmark genes has a {what} (no vocabulary gene)")
    vectors = np.zeros((len(genes), table.shape[1]), dtype=np.float32)
    vectors[found] = table[vocab_index[found]]
    missing = [gene for gene, ok in zip(genes, found, strict=True) if not ok]
    if missing:
        log.warning("%s: %d of %d landmark genes have no %s and get zero vectors: %s", source, len(missing),
                    len(genes), what, ", ".join(missing))  # fmt: skip
    else:
        log.info("%s: all %d landmark genes have a %s", source, len(genes), what)
    return GeneVectors(vectors, missing)


def _positions(mapping_table: pd.DataFrame) -> np.ndarray:
    """Each query's vocabulary row where its status is ``used``, else -1."""
    used = mapping_table["status"].to_numpy() == "used"
    return np.where(used, mapping_table["vocab_index"].to_numpy(), -1)


def sclong_vectors(checkpoint: Path, genes: Sequence[str]) -> GeneVectors:
    """The gene encoder's output of ``checkpoint`` (a directory) for ``genes`` (symbols or Ensembl IDs)."""
    import torch

    from sclong.embedding import map_to_vocabulary
    from sclong.model.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint, map_location="cpu")
    mapping = map_to_vocabulary(list(genes), loaded.vocabulary, loaded.gene_table)
    loaded.model.eval()
    with torch.no_grad():
        table = loaded.model.gene_encoder().float().numpy()
    return pick_rows(table, _positions(mapping.table), genes, "scLong gene vector", checkpoint)


def gene2vec_vectors(matrix: Path, vocabulary: Path, gene_table: Path, genes: Sequence[str]) -> GeneVectors:
    """Rows of the vocabulary-aligned Gene2vec ``matrix`` (.npy) for ``genes``, mapped through ``gene_table``."""
    from sclong.embedding import map_to_vocabulary
    from sclong.knowledge.genes import read_gene_table
    from sclong.knowledge.vocabulary import read_vocabulary

    vocab = read_vocabulary(vocabulary)
    try:
        table = np.load(matrix)
    except (OSError, ValueError) as error:
        raise InputError(matrix, f"cannot read it as a NumPy matrix ({error})") from error
    if table.ndim != 2 or table.shape[0] != len(vocab):
        raise InputError(matrix, f"has shape {table.shape}, not ({len(vocab)}, dim) as the vocabulary {vocabulary}")
    mapping = map_to_vocabulary(list(genes), vocab, read_gene_table(gene_table))
    return pick_rows(table.astype(np.float32), _positions(mapping.table), genes, "Gene2vec vector", matrix)
