"""The learned methods of the genetic perturbation task: GEARS' offline GO files, the scLong perturbation model
(shapes, loss, selection on validation only) and the cell-gears wrapper, on a tiny screen built here."""

from __future__ import annotations

import pickle
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sclong.errors import InputError
from sclong.knowledge.genes import read_gene_table
from sclong.tasks.perturbation.go_files import (
    GENE2GO_FILE,
    GO_EDGES_DIR,
    GO_EDGES_FILE,
    PERT_GENES_FILE,
    pert_graph,
    read_go_annotations,
    top_edges,
    write_gears_files,
)
from sclong.tasks.perturbation.model import (
    LOG_COLUMNS,
    ModelSettings,
    fit_predict_sclong,
    gears_loss,
    perturbation_head,
)
from sclong.tasks.perturbation.screen import Screen, Split
from tests.embed.conftest import tiny_model, write_vocabulary

REPO = Path(__file__).resolve().parents[2]
DEMO_GENES = REPO / "resources" / "demo" / "genes.tsv.gz"
N_MEASURED = 24
PERTURBED = 6  # the first six measured genes are perturbed

OBO = """format-version: 1.2

[Term]
id: GO:0000001
name: root
namespace: biological_process
alt_id: GO:0000009

[Term]
id: GO:0000002
name: two
namespace: biological_process
is_a: GO:0000001 ! root

[Term]
id: GO:0000003
name: three
namespace: biological_process
is_a: GO:0000001 ! root

[Term]
id: GO:0000004
name: four
namespace: molecular_function

[Term]
id: GO:0000005
name: gone
namespace: biological_process
is_obsolete: true
"""


def gaf_line(db_id: str, symbol: str, go_id: str, qualifier: str = "", synonyms: str = "") -> str:
    return "\t".join(["UniProtKB", db_id, symbol, qualifier, go_id, "PMID:1", "IDA", "", "P", "", synonyms,
                      "protein", "taxon:9606", "20190101", "UniProt"]) + "\n"  # fmt: skip


@pytest.fixture(scope="module")
def symbols() -> list[str]:
    return pd.read_csv(DEMO_GENES, sep="\t")["symbol"].tolist()[:N_MEASURED]


@pytest.fixture(scope="module")
def go_sources(tmp_path_factory: pytest.TempPathFactory, symbols: list[str]) -> tuple[Path, Path]:
    """GO terms: gene 0 {1, 2}, gene 1 {1, 2, 3}, gene 2 {3}, genes 3-5 {1, 4}, others {2, 3}, and the rest
    of the lines exercise alt IDs, obsolete terms, NOT qualifiers and synonyms."""
    root = tmp_path_factory.mktemp("go")
    lines = ["!gaf-version: 2.1\n"]
    terms = {0: [1, 2], 1: [1, 2, 3], 2: [3], 3: [1, 4], 4: [9, 4], 5: [1, 4]}
    for i, symbol in enumerate(symbols):
        for term in terms.get(i, [2, 3]):
            lines.append(gaf_line(f"P{i:05d}", symbol, f"GO:{term:07d}", synonyms=f"OLD{i}" if i == 2 else ""))
    lines.append(gaf_line("P00000", symbols[0], "GO:0000005"))  # obsolete: dropped
    lines.append(gaf_line("P00002", symbols[2], "GO:0000004", qualifier="NOT"))  # negative: skipped
    (root / "tiny.gaf").write_text("".join(lines))
    (root / "tiny.obo").write_text(OBO)
    return root / "tiny.gaf", root / "tiny.obo"


