"""Gene2vec matrix: co-expression pairs, training determinism and structure, pretrained alignment, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sclong.errors import ConfigError, InputError
from sclong.io.shards import ShardWriter
from sclong.knowledge import gene2vec, vocabulary
from sclong.knowledge.gene2vec import assemble, coexpression_pairs, correlation_blocks, train_coexpression_vectors
from sclong.settings import to_json

from .conftest import GAF_SETTINGS

SETTINGS = {"dim": 3, "cells": 2000, "min_correlation": 0.1, "pairs_per_gene": 20, "random_std": 0.01, "epochs": 50,
            "seed": 0}  # fmt: skip


def modules(n_cells: int = 300, n_modules: int = 10, per_module: int = 20, seed: int = 0) -> sp.csr_matrix:
    """Counts where genes of one module share a per-cell activity (zero-inflated Poisson)."""
    rng = np.random.default_rng(seed)
    activity = np.repeat(rng.gamma(1.0, 1.0, (n_cells, n_modules)), per_module, axis=1)
    counts = rng.poisson(2 * activity) * (rng.random(activity.shape) < 0.8)
    return sp.csr_matrix(counts.astype(np.float32))


def test_blocked_correlation_matches_numpy():
    dense = modules(n_cells=50, n_modules=3, per_module=4).toarray()
    dense[:, 5] = 0  # a gene without variance
    blocks = dict(correlation_blocks(sp.csr_matrix(dense), block_size=5))
    got = np.vstack([blocks[start] for start in sorted(blocks)])
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.nan_to_num(np.corrcoef(dense.T))
    np.testing.assert_allclose(got, expected, atol=1e-10)


def test_pairs_are_top_partners_above_threshold():
    pairs = coexpression_pairs(modules(n_cells=200, n_modules=2, per_module=5), pairs_per_gene=2, min_correlation=0.1)
    assert (pairs[:, 0] < pairs[:, 1]).all() and len(np.unique(pairs, axis=0)) == len(pairs)
    assert ((pairs[:, 0] < 5) == (pairs[:, 1] < 5)).all()  # partners come from the same module
    assert np.bincount(pairs.ravel(), minlength=10).min() >= 2


def test_training_is_deterministic_and_learns_modules():
    matrix = modules()
    settings = {"dim": 32, "pairs_per_gene": 5, "min_correlation": 0.1, "epochs": 300}
    first = train_coexpression_vectors(matrix, seed=0, **settings)
    again = train_coexpression_vectors(matrix, seed=0, **settings)
    other = train_coexpression_vectors(matrix, seed=1, **settings)
    vectors = np.array([first[i] for i in range(200)])
    assert vectors.dtype == np.float32 and vectors.shape == (200, 32)
    np.testing.assert_array_equal(vectors, np.array([again[i] for i in range(200)]))
    assert not np.allclose(vectors, np.array([other[i] for i in range(200)]))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    module = np.repeat(np.arange(10), 20)
    same = (module[:, None] == module[None, :]) & ~np.eye(200, dtype=bool)
    assert cosine[same].mean() > cosine[module[:, None] != module[None, :]].mean() + 0.3


def test_alignment_recovers_a_rotation_and_scale():
    rng = np.random.default_rng(0)
    rotation, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    pretrained = {i: rng.standard_normal(8).astype(np.float32) for i in range(30)}
    coexpression = {i: (0.5 * pretrained[i] @ rotation.T).astype(np.float32) for i in range(30)}
    held_out = pretrained.pop(29)  # a gene the pretrained file lacks: aligned from co-expression alone
    aligned = gene2vec.align_to_pretrained(coexpression, pretrained, min_shared=8)
    for i in range(29):
        np.testing.assert_allclose(aligned[i], pretrained[i], atol=1e-5)
    np.testing.assert_allclose(aligned[29], held_out, atol=1e-5)
    assert gene2vec.align_to_pretrained(coexpression, pretrained, min_shared=100) is coexpression


def test_assemble_prefers_pretrained_then_coexpression():
    pretrained = {0: np.ones(4, np.float32)}
    coexpression = {0: np.full(4, 2, np.float32), 1: np.full(4, 3, np.float32)}
    vectors, source = assemble(4, 4, pretrained, coexpression, seed=0, random_std=0.01)
    assert vectors.dtype == np.float32 and vectors.shape == (4, 4)
    assert source.tolist() == ["pretrained", "coexpression", "random", "random"]
    assert vectors[0, 0] == 1 and vectors[1, 0] == 3 and 0 < np.abs(vectors[2:]).max() < 0.1
    np.testing.assert_array_equal(vectors, assemble(4, 4, pretrained, coexpression, seed=0, random_std=0.01)[0])


@pytest.fixture
def small_vocab(small_inputs, tmp_path: Path) -> Path:
    out = tmp_path / "vocabulary.tsv"
    vocabulary.main(["--gene-table", str(small_inputs["gene_table"]), "--gaf", str(small_inputs["gaf"]),
                     "--counts", str(small_inputs["counts"]),
                     "--settings", '{"top_n_expressed": 1}', "--gaf-settings", GAF_SETTINGS, "--out", str(out),
                     "--report", str(tmp_path / "report.tsv")])  # fmt: skip
    return out


def test_cli_pretrained_and_coexpression(small_inputs, small_vocab: Path, tmp_path: Path):
    # vocabulary: genes 1, 2, 4, 5, 6, 7. BBB2 and bbb2 both name gene 2 (the first line wins); ALIAS5 and
    # EEE5 both name gene 6 (the current symbol beats the alias). Gene 5 never varies in the corpus.
    pretrained = tmp_path / "g2v.txt"
    pretrained.write_text("BBB2 1 1 1\nALIAS5 2 2 2\nbbb2 9 9 9\nEEE5 3 3 3\n")
    corpus = tmp_path / "corpus"
    rng = np.random.default_rng(0)
    base = rng.poisson(3, 40)
    counts = np.stack([base, rng.poisson(3, 40), base + rng.poisson(1, 40), np.zeros(40), base, base], axis=1)
    with ShardWriter(corpus, n_genes=6, cells_per_shard=16) as writer:
        writer.add(sp.csr_matrix(np.log1p(counts).astype(np.float32)))
        writer.close()
    out, sources = tmp_path / "g2v.npy", tmp_path / "g2v_sources.tsv"
    settings = to_json({**SETTINGS, "cells": 30, "pairs_per_gene": 2, "epochs": 5})
    argv = ["--vocabulary", str(small_vocab), "--pretrained", str(pretrained), "--gene-table",
            str(small_inputs["gene_table"]), "--corpus", str(corpus), "--settings", settings]  # fmt: skip
    assert gene2vec.main([*argv, "--out", str(out), "--sources", str(sources)]) == 0
    vectors = np.load(out)
    assert vectors.dtype == np.float32 and vectors.shape == (6, 3)
    table = pd.read_csv(sources, sep="\t")
    assert table["source"].tolist() == ["coexpression", "pretrained", "coexpression", "random", "pretrained",
                                        "coexpression"]  # fmt: skip
    np.testing.assert_array_equal(vectors[1], [1, 1, 1])
    np.testing.assert_array_equal(vectors[4], [3, 3, 3])  # EEE5 is gene 6's current symbol, ALIAS5 an alias
    assert gene2vec.main([*argv, "--out", str(tmp_path / "again.npy"), "--sources", str(sources)]) == 0
    np.testing.assert_array_equal(vectors, np.load(tmp_path / "again.npy"))


def test_cli_rejects_wrong_dimension_without_output(small_inputs, small_vocab: Path, tmp_path: Path):
    pretrained = tmp_path / "g2v.txt"
    pretrained.write_text("BBB2 1 1\n")
    out = tmp_path / "g2v.npy"
    argv = ["--vocabulary", str(small_vocab), "--pretrained", str(pretrained), "--gene-table",
            str(small_inputs["gene_table"]), "--settings", to_json(SETTINGS), "--out", str(out),
            "--sources", str(tmp_path / "s.tsv")]  # fmt: skip
    with pytest.raises(InputError, match="g2v.txt: vectors have 2 dimensions, expected 3"):
        gene2vec.main(argv)
    assert not out.exists() and not list(tmp_path.glob(".g2v*"))


def test_cli_settings_come_only_from_the_config_section(small_vocab: Path, tmp_path: Path):
    # No value may come from anywhere but the config: a missing key is an error, not an argparse default.
    argv = ["--vocabulary", str(small_vocab), "--out", str(tmp_path / "g.npy"), "--sources", str(tmp_path / "s.tsv")]
    without_cells = {k: v for k, v in SETTINGS.items() if k != "cells"}
    with pytest.raises(ConfigError, match="'gene2vec.cells': is required"):
        gene2vec.main([*argv, "--settings", to_json(without_cells)])
    with pytest.raises(ConfigError, match="'gene2vec.min_correlation': must be in"):
        gene2vec.main([*argv, "--settings", to_json({**SETTINGS, "min_correlation": -0.5})])
