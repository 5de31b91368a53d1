"""Zero-shot batch integration: batch ASW against sklearn and a hand-computed case, the baselines' inputs,
the cell filter, scVI's seeding and the one-line errors of bad inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml

from sclong.data.simulate import SimulationParams, simulate
from sclong.errors import ConfigError, InputError
from sclong.settings import from_mapping, to_json
from sclong.tasks import get_task
from sclong.tasks.batch_integration import KEY, TASK, Settings, batch_asw
from sclong.tasks.run import run_method
from tests.data.helpers import GENES

REPO = Path(__file__).resolve().parents[2]


def block(**changes: object) -> dict:
    """The demo config's block with the keys the rule injects, and ``changes``."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    section = {**config["tasks"]["batch_integration"], "device": "cpu", "normalization": "paper"}
    return {**section, "scvi": {**section["scvi"], "max_epochs": 2}, **changes}


def settings(**changes: object) -> Settings:
    return from_mapping(Settings, block(**changes), KEY)


def cells(n_cells: int = 240, seed: int = 0) -> ad.AnnData:
    """Simulated raw counts: 3 cell types, 3 batches with their own gene factors, 300 genes."""
    params = SimulationParams(n_cells=n_cells, n_cell_types=3, n_batches=3, n_tfs=15, library_size=3000, seed=seed,
                              cell_seed=1)  # fmt: skip
    return simulate(GENES, params)


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "simulated.h5ad"
    cells().write_h5ad(path)
    return path


def reference_batch_asw(embedding: np.ndarray, labels: np.ndarray, batches: np.ndarray) -> float:
    """scib's silhouette_batch written out with sklearn (float64): per cell type with 2 <= batches < cells,
    mean of 1 - |silhouette against the batches|; then the mean over those cell types."""
    from sklearn.metrics import silhouette_samples

    means = []
    for label in np.unique(labels):
        rows = labels == label
        n_batches = len(np.unique(batches[rows]))
        if n_batches in (1, rows.sum()):
            continue
        means.append(np.mean(1 - np.abs(silhouette_samples(embedding[rows], batches[rows], metric="euclidean"))))
    return float(np.mean(means))


def test_batch_asw_of_a_hand_computed_case() -> None:
    # Type a: batches at {0, 1} and {10, 11}: a = 1 for every cell, b = 10.5, 9.5, 9.5, 10.5 -> s = 1 - a/b.
    # Type b: {0, 10} and {1, 11}: a = 10, b = 6, 5, 5, 6 -> s = -0.4, -0.5, -0.5, -0.4 (|s| counts).
    # Type c has one batch and type d one cell per batch: both skipped, as scib does.
    points = [0, 1, 10, 11, 0, 10, 1, 11, 3, 4, 5, 6]
    labels = ["a"] * 4 + ["b"] * 4 + ["c"] * 2 + ["d"] * 2
    batches = ["x", "x", "y", "y", "x", "x", "y", "y", "x", "x", "x", "y"]
    type_a = 1 - np.mean([1 - 1 / 10.5, 1 - 1 / 9.5, 1 - 1 / 9.5, 1 - 1 / 10.5])
    type_b = 1 - np.mean([0.4, 0.5, 0.5, 0.4])
    metric = batch_asw(np.array(points, dtype=float)[:, None], np.array(labels), np.array(batches))
    assert metric.value == pytest.approx((type_a + type_b) / 2, abs=1e-6)
    assert metric.note == "2 of 4 cell types skipped (one batch, or one cell per batch): c, d"


def test_batch_asw_matches_sklearn_on_real_cells() -> None:
    """pbmc68k's real PCA, its bulk labels as cell types and its cell-cycle phase as the batch (a real
    covariate of the embedding), one cell type restricted to one phase so that it is skipped."""
    import scanpy as sc

    pbmc = sc.datasets.pbmc68k_reduced()
    keep = ~((pbmc.obs["bulk_labels"] == "CD34+") & (pbmc.obs["phase"] != "G1")).to_numpy()
    embedding = pbmc.obsm["X_pca"][keep]
    labels = pbmc.obs["bulk_labels"].astype(str).to_numpy()[keep]
    batches = pbmc.obs["phase"].astype(str).to_numpy()[keep]
    metric = batch_asw(embedding, labels, batches)
    expected = reference_batch_asw(embedding.astype(np.float64), labels, batches)
    assert metric.value == pytest.approx(expected, abs=1e-4)
    assert 0.5 < metric.value < 0.95  # the phase shows in the PCA: not perfectly mixed
    assert metric.note.startswith("1 of 10 cell types skipped") and metric.note.endswith("CD34+")


