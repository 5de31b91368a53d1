"""Gene2vec initial gene vectors: a float32 (n_vocab, dim) matrix aligned to the vocabulary.

Each vocabulary gene gets, in this order of preference:

1. ``pretrained``: its vector from a Gene2vec word2vec text file (symbols mapped to Ensembl IDs with
   :func:`sclong.knowledge.genes.map_symbols`; if several symbols map to one gene, a symbol that is the
   gene's current symbol wins, else the first in file order);
2. ``coexpression``: a vector trained Gene2vec-style on co-expression in the corpus (recipe below);
3. ``random``: N(0, ``random_std``\u00b2) per component, from a seeded generator.

Co-expression recipe (the original Gene2vec trained skip-gram on pairs of co-expressed genes):

* a seeded subsample of ``cells`` cells of the corpus (cells x vocabulary genes, normalised values);
* Pearson correlation of every gene pair over those cells, computed from the sparse matrix in blocks
  of genes (memory bounded by block_size x n_genes);
* for every gene, its ``pairs_per_gene`` most correlated partners with r > ``min_correlation`` (ties:
  lower vocabulary index); genes without variance take part in no pair. Each distinct unordered pair is
  one two-word "sentence"; sentences are shuffled with the seed;
* gensim ``Word2Vec`` skip-gram (sg=1) with vector_size=dim, window=1, min_count=1, negative sampling
  (5), ``epochs``, the seed, workers=1 and a process-independent hash, so the vectors are
  deterministic; other settings are gensim's defaults (alpha 0.025, frequent-word downsampling 1e-3).

The settings (``dim``, ``cells``, ``min_correlation``, ``pairs_per_gene``, ``random_std``, ``epochs``,
``seed``) are the ``gene2vec`` config section, given to the command as one ``--settings`` JSON object.

With a pretrained file, the co-expression vectors (which only fill genes the file lacks) are first
mapped into the pretrained space: an orthogonal rotation and one global scale fitted by orthogonal
Procrustes on the genes that have both (skipped, with a warning, when fewer than ``dim`` genes are
shared, too few to fit a dim x dim rotation).
"""

from __future__ import annotations

import argparse
import logging
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from gensim.models import Word2Vec
from scipy.linalg import orthogonal_procrustes

from sclong.cli import run_module_main
from sclong.errors import ConfigError, InputError
from sclong.io.atomic import atomic_path
from sclong.io.shards import ShardedCSR
from sclong.knowledge.gene2vec_file import read_word2vec_text
from sclong.knowledge.genes import GeneTable, map_symbols, read_gene_table
from sclong.knowledge.go_graph import top_k
from sclong.knowledge.vocabulary import read_vocabulary, write_tsv
from sclong.progress import track
from sclong.settings import add_settings_argument, from_mapping, parse_settings

log = logging.getLogger(__name__)

SOURCE_NAMES = ("pretrained", "coexpression", "random")


@dataclass(frozen=True)
class Gene2vecSettings:
    """The ``gene2vec`` config section."""

    dim: int
    cells: int
    min_correlation: float
    pairs_per_gene: int
    random_std: float
    epochs: int
    seed: int

    def __post_init__(self) -> None:
        checks = {
            "dim": isinstance(self.dim, int) and self.dim >= 1,
            "cells": isinstance(self.cells, int) and self.cells >= 2,
            "min_correlation": 0 <= self.min_correlation <= 1,
            "pairs_per_gene": isinstance(self.pairs_per_gene, int) and self.pairs_per_gene >= 1,
            "random_std": self.random_std >= 0,
            "epochs": isinstance(self.epochs, int) and self.epochs >= 1,
            "seed": isinstance(self.seed, int),
        }
        rules = {"dim": "an integer >= 1", "cells": "an integer >= 2", "min_correlation": "in [0, 1]",
                 "pairs_per_gene": "an integer >= 1", "random_std": ">= 0", "epochs": "an integer >= 1",
                 "seed": "an integer"}  # fmt: skip
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"gene2vec.{key}", f"must be {rules[key]}")


