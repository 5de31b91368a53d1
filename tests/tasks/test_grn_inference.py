"""GRN inference: EPR / AUPR ratio (both definitions) on the real hESC pair and hand-computed cases, the
BEELINE reader, DeepSEM, GENIE3, the GO graph baseline, cosine initialisation and the task end to end."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import auc, average_precision_score, precision_recall_curve

from sclong.data.simulate import SimulationParams, read_gene_ids, simulate
from sclong.errors import ConfigError, InputError
from sclong.knowledge.genes import read_gene_table
from sclong.knowledge.go_graph import write_edge_table
from sclong.model import save_model
from sclong.settings import from_mapping, to_json
from sclong.tasks.grn import deepsem, metrics
from sclong.tasks.grn.genie3 import genie3
from sclong.tasks.grn.go_scores import go_scores
from sclong.tasks.grn.settings import DeepSEMSettings, Genie3Settings
from sclong.tasks.grn.similarity import cosine_adjacency, deepsem_init
from sclong.tasks.grn_inference import TASK, Settings
from sclong.tasks.run import run_method
from tests.embed.conftest import tiny_model, write_vocabulary

REPO = Path(__file__).resolve().parents[2]
DEMO_GENES = REPO / "resources" / "demo" / "genes.tsv.gz"
LABEL = "grn/hesc_chipseq_label.csv"
DEEPSEM_OUTPUT = "grn/hesc_deepsem_demo_output.tsv.gz"
NAN = np.nan


def values(result: list) -> dict[str, float | None]:
    return {m.metric: m.value for m in result}


# --- real hESC pair: DeepSEM's published output against the ChIP-seq labels ---------------------------


@pytest.fixture(scope="module")
def hesc_pair(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(shared_data / LABEL), pd.read_csv(shared_data / DEEPSEM_OUTPUT, sep="\t")


def pair_matrix(label: pd.DataFrame, output: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    genes = pd.Index(sorted(set(label.Gene1) | set(label.Gene2) | set(output.Gene1) | set(output.Gene2)))
    scores = np.full((len(genes), len(genes)), NAN)
    scores[genes.get_indexer(output.Gene1), genes.get_indexer(output.Gene2)] = output.EdgeWeight
    return scores, genes.get_indexer(label.Gene1), genes.get_indexer(label.Gene2)


def tutorial_metrics(label: pd.DataFrame, output: pd.DataFrame) -> tuple[float, float]:
    """DeepSEM's GRN_inference_tutorial.ipynb, cell by cell (pairs as tuples instead of joined strings)."""
    output = output.assign(EdgeWeight=output.EdgeWeight.abs()).sort_values("EdgeWeight", ascending=False)
    tfs, genes = set(label.Gene1), set(label.Gene1) | set(label.Gene2)
    output = output[output.Gene1.isin(tfs) & output.Gene2.isin(genes)]
    label_set = set(zip(label.Gene1, label.Gene2, strict=True))
    top = output.iloc[: len(label_set)]
    epr = len(set(zip(top.Gene1, top.Gene2, strict=True)) & label_set) / (
        len(label_set) ** 2 / (len(tfs) * len(genes) - len(tfs))
    )
    predicted = dict(zip(zip(output.Gene1, output.Gene2, strict=True), output.EdgeWeight, strict=True))
    truth = [(a, b) in label_set for a in tfs for b in genes]
    scores = [predicted.get((a, b), -1) for a in tfs for b in genes]
    return epr, average_precision_score(truth, scores) / np.mean(truth)