def test_batch_asw_is_undefined_without_two_batches_or_with_a_constant_embedding() -> None:
    labels, one_batch = np.array(["a", "a", "b", "b"]), np.array(["x"] * 4)
    metric = batch_asw(np.arange(4.0)[:, None], labels, one_batch)
    assert metric.value is None and metric.note.startswith("no cell type can be scored: 2 of 2 cell types skipped")
    metric = batch_asw(np.ones((6, 3)), np.array(["a"] * 6), np.array(["x", "y"] * 3))
    assert metric.value is None and "one vector for every cell" in metric.note  # scib would score it 1


def test_raw_is_the_log_normalised_filtered_matrix_and_hvg_its_columns(tmp_path: Path) -> None:
    """Written out by hand: cells with < 10 detected genes and genes detected in < 10 kept cells dropped,
    then log1p(x / cell total over kept genes * 1e4); HVG picks n_hvg of those columns."""
    data = cells()
    counts = data.X.toarray()
    counts[5] = 0
    counts[5, :7] = 3  # 7 detected genes: dropped
    counts[:, 11] = 0
    counts[:9, 11] = 1  # detected in 9 cells: dropped
    data.X = sp.csr_matrix(counts)
    path = tmp_path / "cells.h5ad"
    data.write_h5ad(path)
    rows = np.flatnonzero((counts > 0).sum(axis=1) >= 10)
    genes = np.flatnonzero((counts[rows] > 0).sum(axis=0) >= 10)
    assert 5 not in rows and 11 not in genes and len(rows) == 239
    kept = counts[np.ix_(rows, genes)]
    expected = np.log1p(kept / kept.sum(axis=1, keepdims=True) * 1e4)
    raw = TASK.load("raw", {"dataset": path}, settings())
    np.testing.assert_allclose(raw.matrix, expected, rtol=1e-5, atol=1e-5)
    assert list(raw.cells) == list(data.obs_names[rows])
    assert list(raw.batches) == list(data.obs["batch"].astype(str).to_numpy()[rows])
    hvg = TASK.load("hvg", {"dataset": path}, settings(n_hvg=40))
    assert hvg.matrix.shape == (239, 40)
    columns = [int(np.flatnonzero(np.all(np.isclose(raw.matrix, col[:, None], atol=1e-6), axis=0))[0])
               for col in hvg.matrix.T]  # fmt: skip
    assert len(set(columns)) == 40
    # log1p input is kept as it is (pbmc-like); renormalising it is Kedzierska's notebook as written
    data.X = sp.csr_matrix(np.log1p(counts / counts.sum(axis=1, keepdims=True) * 1e4).astype(np.float32))
    data.write_h5ad(path)
    kept_log = data.X.toarray()[np.ix_(rows, genes)]
    np.testing.assert_allclose(TASK.load("raw", {"dataset": path}, settings()).matrix, kept_log, rtol=1e-6)
    renormalised = TASK.load("raw", {"dataset": path}, settings(baseline_input="x_renormalized")).matrix
    np.testing.assert_allclose(renormalised, np.log1p(kept_log / kept_log.sum(axis=1, keepdims=True) * 1e4),
                               rtol=1e-5, atol=1e-5)  # fmt: skip