def test_go_files_follow_gears_from_a_tiny_gaf_and_obo(go_sources: tuple[Path, Path], symbols: list[str],
                                                       tmp_path: Path) -> None:  # fmt: skip
    go = read_go_annotations(*go_sources, max_malformed_fraction=0.0)
    g = symbols
    assert go.lookup(g[0]) == {"GO:0000001", "GO:0000002"}  # obsolete GO:0000005 dropped
    assert go.lookup(g[2]) == {"GO:0000003"}  # its NOT annotation skipped
    assert go.lookup(g[4]) == {"GO:0000001", "GO:0000004"}  # alt_id GO:0000009 -> primary GO:0000001
    assert go.lookup("OLD2") == go.lookup(g[2]) and go.lookup("NOT_A_GENE") == frozenset()

    graph = pert_graph(go, g[:4], [g[0], g[1]], k=1)
    assert graph.genes == sorted(g[:4])
    weight = {(s, t): w for s, t, w in graph.all_edges.itertuples(index=False)}
    assert weight[(g[0], g[0])] == 1.0  # GEARS keeps self-pairs
    assert weight[(g[1], g[0])] == pytest.approx(2 / 3) and weight[(g[2], g[1])] == pytest.approx(1 / 3)
    assert weight[(g[3], g[0])] == pytest.approx(1 / 3)
    assert (g[2], g[0]) not in weight  # J = 0
    assert (graph.all_edges["importance"] > 0.1).all()
    kept = graph.edges.groupby("target").size()
    assert (kept == 2).all()  # k + 1 per target
    assert set(graph.edges.loc[graph.edges["target"] == g[0], "source"]) == {g[0], g[1]}
    ties = pd.DataFrame({"source": ["a", "b", "c"], "target": ["t"] * 3, "importance": [0.5, 0.9, 0.5]})
    assert top_edges(ties, 1)["source"].tolist() == ["b", "a"]

    write_gears_files(go, graph, g[:4], tmp_path)
    gene2go = pickle.loads((tmp_path / GENE2GO_FILE).read_bytes())
    assert gene2go[g[1]] == {"GO:0000001", "GO:0000002", "GO:0000003"} and set(gene2go) == set(g[:4])
    assert pickle.loads((tmp_path / PERT_GENES_FILE).read_bytes()) == graph.genes
    csv = pd.read_csv(tmp_path / GO_EDGES_DIR / GO_EDGES_FILE)
    assert list(csv.columns) == ["source", "target", "importance"] and len(csv) == len(graph.all_edges)

    with pytest.raises(InputError, match=r"tiny.gaf: 1 perturbed gene\(s\) without GO annotations.*: NOVEL"):
        pert_graph(go, g[:4], [g[0], "NOVEL"], k=1)


def test_gears_loss_matches_a_hand_computed_value() -> None:
    import torch

    pred = torch.tensor([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0], [2.0, 0.0, 1.0]])
    target = torch.tensor([[0.0, 2.0, 1.0], [1.0, 1.0, 3.0], [1.0, 1.0, 1.0]])
    control = torch.tensor([0.5, 1.5, 0.5])
    conditions = np.array(["A+ctrl", "A+ctrl", "ctrl"], dtype=object)
    kept = {"A+ctrl": torch.tensor([0, 2])}  # gene 1 has a zero mean in A
    loss = gears_loss(pred, target, conditions, control, kept, gamma=2.0, direction_lambda=0.1)
    # A: genes 0, 2 of rows 0, 1: |d|^4 = 1, 1, 1, 16 -> 19 / 4; signs: y-c = (-,+),(+,+), p-c = (+,-),(-,+)
    # -> squared sign differences 4, 4, 4, 0 -> 0.1 * 12 / 4
    a = 19 / 4 + 0.1 * 12 / 4
    # ctrl: row 2, all genes: |d|^4 = 1, 1, 0 -> 2 / 3; y-c = (+,-,+), p-c = (+,-,+) -> 0
    ctrl = 2 / 3
    assert float(loss) == pytest.approx((a + ctrl) / 2)


def settings(**changes) -> ModelSettings:
    values = dict(epochs=2, batch_size=8, accumulation=2, lr=1e-3, lr_decay=0.5, weight_decay=5e-4, grad_clip=1.0,
                  autofocus_gamma=2.0, direction_lambda=0.1, mlp_sizes=[16, 32, 16], go_top_k=2, go_layers=1,
                  representation_batch_size=16, eval_batch_size=16)  # fmt: skip
    return ModelSettings(**{**values, **changes})