def pretrained_vectors(path: str | Path, vocab: pd.DataFrame, table: GeneTable, dim: int) -> dict[int, np.ndarray]:
    """Vectors of a Gene2vec file keyed by vocabulary index (see module docstring for the mapping)."""
    symbols, vectors = read_word2vec_text(path)
    if vectors.shape[1] != dim:
        raise InputError(path, f"vectors have {vectors.shape[1]} dimensions, expected {dim}")
    mapping = map_symbols(symbols, table).assign(row=range(len(symbols)))
    mapping["index"] = mapping["ensembl_id"].map(pd.Series(vocab["index"].to_numpy(), index=vocab["ensembl_id"]))
    mapping = mapping.dropna(subset=["index"])
    mapping = mapping.assign(not_current=mapping["how"] != "current").sort_values(
        ["index", "not_current", "row"], kind="stable"
    )
    chosen = mapping.drop_duplicates("index")
    log.info("%s: %d vectors, %d mapped to vocabulary genes", path, len(symbols), len(chosen))
    return {int(i): vectors[row] for i, row in zip(chosen["index"], chosen["row"], strict=True)}


def correlation_blocks(matrix: sp.csr_matrix, block_size: int = 1024) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first gene, float64 Pearson correlations of genes [first, first+block) x all genes).

    ``matrix`` is cells x genes; genes without variance correlate 0 with everything.
    """
    matrix = sp.csr_matrix(matrix, dtype=np.float64)
    n_cells = matrix.shape[0]
    mean = np.asarray(matrix.mean(axis=0)).ravel()
    variance = np.asarray(matrix.multiply(matrix).mean(axis=0)).ravel() - mean**2
    std = np.sqrt(np.clip(variance, 0.0, None))
    std[std < 1e-12] = np.inf  # zero variance -> correlation 0
    by_gene = matrix.T.tocsr()
    for start in range(0, matrix.shape[1], block_size):
        stop = min(start + block_size, matrix.shape[1])
        moment = (by_gene[start:stop] @ matrix).toarray() / n_cells
        covariance = moment - mean[start:stop, None] * mean[None, :]
        yield start, covariance / (std[start:stop, None] * std[None, :])


def coexpression_pairs(
    matrix: sp.csr_matrix, pairs_per_gene: int, min_correlation: float, block_size: int = 1024
) -> np.ndarray:
    """Distinct unordered gene pairs (n, 2), lower index first, sorted: each gene's top correlated partners."""
    if min_correlation < 0:
        raise ValueError("min_correlation must be >= 0")
    parts = []
    n_blocks = -(-matrix.shape[1] // block_size)
    blocks = correlation_blocks(matrix, block_size)
    for start, block in track(blocks, n_blocks, "gene correlation", "blocks"):
        sources, targets, _ = top_k(block, start, pairs_per_gene, min_correlation)
        parts.append(np.stack([np.minimum(sources, targets), np.maximum(sources, targets)], axis=1))
    pairs = np.concatenate(parts) if parts else np.empty((0, 2), dtype=np.int64)
    return np.unique(pairs, axis=0)


def _stable_hash(text: str) -> int:
    """Process-independent string hash for gensim's per-word initialisation (Python's hash is salted)."""
    return zlib.crc32(text.encode())


def train_coexpression_vectors(
    matrix: sp.csr_matrix, *, dim: int, seed: int, pairs_per_gene: int, min_correlation: float, epochs: int
) -> dict[int, np.ndarray]:
    """Gene2vec-style vectors for the genes (columns of ``matrix``) that occur in a co-expression pair."""
    pairs = coexpression_pairs(matrix, pairs_per_gene, min_correlation)
    log.info("co-expression: %d cells, %d genes, %d gene pairs", matrix.shape[0], matrix.shape[1], len(pairs))
    if not len(pairs):
        return {}
    pairs = pairs[np.random.default_rng(seed).permutation(len(pairs))]
    sentences = [[str(a), str(b)] for a, b in pairs]
    model = Word2Vec(
        sentences, vector_size=dim, window=1, min_count=1, sg=1, negative=5, epochs=epochs,
        seed=seed, workers=1, hashfxn=_stable_hash,
    )  # fmt: skip
    return {int(word): model.wv[word].astype(np.float32) for word in model.wv.index_to_key}


def align_to_pretrained(
    coexpression: dict[int, np.ndarray], pretrained: dict[int, np.ndarray], min_shared: int
) -> dict[int, np.ndarray]:
    """Rotate and scale co-expression vectors into the pretrained space (Procrustes on shared genes)."""
    shared = sorted(set(coexpression) & set(pretrained))
    if len(shared) < min_shared:
        log.warning("only %d genes have both vector kinds (< %d): co-expression vectors left unaligned",
                    len(shared), min_shared)  # fmt: skip
        return coexpression
    source = np.array([coexpression[i] for i in shared], dtype=np.float64)
    target = np.array([pretrained[i] for i in shared], dtype=np.float64)
    rotation, singular_sum = orthogonal_procrustes(source, target)
    scale = singular_sum / np.square(source).sum()
    residual = np.linalg.norm(scale * source @ rotation - target) / np.linalg.norm(target)
    log.info("co-expression vectors aligned on %d shared genes (scale %.3g, relative residual %.3f)",
             len(shared), scale, residual)  # fmt: skip
    return {i: (scale * vector @ rotation).astype(np.float32) for i, vector in coexpression.items()}


def assemble(
    n_genes: int, dim: int, pretrained: dict[int, np.ndarray], coexpression: dict[int, np.ndarray], seed: int,
    random_std: float,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The (n_genes, dim) float32 matrix and each row's source name (pretrained > coexpression > random)."""
    rng = np.random.default_rng([seed, 1])  # a stream apart from the sentence shuffle
    vectors = (rng.standard_normal((n_genes, dim)) * random_std).astype(np.float32)
    source = np.full(n_genes, "random", dtype=object)
    for name, found in (("coexpression", coexpression), ("pretrained", pretrained)):
        for index, vector in found.items():
            vectors[index] = vector
            source[index] = name
    return vectors, source


def sample_cells(n_cells: int, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``min(n, n_cells)`` cells drawn without replacement."""
    return np.sort(np.random.default_rng(seed).choice(n_cells, size=min(n, n_cells), replace=False))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sclong.knowledge.gene2vec", description=__doc__.split("\n")[0])
    parser.add_argument("--vocabulary", required=True, help="vocabulary.tsv")
    parser.add_argument("--pretrained", help="Gene2vec vectors, word2vec text format (needs --gene-table)")
    parser.add_argument("--gene-table", help="gene table used to map the pretrained file's symbols")
    parser.add_argument("--corpus", help="sharded CSR corpus directory (columns = vocabulary genes)")
    parser.add_argument("--out", required=True, help=".npy matrix to write")
    parser.add_argument("--sources", required=True, help="TSV saying where each gene's vector came from")
    add_settings_argument(parser, "gene2vec")
    args = parser.parse_args(argv)
    settings = from_mapping(Gene2vecSettings, parse_settings(args.settings, "gene2vec"), "gene2vec")
    logging.getLogger("gensim").setLevel(logging.WARNING)  # one INFO line per epoch otherwise
    if args.pretrained and not args.gene_table:
        parser.error("--pretrained needs --gene-table")
    vocab = read_vocabulary(args.vocabulary)
    pretrained = {}
    if args.pretrained:
        pretrained = pretrained_vectors(args.pretrained, vocab, read_gene_table(args.gene_table), settings.dim)
    coexpression = {}
    if args.corpus and len(pretrained) < len(vocab):
        corpus = ShardedCSR(args.corpus)
        if corpus.n_genes != len(vocab):
            raise InputError(args.corpus, f"corpus has {corpus.n_genes} genes, the vocabulary {len(vocab)}")
        cells = corpus.rows(sample_cells(corpus.n_cells, settings.cells, settings.seed))
        coexpression = train_coexpression_vectors(
            cells, dim=settings.dim, seed=settings.seed, pairs_per_gene=settings.pairs_per_gene,
            min_correlation=settings.min_correlation, epochs=settings.epochs,
        )  # fmt: skip
        if pretrained:
            coexpression = align_to_pretrained(coexpression, pretrained, min_shared=settings.dim)
    vectors, source = assemble(len(vocab), settings.dim, pretrained, coexpression, settings.seed, settings.random_std)
    with atomic_path(args.out) as tmp:
        np.save(tmp, vectors)
    write_tsv(vocab[["index", "ensembl_id", "symbol"]].assign(source=source), args.sources)
    counts = pd.Series(source).value_counts().reindex(SOURCE_NAMES, fill_value=0)
    log.info("gene2vec: %d x %d float32; %s", *vectors.shape, ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