def test_counts_baseline_input_normalises_the_counts_layer(tmp_path: Path) -> None:
    data = cells()
    data.layers["counts"] = data.X.copy()
    data.X = sp.csr_matrix(np.log1p(data.X.toarray()).astype(np.float32))  # some other log values in X
    path = tmp_path / "cells.h5ad"
    data.write_h5ad(path)
    from_counts = TASK.load("raw", {"dataset": path}, settings(baseline_input="counts", counts_layer="counts"))
    from_x = TASK.load("raw", {"dataset": path}, settings(baseline_input="x"))
    assert not np.allclose(from_counts.matrix, from_x.matrix)
    dense = data.layers["counts"].toarray()
    rows = np.flatnonzero((dense > 0).sum(axis=1) >= 10)
    kept = dense[np.ix_(rows, np.flatnonzero((dense[rows] > 0).sum(axis=0) >= 10))]
    np.testing.assert_allclose(from_counts.matrix, np.log1p(kept / kept.sum(1, keepdims=True) * 1e4), rtol=1e-5)


def test_run_writes_metrics_and_coordinates_of_every_baseline(dataset: Path, tmp_path: Path) -> None:
    for method in ("raw", "hvg"):
        out = tmp_path / "tasks" / "batch_integration" / method
        run_method(TASK, method, [0], to_json(block(n_hvg=100)), {"dataset": dataset}, out, "demo")
        metrics = pd.read_csv(out / "seed0" / "metrics.tsv", sep="\t")
        assert metrics[["task", "method", "seed", "scenario", "metric"]].values.tolist() == [
            ["batch_integration", method, 0, "all", "batch_asw"]]  # fmt: skip
        assert 0 < metrics["value"].iloc[0] < 1
        coords = pd.read_csv(out / "seed0" / "coordinates.tsv", sep="\t")
        assert list(coords.columns) == ["cell", "pc1", "pc2", "batch", "label"]
        assert len(coords) == 240 and coords[["pc1", "pc2"]].notna().all().all()
    assert not TASK.seeded("raw") and not TASK.seeded("hvg") and TASK.seeded("scvi") and not TASK.seeded("sclong")
    assert get_task("batch_integration") is TASK


def test_simulated_batches_are_less_mixed_in_raw_counts_than_in_a_batch_free_embedding(dataset: Path) -> None:
    """The simulator's batch effects show: the raw baseline scores below the cell types' own programme."""
    data = TASK.load("raw", {"dataset": dataset}, settings())
    raw = batch_asw(data.matrix, data.labels, data.batches).value
    rng = np.random.default_rng(0)
    centres = {label: rng.normal(size=8) for label in set(data.labels)}
    batch_free = np.stack([centres[label] for label in data.labels]) + rng.normal(0, 0.5, (len(data.labels), 8))
    assert raw < batch_asw(batch_free, data.labels, data.batches).value


def test_scvi_is_seeded(dataset: Path) -> None:
    data = TASK.load("scvi", {"dataset": dataset}, settings())
    first = TASK.run("scvi", 0, data, settings())
    again = TASK.run("scvi", 0, data, settings())
    other = TASK.run("scvi", 1, data, settings())
    assert first.metrics == again.metrics
    pd.testing.assert_frame_equal(first.artifacts["coordinates"], again.artifacts["coordinates"])
    assert first.metrics[0].value != other.metrics[0].value
    assert 0 < first.metrics[0].value <= 1


def test_model_variant_scores_the_embedding_of_the_kept_cells(tmp_path: Path) -> None:
    data = cells()
    data.obsm["X_sclong"] = np.random.default_rng(0).normal(size=(data.n_obs, 17)).astype(np.float32)
    path = tmp_path / "embedding.h5ad"
    data.write_h5ad(path)
    loaded = TASK.load("sclong", {"embedding": path}, settings())
    np.testing.assert_array_equal(loaded.matrix, data.obsm["X_sclong"])
    assert TASK.inputs("sclong") == ("embedding",) and TASK.inputs("hvg") == ("dataset",)
    data.obsm["X_sclong"][3, 2] = np.nan
    data.write_h5ad(path)
    with pytest.raises(InputError, match=r"obsm\['X_sclong'\] holds NaN"):
        TASK.load("sclong", {"embedding": path}, settings())
    del data.obsm["X_sclong"]
    data.write_h5ad(path)
    with pytest.raises(InputError, match="not an embedding written by sclong embed"):
        TASK.load("wo_go", {"embedding": path}, settings())


