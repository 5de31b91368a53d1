"""The demo's simulated Perturb-seq screen: the corpus simulator's tissue, GO-annotated vocabulary TFs only,
GEARS' layout (read back by the task's reader, shipped ranking = recomputed), interactions between TFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sclong.data.perturbseq import ScreenParams, design, gene_symbols, log_rates, simulate_screen
from sclong.data.simulate import SimulationParams, draw_tissue, simulate
from sclong.errors import ConfigError
from sclong.tasks.perturbation.reader import screen_from_adata

REPO = Path(__file__).resolve().parents[2]
DEMO_GENES = REPO / "resources" / "demo" / "genes.tsv.gz"
TISSUE = {"n_cells": 10, "n_batches": 2, "n_cell_types": 3, "seed": 0, "cell_seed": 0}


def params(**changes) -> ScreenParams:
    values = {"tissue": TISSUE, "cell_seed": 5, "cell_type": 0, "n_perturbed": 6, "n_doubles": 5, "n_genes": 60,
              "cells_per_condition": 8, "control_cells": 30, "knockdown": 3.0, **changes}  # fmt: skip
    return ScreenParams(**values)


@pytest.fixture(scope="module")
def genes() -> tuple[list[str], dict[str, str]]:
    return gene_symbols(DEMO_GENES)


def vocabulary(ids: list[str], annotated_every: int) -> pd.DataFrame:
    """Every gene, with GO terms for one in ``annotated_every``."""
    go = [int(i % annotated_every == 0) for i in range(len(ids))]
    return pd.DataFrame({"ensembl_id": ids, "symbol": ids, "go": go})


def test_screen_is_the_corpus_tissue_in_gears_layout(genes) -> None:
    ids, symbols = genes
    vocab = vocabulary(ids, 2)
    screen = simulate_screen(ids, symbols, vocab, params())
    corpus = simulate(ids, SimulationParams(**TISSUE))
    pd.testing.assert_frame_equal(screen.uns["grn_edges"], corpus.uns["grn_edges"])
    conditions = screen.obs["condition"].astype(str)
    singles = sorted({c for c in conditions if c.endswith("+ctrl")})
    doubles = sorted({c for c in conditions if "+" in c and not c.endswith("+ctrl")})
    assert len(singles) == 6 and len(doubles) == 5 and (conditions == "ctrl").sum() == 30
    annotated = set(vocab.loc[vocab.go == 1, "symbol"].map(symbols))
    tfs = {symbols[g] for g in corpus.var_names[corpus.var["is_tf"]]}
    perturbed = {c.split("+")[0] for c in singles}
    assert perturbed <= annotated & tfs and perturbed <= set(screen.var["gene_name"])
    assert all(set(d.split("+")) <= perturbed for d in doubles)
    assert screen.n_vars == 60 and screen.X.min() >= 0
    read = screen_from_adata(screen, "perturbseq")  # uses the shipped ranking
    del screen.uns["rank_genes_groups_cov_all"]
    recomputed = screen_from_adata(screen, "perturbseq")
    for condition in read.condition_list()[1:]:
        assert np.array_equal(read.de_genes[condition], recomputed.de_genes[condition])
        key = f"type0_{condition}_1+1"
        assert list(screen.uns["top_non_dropout_de_20"][key]) == list(screen.var_names[read.de_genes[condition]])


def test_double_knockdowns_interact_through_the_network(genes) -> None:
    ids, _ = genes
    settings = params()
    tissue = draw_tissue(np.asarray(ids, dtype=object), settings.tissue)
    _, perturbations = design(tissue, settings, vocabulary(ids, 2))
    n_tfs = len(tissue.network.tfs)
    base = log_rates(tissue, 0, np.zeros((1, n_tfs)))[0]

    def change(tfs: tuple[int, ...]) -> np.ndarray:
        shift = np.zeros((1, n_tfs))
        shift[0, list(tfs)] = -settings.knockdown
        return log_rates(tissue, 0, shift)[0] - base

    doubles = [p for p in perturbations if len(p) == 2]
    gaps = [np.abs(change(p) - change(p[:1]) - change(p[1:])).max() for p in doubles]
    assert max(gaps) > 0.1


def test_too_few_annotated_tfs_is_a_config_error(genes) -> None:
    ids, symbols = genes
    with pytest.raises(ConfigError, match="n_perturbed"):
        simulate_screen(ids, symbols, vocabulary(ids, 10_000), params())
    with pytest.raises(ConfigError, match="n_doubles"):
        params(n_doubles=16)