def test_perturbation_head_shapes_and_control_path(go_sources: tuple[Path, Path], symbols: list[str]) -> None:
    import torch

    go = read_go_annotations(*go_sources, max_malformed_fraction=0.0)
    graph = pert_graph(go, symbols, symbols[:2], k=2)
    torch.manual_seed(0)
    model = perturbation_head(len(symbols), graph, settings()).eval()
    reps, control = torch.randn(3, len(symbols), 16), torch.rand(3, len(symbols))
    cells, nodes = torch.tensor([1, 2, 2]), torch.tensor([graph.index(symbols[0]), 0, graph.index(symbols[1])])
    out = model(reps, control, cells, nodes)
    assert out.shape == (3, len(symbols))
    again = model(reps, control + 1.0, cells, nodes)
    torch.testing.assert_close(again - out, torch.ones_like(out))  # the control value is added
    unperturbed = model(reps, control, cells[:0], nodes[:0])
    torch.testing.assert_close(unperturbed[0], out[0])  # cell 0 has no perturbed gene
    assert not torch.allclose(unperturbed[1], out[1])


def tiny_screen(symbols: list[str], rng: np.random.Generator) -> tuple[Screen, Split]:
    """Control cells and conditions whose perturbed genes shift a few measured genes."""
    conditions = ["ctrl"] * 24
    singles = [f"{g}+ctrl" for g in symbols[:PERTURBED]]
    doubles = [f"{symbols[0]}+{symbols[1]}", f"{symbols[2]}+{symbols[3]}", f"{symbols[4]}+{symbols[5]}"]
    for condition in singles + doubles:
        conditions += [condition] * 6
    base = rng.gamma(2.0, 0.5, size=len(symbols))
    X = rng.poisson(base, size=(len(conditions), len(symbols))).astype(np.float32)
    for i, condition in enumerate(conditions):
        for gene in condition.split("+"):
            if gene != "ctrl":
                X[i, symbols.index(gene)] = 0
                X[i, (symbols.index(gene) + 7) % len(symbols)] += 3
    X = np.log1p(X)
    adata = ad.AnnData(X=sp.csr_matrix(X), obs=pd.DataFrame({"condition": conditions, "cell_type": "K562"},
                       index=[f"c{i}" for i in range(len(conditions))]),
                       var=pd.DataFrame({"gene_name": symbols}, index=symbols))  # fmt: skip
    names = np.array(conditions, dtype=object)
    de = {c: np.arange(5, 25) % len(symbols) for c in singles + doubles}
    screen = Screen(adata=adata, genes=list(symbols), conditions=names, control_rows=np.flatnonzero(names == "ctrl"),
                    de_genes=de, de_genes_50=de, source="tiny")  # fmt: skip
    split = Split(seed=0, train=(*singles[:3], doubles[0], "ctrl"), val=(singles[3],),
                  test=(singles[4], singles[5], doubles[1], doubles[2]),
                  scenario={singles[4]: "seen_0_1", singles[5]: "seen_0_1", doubles[1]: "seen_1_2",
                            doubles[2]: "seen_0_2"})  # fmt: skip
    return screen, split


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny scLong checkpoint over the demo genes (gene_dim 16)."""
    from sclong.model import save_model

    root = tmp_path_factory.mktemp("ckpt")
    table = read_gene_table(DEMO_GENES)
    vocabulary = write_vocabulary(table.frame, root / "vocabulary.tsv")
    return save_model(root / "model", tiny_model(len(table.frame)), vocabulary=vocabulary, gene_table=DEMO_GENES)


def test_sclong_model_trains_selects_on_validation_and_never_sees_the_test_cells(
    go_sources: tuple[Path, Path], symbols: list[str], checkpoint: Path
) -> None:
    go = read_go_annotations(*go_sources, max_malformed_fraction=0.0)
    screen, split = tiny_screen(symbols, np.random.default_rng(0))
    predictions, log = fit_predict_sclong(screen, split, checkpoint, go, settings(), 3, "cpu", "paper")
    assert list(log.columns) == list(LOG_COLUMNS) and log["epoch"].tolist() == [1, 2]
    assert log["lr"].tolist() == pytest.approx([1e-3, 5e-4])
    assert np.isfinite(log[["train_loss", "val_mse_de", "val_pearson_delta_de"]].to_numpy()).all()
    assert set(predictions) == set(split.test)
    assert all(p.shape == (len(symbols),) and np.isfinite(p).all() for p in predictions.values())

    # the test cells' values reach neither training nor selection: scrambling them changes nothing
    X = screen.adata.X.toarray()
    test_rows = np.flatnonzero(np.isin(screen.conditions, split.test))
    X[test_rows] = np.random.default_rng(1).random((len(test_rows), X.shape[1])) * 5
    scrambled = Screen(adata=ad.AnnData(X=sp.csr_matrix(X), obs=screen.adata.obs, var=screen.adata.var),
                       genes=screen.genes, conditions=screen.conditions, control_rows=screen.control_rows,
                       de_genes=screen.de_genes, de_genes_50=screen.de_genes_50, source="tiny")  # fmt: skip
    again, log_again = fit_predict_sclong(scrambled, split, checkpoint, go, settings(), 3, "cpu", "paper")
    pd.testing.assert_frame_equal(log.drop(columns="seconds"), log_again.drop(columns="seconds"))
    for condition in split.test:
        np.testing.assert_array_equal(predictions[condition], again[condition])
    # ... while the validation cells do: selection reads them
    X = screen.adata.X.toarray()
    X[screen.rows(split.val[0])] += 1.0
    shifted = Screen(adata=ad.AnnData(X=sp.csr_matrix(X), obs=screen.adata.obs, var=screen.adata.var),
                     genes=screen.genes, conditions=screen.conditions, control_rows=screen.control_rows,
                     de_genes=screen.de_genes, de_genes_50=screen.de_genes_50, source="tiny")  # fmt: skip
    _, log_shifted = fit_predict_sclong(shifted, split, checkpoint, go, settings(), 3, "cpu", "paper")
    assert not np.allclose(log_shifted["val_mse_de"], log["val_mse_de"])


def test_gears_runs_one_epoch_offline_on_the_task_split(
    go_sources: tuple[Path, Path], symbols: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import requests

    from sclong.tasks.perturbation.gears_baseline import GearsSettings, fit_predict_gears

    def offline(*args, **kwargs):
        raise AssertionError("GEARS tried to download")

    monkeypatch.setattr(requests, "get", offline)
    go = read_go_annotations(*go_sources, max_malformed_fraction=0.0)
    screen, split = tiny_screen(symbols, np.random.default_rng(0))
    gears_settings = GearsSettings(epochs=1, batch_size=8, eval_batch_size=16, lr=1e-3, weight_decay=5e-4,
                                   hidden_size=8, go_top_k=2, direction_lambda=0.1)  # fmt: skip
    predictions, log = fit_predict_gears(screen, split, go, gears_settings, 0, "cpu", tmp_path)
    assert list(log.columns) == list(LOG_COLUMNS) and log["epoch"].tolist() == [1]
    assert np.isfinite(log[["train_loss", "val_mse_de", "val_pearson_delta_de"]].to_numpy()).all()
    assert set(predictions) == set(split.test)
    assert all(p.shape == (len(symbols),) and np.isfinite(p).all() for p in predictions.values())
    split_file = pickle.loads((tmp_path / "split.pkl").read_bytes())
    assert split_file == {"train": list(split.train), "val": list(split.val), "test": list(split.test)}
    # a later seed of the job loads the processed screen (GEARS' own cache), with the same result as processing
    again, log_again = fit_predict_gears(screen, split, go, gears_settings, 0, "cpu", tmp_path)
    pd.testing.assert_frame_equal(log.drop(columns="seconds"), log_again.drop(columns="seconds"))
    for condition in split.test:
        np.testing.assert_allclose(predictions[condition], again[condition], rtol=1e-6)