def test_model_variant_scores_a_real_sclong_embedding(tmp_path: Path) -> None:
    """sclong.embedding's output for a tiny random scLong, scored end to end."""
    import torch

    from sclong.embed import EmbedSettings
    from sclong.embedding import OBSM_KEY, embed_anndata
    from sclong.model import EncoderConfig, ModelConfig, ScLong
    from sclong.tasks.batch_integration import EMBEDDING_KEY

    data = cells()
    n_genes = data.n_vars
    vocabulary = pd.DataFrame({"index": range(n_genes), "ensembl_id": list(data.var_names), "symbol": ""})
    torch.manual_seed(0)
    small = EncoderConfig(depth=1, heads=2, dim_head=8, hidden=16, nb_features=16)
    config = ModelConfig(n_genes=n_genes, gene_dim=16, expr_hidden=8, top_k=64, large=small, mini=small,
                         full=small)  # fmt: skip
    ring = torch.arange(n_genes)
    model = ScLong(config, torch.randn(n_genes, 16), torch.stack([ring, (ring + 1) % n_genes]), torch.rand(n_genes))
    embedded = embed_anndata(data, model.eval(), vocabulary, settings=EmbedSettings(batch_size=64))
    assert EMBEDDING_KEY == OBSM_KEY
    path = tmp_path / "embedding.h5ad"
    embedded.write_h5ad(path)
    result = TASK.run("sclong", 0, TASK.load("sclong", {"embedding": path}, settings()), settings())
    assert 0 < result.metrics[0].value <= 1


def test_bad_inputs_give_one_line_naming_the_file_or_key(dataset: Path, tmp_path: Path) -> None:
    for key in ("batch_key", "label_key"):
        with pytest.raises(InputError, match=rf"^{dataset}: obs has no column 'tech' \({KEY}\.{key}; columns: "):
            TASK.load("raw", {"dataset": dataset}, settings(**{key: "tech"}))
    data = cells()
    data.obs["cell_type"] = data.obs["cell_type"].astype(object)
    data.obs.iloc[4, data.obs.columns.get_loc("cell_type")] = np.nan
    missing = tmp_path / "missing.h5ad"
    data.write_h5ad(missing)
    with pytest.raises(InputError, match=r"obs\['cell_type'\] \(tasks.batch_integration.label_key\) has 1 missing"):
        TASK.load("hvg", {"dataset": missing}, settings())
    with pytest.raises(InputError, match=r"has no layer 'counts' \(tasks.batch_integration.counts_layer; layers: none"):
        TASK.load("scvi", {"dataset": dataset}, settings(counts_layer="counts"))
    with pytest.raises(ConfigError, match="'tasks.batch_integration.n_hvg': asks for 5000 genes but 2"):
        TASK.load("hvg", {"dataset": dataset}, settings(n_hvg=5000))
    logs = cells()
    logs.X = sp.csr_matrix(np.log1p(logs.X.toarray()).astype(np.float32))
    log_path = tmp_path / "log1p.h5ad"
    logs.write_h5ad(log_path)
    with pytest.raises(InputError, match=r"X does not hold raw counts \(non-integer values\): set tasks"):
        TASK.load("scvi", {"dataset": log_path}, settings())
    TASK.load("scvi", {"dataset": log_path}, settings(allow_non_integer_counts=True))
    logs.X = logs.X * 10
    logs.write_h5ad(log_path)
    with pytest.raises(InputError, match="X holds neither raw counts nor log1p values"):
        TASK.load("raw", {"dataset": log_path}, settings())


def test_settings_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"'tasks.batch_integration.scvi.n_hidden': unknown key"):
        settings(scvi={"n_layers": 2, "n_latent": 30, "max_epochs": 2, "n_hidden": 128})


def test_cli_reports_a_missing_batch_key_in_one_line(dataset: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sclong.tasks.run", "--task", "batch_integration", "--method", "raw", "--seeds", "0",
         "--input", f"dataset={dataset}", "--scale", "demo", "--out-dir", str(tmp_path / "out"),
         "--settings", json.dumps(block(batch_key="tech"))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {dataset}: obs has no column 'tech' (tasks.batch_integration.batch_key; columns: cell_type, batch)"
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