def beeline_reference(label: pd.DataFrame, output: pd.DataFrame) -> tuple[float, float]:
    """BEELINE computeEarlyPrec (TFEdges, at 6b46c35c) and v1.1 AUPRC.py (directed, no self-edges), as sets."""
    truth = label[label.Gene1 != label.Gene2].drop_duplicates()
    nodes = set(truth.Gene1) | set(truth.Gene2)
    possible = {(a, b) for a in set(truth.Gene1) for b in nodes if a != b}
    true_edges = set(zip(truth.Gene1, truth.Gene2, strict=True)) & possible
    pred = output[[(a, b) in possible for a, b in zip(output.Gene1, output.Gene2, strict=True)]].copy()
    pred["EdgeWeight"] = pred.EdgeWeight.round(6).abs()
    pred = pred.sort_values("EdgeWeight", ascending=False, kind="stable")
    top_k = pred.iloc[min(len(pred), len(true_edges)) - 1].EdgeWeight
    best = max(pred.EdgeWeight[pred.EdgeWeight > 0].min(), top_k)
    selected = set(zip(*pred.loc[pred.EdgeWeight >= best, ["Gene1", "Gene2"]].T.to_numpy(), strict=True))
    epr = len(selected & true_edges) / len(selected) / (len(true_edges) / len(possible))
    genes = sorted(set(label.Gene1) | set(label.Gene2))
    pairs = [(a, b) for a in genes for b in genes if a != b]
    weights = dict(zip(zip(output.Gene1, output.Gene2, strict=True), output.EdgeWeight.abs(), strict=True))
    labels = [p in true_edges for p in pairs]
    precision, recall, _ = precision_recall_curve(labels, [weights.get(p, 0.0) for p in pairs])
    return epr, auc(recall, precision) / (sum(labels) / len(pairs))


def test_real_hesc_pair_both_definitions(hesc_pair: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    label, output = hesc_pair
    scores, source, target = pair_matrix(label, output)
    deepsem_values = values(metrics.grn_metrics(scores, source, target, "deepsem"))
    beeline_values = values(metrics.grn_metrics(scores, source, target, "beeline"))
    tutorial_epr, tutorial_aupr = tutorial_metrics(label, output)
    beeline_epr, beeline_aupr = beeline_reference(label, output)
    assert deepsem_values["epr"] == pytest.approx(tutorial_epr, rel=1e-12)
    assert deepsem_values["aupr_ratio"] == pytest.approx(tutorial_aupr, rel=1e-12)
    assert beeline_values["epr"] == pytest.approx(beeline_epr, rel=1e-12)
    assert beeline_values["aupr_ratio"] == pytest.approx(beeline_aupr, rel=1e-9)
    # The numbers themselves (DeepSEM's published hESC ChIP-seq run, seed 0).
    assert deepsem_values == pytest.approx({"epr": 1.2183561995, "aupr_ratio": 1.1632992130}, rel=1e-9)
    assert beeline_values == pytest.approx({"epr": 1.2175491630, "aupr_ratio": 27.7635264044}, rel=1e-9)


# --- hand-computed: 3 TFs x 5 genes ------------------------------------------------------------------

# Truth (duplicate and self-loop included): 0->1, 0->3, 1->4, 2->0, 0->1, 2->2. Rows 3 and 4 are not TFs.
TINY_SOURCE = np.array([0, 0, 1, 2, 0, 2])
TINY_TARGET = np.array([1, 3, 4, 0, 1, 2])
TINY_SCORES = np.array([
    [NAN, 0.9, 0.1, -0.8, 0.3],
    [0.2, NAN, 0.7, NAN, 0.6],
    [0.5, 0.05, NAN, 0.4, 0.15],
    [0.3, 0.25, NAN, NAN, 0.35],
    [0.01, 0.02, 0.03, 0.04, NAN],
])  # fmt: skip


def test_tiny_case_deepsem_definitions() -> None:
    # K = 5 distinct pairs (self-loop 2->2 included), 3 TFs, 5 genes. Top 5 of the 11 predicted TF pairs:
    # .9 T, .8 T, .7 F, .6 T, .5 T -> 4 hits; EPR = (4/5) / (5 / (3*5 - 3)) = 1.92.
    # AP over the 15 TF x gene pairs (self and unpredicted -1): precisions 1, 1, 3/4, 4/5, 5/15 at the
    # 5 true pairs -> AP = 11.65 / 15; ratio = AP / (5/15) = 2.33.
    assert values(metrics.grn_metrics(TINY_SCORES, TINY_SOURCE, TINY_TARGET, "deepsem")) == pytest.approx(
        {"epr": 1.92, "aupr_ratio": 2.33}, rel=1e-12
    )


def test_tiny_case_beeline_definitions() -> None:
    # EPR: 4 true edges, universe 3*5 - 3 = 12; k = 4, cut-off max(.05, .6) = .6 selects .9 T, .8 T, .7 F,
    # .6 T -> 3/4; EPR = 0.75 / (4/12) = 2.25.
    # AUPRC over the 20 ordered pairs of 5 genes: points (0, 1) (.25, 1) (.5, 1) (.5, 2/3) (.75, 3/4) (1, 4/5)
    # -> area .25 + .25 + (2/3 + 3/4)/8 + (3/4 + 4/5)/8 = 0.8708333; ratio = area / (4/20).
    assert values(metrics.grn_metrics(TINY_SCORES, TINY_SOURCE, TINY_TARGET, "beeline")) == pytest.approx(
        {"epr": 2.25, "aupr_ratio": (0.5 + (2 / 3 + 0.75) / 8 + (0.75 + 0.8) / 8) * 5}, rel=1e-12
    )


def test_epr_ties_at_the_cut() -> None:
    # Truth 0->1, 0->3, 4->2 (K = 3; TFs 0 and 4; genes 0-4). TF 0 scores .9 (0->1, true) and .5 three times
    # (0->2 false, 0->3 true, 0->4 false); TF 4 predicts nothing. DeepSEM's top 3: .9 and two of the three
    # tied: expected hits 1 + 2/3 -> EPR (5/9) / (3 / (2*5 - 2)) = 40/27. BEELINE keeps all tied pairs:
    # 2 true of 4 -> (1/2) / (3/8) = 4/3.
    scores = np.array([[NAN, 0.9, 0.5, 0.5, 0.5]] + [[NAN] * 5] * 4)
    source, target = np.array([0, 0, 4]), np.array([1, 3, 2])
    assert metrics.deepsem_epr(scores, source, target).value == pytest.approx(40 / 27, rel=1e-12)
    assert metrics.beeline_epr(scores, source, target).value == pytest.approx(4 / 3, rel=1e-12)
    # BEELINE rounds to 6 decimals first: .5000004, .5000001 and .5000002 tie as .5; unrounded, the top 3
    # are .9, .5000004 and .5000002 (1 true): (1/3) / (3/8) = 8/9, DeepSEM's value.
    scores[0, 2:] = [0.5000004, 0.5000001, 0.5000002]
    assert metrics.beeline_epr(scores, source, target).value == pytest.approx(4 / 3, rel=1e-12)
    assert metrics.deepsem_epr(scores, source, target).value == pytest.approx(8 / 9, rel=1e-12)


def test_metrics_without_predictions_or_truth() -> None:
    empty = np.full((3, 3), NAN)
    result = values(metrics.grn_metrics(empty, np.array([0]), np.array([1]), "deepsem"))
    assert result["epr"] == 0.0  # the tutorial's top-K is empty: no hit
    beeline = metrics.grn_metrics(empty, np.array([0]), np.array([1]), "beeline")
    assert beeline[0].value is None and "non-zero score" in beeline[0].note
    only_self = metrics.grn_metrics(empty, np.array([1]), np.array([1]), "beeline")
    assert [m.value for m in only_self] == [None, None]
    assert all("no edge" in m.note for m in only_self)


def test_precision_recall_matches_sklearn_on_random_scores() -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        scores = np.round(rng.normal(size=5000), 1)  # many ties
        truth = rng.random(5000) < 0.05
        average_precision, area = metrics._precision_recall(scores[truth], iter(np.array_split(scores.copy(), 7)))
        precision, recall, _ = precision_recall_curve(truth, scores)
        assert average_precision == pytest.approx(average_precision_score(truth, scores), rel=1e-12)
        assert area == pytest.approx(auc(recall, precision), rel=1e-12)


def test_beeline_aupr_in_several_blocks_and_gene_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    scores = rng.normal(size=(40, 40)).astype(np.float32)
    scores[rng.random((40, 40)) < 0.3] = NAN
    source, target = rng.choice(np.arange(0, 40, 2), 60), rng.choice(np.arange(0, 40, 2), 60)
    whole = metrics.beeline_aupr_ratio(scores, source, target).value
    monkeypatch.setattr(metrics, "BLOCK_ELEMENTS", 50)  # 2 rows per block, nodes = every other gene
    assert metrics.beeline_aupr_ratio(scores, source, target).value == pytest.approx(whole, rel=1e-12)
    nodes = np.unique(np.concatenate([source, target]))
    pairs = [(a, b) for a in nodes for b in nodes if a != b]
    true = {(a, b) for a, b in zip(source, target, strict=True) if a != b}
    weights = np.nan_to_num(np.abs(np.array([scores[a, b] for a, b in pairs], dtype=np.float64)))
    labels = [p in true for p in pairs]
    precision, recall, _ = precision_recall_curve(labels, weights)
    assert whole == pytest.approx(auc(recall, precision) / (len(true) / len(pairs)), rel=1e-9)


# --- BEELINE's CSV files --------------------------------------------------------------------------------


# --- methods ---------------------------------------------------------------------------------------------


def small_deepsem(**changes: object) -> DeepSEMSettings:
    settings = {"hidden": 8, "epochs": 2, "batch_size": 16, "alpha": 0.1, "beta": 0.01, "lr": 1e-4, "lr_grn": 2e-5,
                "lr_decay": 0.95, "lr_step": 0.99, "network_epochs": 1, "grn_epochs": 2, "init": "code"}  # fmt: skip
    return DeepSEMSettings(**{**settings, **changes})


def test_deepsem_standardize_nonzero_values() -> None:
    expression = np.array([[0.0, 2.0, 5.0], [1.0, 2.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    scaled, mask = deepsem.standardize(expression)
    # gene 0: non-zero 1, 3 -> mean 2, SD 1; gene 1: constant non-zero -> 0; gene 2: one value -> 0
    np.testing.assert_allclose(scaled[:, 0], [-2, -1, 1, -2])
    assert not scaled[:, 1:].any()
    np.testing.assert_array_equal(mask, expression != 0)


def test_deepsem_clips_to_ten() -> None:
    expression = np.concatenate([np.ones(200), [1000.0]])[:, None]
    assert deepsem.standardize(expression)[0].max() == 10.0


def test_deepsem_initial_a() -> None:
    rng = np.random.default_rng(0)
    code, paper = deepsem.uniform_init(5, "code", rng), deepsem.uniform_init(5, "paper", rng)
    off = ~np.eye(5, dtype=bool)
    assert not code.diagonal().any() and not paper.diagonal().any()
    assert (code[off] >= 0.25).all() and (code[off] < 0.25 + 2e-4).all()
    assert (paper[off] >= 0).all() and (paper[off] < 2e-4).all()


def test_deepsem_network_learning_rate_follows_torch_1_2_steplr() -> None:
    settings = small_deepsem(lr=1.0)
    assert deepsem.network_lr(settings, 0) == 1.0
    assert deepsem.network_lr(settings, 1) == pytest.approx(0.95)
    assert deepsem.network_lr(settings, 98) == pytest.approx(0.95**98)
    assert deepsem.network_lr(settings, 99) == pytest.approx(0.95**100)  # 99 // 0.99 == 100


def test_deepsem_alternates_networks_and_a() -> None:
    rng = np.random.default_rng(0)
    expression = np.log1p(rng.poisson(1.0, (40, 6))).astype(np.float32)
    init = deepsem.uniform_init(6, "code", rng)
    first = deepsem.train(expression, init, small_deepsem(epochs=0), 0, "cpu")  # epoch 0: networks only
    np.testing.assert_array_equal(first, init)
    trained = deepsem.train(expression, init, small_deepsem(epochs=1), 0, "cpu")  # epoch 1: A
    assert not np.array_equal(trained, init) and not trained.diagonal().any()
    again = deepsem.train(expression, init, small_deepsem(epochs=1), 0, "cpu")
    np.testing.assert_array_equal(trained, again)
    other = deepsem.train(expression, init, small_deepsem(epochs=1), 1, "cpu")
    assert not np.array_equal(trained, other)


def test_deepsem_inverse_is_exact() -> None:
    rng = np.random.default_rng(1)
    init = deepsem.uniform_init(7, "code", rng)
    model = deepsem.DeepSEM(init, 4, torch_generator(0))
    grn = model.grn().detach().numpy()
    np.testing.assert_allclose(grn, np.eye(7) - init.T, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.inv(grn) @ grn, np.eye(7), atol=1e-4)


def torch_generator(seed: int) -> object:
    import torch

    return torch.Generator().manual_seed(seed)


def test_genie3_scores_as_genie3() -> None:
    rng = np.random.default_rng(0)
    regulators = rng.normal(size=(300, 3))
    target = 2.0 * regulators[:, 0] + 0.1 * rng.normal(size=300)
    constant = np.full(300, 4.0)
    expression = np.column_stack([regulators, target, constant]).astype(np.float32)
    scores = genie3(expression, np.array([0, 1, 2]), Genie3Settings(n_trees=20, max_features="sqrt"), 0)
    assert np.isnan(scores[3:]).all() and np.isnan(np.diag(scores)).all()
    assert np.nanargmax(scores[:, 3]) == 0 and scores[0, 3] > 0.6
    assert scores[:3, 3].sum() != pytest.approx(1.0, abs=1e-3)  # not sklearn's per-tree normalised importances
    assert not scores[:3, 4].any()  # a constant target: nothing to explain
    np.testing.assert_array_equal(scores, genie3(expression, np.array([0, 1, 2]), Genie3Settings(20, "sqrt"), 0))
    rescaled = expression.copy()
    rescaled[:, 3] *= 10  # GENIE3 divides each target by its SD: the same scores
    np.testing.assert_allclose(genie3(rescaled, np.array([0, 1, 2]), Genie3Settings(20, "sqrt"), 0)[:3, 3],
                               scores[:3, 3], rtol=1e-5)  # fmt: skip
    assert not np.array_equal(scores, genie3(expression, np.array([0, 1, 2]), Genie3Settings(20, "sqrt"), 1),
                              equal_nan=True)  # fmt: skip


def test_cosine_adjacency_and_initial_a() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(30, 5)).astype(np.float32)
    vectors[:, 4] = 0  # a gene without a representation
    similarity = cosine_adjacency(vectors)
    unit = vectors[:, :4] / np.linalg.norm(vectors[:, :4], axis=0)
    expected = unit.T @ unit
    np.fill_diagonal(expected, 0)
    np.testing.assert_allclose(similarity[:4, :4], expected, atol=1e-6)
    assert not similarity[4].any() and not similarity[:, 4].any()
    init = deepsem_init(similarity.copy())
    np.testing.assert_allclose(np.abs(init[:4]).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(init[:4, :4], expected / np.abs(expected).sum(axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(init[4], [0.25, 0.25, 0.25, 0.25, 0])
    assert (np.sign(init[:4, :4]) == np.sign(expected)).all()


def test_go_scores_restricted_to_evaluated_genes(tmp_path: Path) -> None:
    table = pd.read_csv(DEMO_GENES, sep="\t")
    ids, symbols = list(table.ensembl_gene_id[:4]), list(table.symbol[:4])
    edges = pd.DataFrame({"source": [0, 1, 2, 3], "target": [1, 0, 3, 9], "source_id": ids,
                          "target_id": [ids[1], ids[0], ids[3], "ENSG99999999999"],
                          "weight": [0.5, 0.5, 0.25, 0.9]})  # fmt: skip
    write_edge_table(edges, tmp_path / "go_graph.tsv")
    scores = go_scores([symbols[0], symbols[1], ids[2], symbols[3], "NOT_A_GENE"], tmp_path / "go_graph.tsv",
                       DEMO_GENES)  # fmt: skip
    expected = np.full((5, 5), NAN)
    expected[0, 1], expected[1, 0], expected[2, 3] = 0.5, 0.5, 0.25
    np.testing.assert_array_equal(scores, expected)


# --- the task ---------------------------------------------------------------------------------------------


def task_block(**changes: object) -> dict:
    block = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["tasks"]["grn_inference"]
    block = {**block, "n_variable_genes": 40, "top_edges": 50, "device": "cpu", "normalization": "paper",
             "deepsem": {**block["deepsem"], "hidden": 8, "epochs": 2},
             "genie3": {"n_trees": 3, "max_features": "sqrt"}}  # fmt: skip
    return {**block, **changes}


def task_settings(**changes: object) -> Settings:
    return from_mapping(Settings, task_block(**changes), "tasks.grn_inference")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    genes = read_gene_ids(DEMO_GENES)[:300]
    cells = simulate(genes, SimulationParams(n_cells=150, n_cell_types=3, n_batches=2, seed=0, cell_seed=1, n_tfs=20))
    path = tmp_path_factory.mktemp("grn") / "simulated.h5ad"
    cells.write_h5ad(path)
    return path


def test_settings_from_the_config_block() -> None:
    settings = task_settings()
    assert isinstance(settings.deepsem, DeepSEMSettings) and isinstance(settings.genie3, Genie3Settings)
    with pytest.raises(ConfigError, match="'tasks.grn_inference.deepsem.latent': unknown key"):
        task_settings(deepsem={**task_block()["deepsem"], "latent": 128})
    with pytest.raises(ConfigError, match="'tasks.grn_inference.genie3.n_trees': is required"):
        task_settings(genie3={"max_features": "sqrt"})
    with pytest.raises(ConfigError, match="'tasks.grn_inference.evaluation': must be one of deepsem, beeline"):
        task_settings(evaluation="paper")


def test_task_inputs_and_seeding() -> None:
    assert TASK.inputs("sclong") == ("dataset", "checkpoint")
    assert TASK.inputs("go_graph") == ("dataset", "go_graph", "gene_table")
    assert TASK.inputs("deepsem") == TASK.inputs("genie3") == ("dataset",)
    assert [TASK.seeded(m) for m in ("deepsem", "genie3", "go_graph", "random_go")] == [True, True, False, True]


def test_evaluated_genes_and_truth(simulated: Path) -> None:
    cells = ad.read_h5ad(simulated)
    data = TASK.load("genie3", {"dataset": simulated}, task_settings())
    truth = cells.uns["grn_edges"]
    tfs = sorted(set(truth.tf))
    assert len(data.genes) == len(tfs) + 40 and set(tfs) <= set(data.genes)
    assert list(data.genes) == [g for g in cells.var_names if g in set(data.genes)]  # var order
    assert list(data.genes[data.tfs]) == [g for g in cells.var_names if g in set(tfs)]
    inside = truth[truth.target.isin(data.genes)]
    assert sorted(zip(data.genes[data.truth_source], data.genes[data.truth_target], strict=True)) == sorted(
        zip(inside.tf, inside.target, strict=True)
    )
    log_values = np.log1p(cells.X.toarray() / cells.X.toarray().sum(axis=1, keepdims=True) * 1e4)
    variance = pd.Series(log_values.var(axis=0, ddof=1), index=cells.var_names).drop(tfs)
    assert set(data.genes) - set(tfs) == set(variance.sort_values(ascending=False, kind="stable").index[:40])
    np.testing.assert_allclose(data.expression, log_values[:, cells.var_names.get_indexer(data.genes)], rtol=1e-5)


def test_expression_keeps_the_thread_setting(simulated: Path) -> None:
    """Normalising counts must not change torch's threads (scanpy's numba kernels set them to all cores)."""
    code = ("import anndata, torch; from sclong.tasks.grn.data import expression_values; "
            f"expression_values(anndata.read_h5ad({str(simulated)!r}), 'x'); "
            "print(torch.get_num_threads())")  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src")}
    env.pop("NUMBA_NUM_THREADS", None)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split()[-1] == "1"


@pytest.mark.parametrize("method", ["deepsem", "genie3"])
def test_same_seed_same_metrics_other_seed_differs(simulated: Path, method: str) -> None:
    settings = task_settings()
    data = TASK.load(method, {"dataset": simulated}, settings)
    first, again, other = (TASK.run(method, seed, data, settings) for seed in (0, 0, 1))
    assert first.metrics == again.metrics
    pd.testing.assert_frame_equal(first.artifacts["edges"], again.artifacts["edges"])
    assert first.metrics != other.metrics
    assert [m.metric for m in first.metrics] == ["epr", "aupr_ratio"]
    assert all(m.value is not None and m.value > 0 for m in first.metrics)


def test_runner_writes_metrics_and_edges(simulated: Path, tmp_path: Path) -> None:
    settings = task_block(evaluation="beeline")
    genes = read_gene_ids(DEMO_GENES)
    go = pd.DataFrame({"source": [0, 1], "target": [1, 2], "source_id": genes[0:2], "target_id": genes[1:3],
                       "weight": [0.5, 0.25]})  # fmt: skip
    write_edge_table(go, tmp_path / "go_graph.tsv")
    inputs = {"dataset": simulated, "go_graph": tmp_path / "go_graph.tsv", "gene_table": DEMO_GENES}
    for method in ("genie3", "go_graph"):
        run_method(TASK, method, [0], to_json(settings), inputs, tmp_path / method, "demo")
        table = pd.read_csv(tmp_path / method / "seed0" / "metrics.tsv", sep="\t")
        assert list(table.metric) == ["epr", "aupr_ratio"]
        edges = pd.read_csv(tmp_path / method / "seed0" / "edges.tsv", sep="\t")
        assert list(edges.columns) == ["tf", "target", "score", "in_truth"]
        assert len(edges) <= 50 and (edges.score.abs().diff().dropna() <= 0).all()
    assert json.loads((tmp_path / "genie3" / "seed0" / "provenance.json").read_text())["method"] == "genie3"
    assert len(pd.read_csv(tmp_path / "genie3" / "seed0" / "edges.tsv", sep="\t")) == 50


def test_dataset_truth_with_absent_genes(simulated: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cells = ad.read_h5ad(simulated)
    edges = cells.uns["grn_edges"]
    cells.uns["grn_edges"] = pd.concat([edges, pd.DataFrame({"tf": ["GHOST1", edges.tf[0]], "target": [
        edges.target[0], "GHOST2"], "weight": [1.0, 1.0]})], ignore_index=True)  # fmt: skip
    path = tmp_path / "ghosts.h5ad"
    cells.write_h5ad(path)
    with caplog.at_level(logging.WARNING):
        TASK.load("deepsem", {"dataset": path}, task_settings())
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"{path}: 2 of {len(edges) + 2} ground-truth edges name 2 gene(s) absent from the expression data "
        "(e.g. GHOST1, GHOST2): dropped"
    ]
    cells.uns["grn_edges"] = pd.DataFrame({"tf": ["GHOST1"], "target": ["GHOST2"]})
    cells.write_h5ad(path)
    with pytest.raises(InputError) as err:
        TASK.load("deepsem", {"dataset": path}, task_settings())
    assert str(err.value) == f"{path}: none of the 1 ground-truth edges is between genes of the expression data"
    del cells.uns["grn_edges"]
    cells.write_h5ad(path)
    with pytest.raises(InputError, match="dataset has no ground-truth network"):
        TASK.load("deepsem", {"dataset": path}, task_settings())


def test_model_variant_initialises_deepsem_with_cosine_similarity(simulated: Path, tmp_path: Path) -> None:
    table = read_gene_table(DEMO_GENES)
    vocabulary = write_vocabulary(table.frame, tmp_path / "vocabulary.tsv")
    checkpoint = save_model(tmp_path / "ckpt", tiny_model(len(table.frame)), vocabulary=vocabulary,
                            gene_table=DEMO_GENES)  # fmt: skip
    settings = task_settings()
    data = TASK.load("sclong", {"dataset": simulated, "checkpoint": checkpoint}, settings)
    assert data.prior.shape == (len(data.genes), len(data.genes)) and not data.prior.diagonal().any()
    np.testing.assert_allclose(np.abs(data.prior).sum(axis=1), 1.0, rtol=1e-5)
    first, again = TASK.run("sclong", 0, data, settings), TASK.run("sclong", 0, data, settings)
    assert first.metrics == again.metrics and all(m.value is not None for m in first.metrics)
