"""Drug combination (DeepDDS data, Fig. 4c): the readers on the real O'Neil files and on hand-built bad input,
the validation split, AUROC against hand-computed values, the two networks (sizes, shared/separate drug
layers, per-drug convolutions equal to DeepDDS' per-pair graphs), the learning-rate schedule, the training
loop (overfits a tiny screen; the test loader is read once, after training) and the random forest."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import Batch

from sclong.data.simulate import read_gene_ids
from sclong.errors import InputError
from sclong.tasks.drugs import combination_data as data
from sclong.tasks.drugs import deepdds
from sclong.tasks.drugs.combination_rf import pair_features, random_forest_scores
from sclong.tasks.drugs.combination_simulate import ComboSimParams, cell_feature_rows, simulate_screen, write_screen
from sclong.tasks.drugs.combination_train import FitSettings, PairLoader, fit, learning_rate, predict
from sclong.tasks.drugs.molecules import featurize, fingerprints

LABELS = "drug_combination/labels_0_10.csv.gz"
FEATURES = "drug_combination/new_cell_features_954.csv"
SMILES = "drug_combination/smiles.csv"
REPO = Path(__file__).resolve().parents[3]
TEST_CELLS = ["A2780", "HT29", "NCIH460", "SKOV3", "T47D"]  # held out as the "independent" test set


# --- readers on the real files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oneil(shared_data: Path) -> tuple[pd.DataFrame, data.CellFeatures, pd.Series]:
    return (
        data.read_labels(shared_data / LABELS),
        data.read_cell_features(shared_data / FEATURES, "exact"),
        data.read_smiles(shared_data / SMILES),
    )


def test_real_files_read(oneil: tuple[pd.DataFrame, data.CellFeatures, pd.Series]) -> None:
    labels, features, smiles = oneil
    assert len(labels) == 12415 and labels["cell"].nunique() == 31
    assert len(set(labels["drug1"]) | set(labels["drug2"])) == 36
    assert labels["label"].value_counts().to_dict() == {0: 6299, 1: 6116}
    assert features.values.shape == (31, 954) and features.values.dtypes.unique().tolist() == [np.float32]
    assert features.values.columns[0] == "ENSG00000116237" and features.transcripts.iloc[0] == "ENST00000343813"
    assert features.values.loc["A2058", "ENSG00000116237"] == np.float32(51.07)
    assert set(labels["cell"]) == set(features.values.index)
    assert len(smiles) == 95 and smiles["5-FU"] == "O=c1[nH]cc(F)c(=O)[nH]1"
    assert set(labels["drug1"]) | set(labels["drug2"]) <= set(smiles)


def write_deepdds_set(folder: Path, labels: pd.DataFrame, features: data.CellFeatures, cells: list[str]) -> None:
    """An independent set in DeepDDS' formats: ``independent_input.csv`` and the two-header feature file."""
    labels[labels["cell"].isin(cells)].to_csv(folder / "independent_input.csv", index=False)
    rows = cell_feature_rows(features.values.loc[cells])
    rows.to_csv(folder / "independent_cell_features_954.csv", header=False, index=False)


def test_independent_set_reader_on_oneil_format(
    tmp_path: Path, oneil: tuple[pd.DataFrame, data.CellFeatures, pd.Series]
) -> None:
    labels, features, _ = oneil
    write_deepdds_set(tmp_path, labels, features, TEST_CELLS)
    test_labels = data.read_labels(tmp_path / "independent_input.csv")
    test_features = data.read_cell_features(tmp_path / "independent_cell_features_954.csv", "exact")
    pd.testing.assert_frame_equal(test_features.values, features.values.loc[TEST_CELLS])
    assert (test_features.transcripts == "unknown").all()
    screen = data.match_screen(test_labels, test_features, {}, "independent", {})
    assert len(screen.pairs) == labels["cell"].isin(TEST_CELLS).sum() and screen.dropped.empty
    assert list(screen.cells.index) == sorted(TEST_CELLS)


def test_match_drops_and_names_in_one_line(
    oneil: tuple[pd.DataFrame, data.CellFeatures, pd.Series], caplog: pytest.LogCaptureFixture
) -> None:
    labels, features, smiles = oneil
    names = {s: n for n, s in smiles.items()}
    partial = data.CellFeatures(features.values.drop(index=["A375", "SW620"]), features.transcripts)
    five_fu = smiles["5-FU"]
    with caplog.at_level(logging.WARNING, logger=data.__name__):
        screen = data.match_screen(labels, partial, {five_fu: five_fu}, "labels_0_10.csv", names)
    no_cell = labels["cell"].isin(["A375", "SW620"])
    bad_drug = (labels["drug1"] == five_fu) | (labels["drug2"] == five_fu)
    assert len(screen.pairs) == (~no_cell & ~bad_drug).sum() and len(screen.dropped) == (no_cell | bad_drug).sum()
    assert five_fu not in screen.drugs and len(screen.drugs) == 35
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"labels_0_10.csv: dropped {(no_cell | bad_drug).sum()} of 12415 label rows")
    assert f"{no_cell.sum()} cell without features (cells: A375, SW620)" in line
    assert f"{(bad_drug & ~no_cell).sum()} unparseable SMILES (drugs: 5-FU)" in line


def features_file(path: Path, cells: list[str], genes: list[str], values: list[list[str]]) -> Path:
    rows = [["gene_id", *genes], ["transcript_id", *[f"ENST{i}" for i in range(len(genes))]]]
    rows += [[cell, *row] for cell, row in zip(cells, values, strict=True)]
    path.write_text("".join(",".join(row) + "\n" for row in rows))
    return path


def test_exact_ids_not_substrings(tmp_path: Path) -> None:
    """DeepDDS' substring lookup gives SW48 the row of SW480 when that comes first; exact ids do not."""
    file = features_file(tmp_path / "f.csv", ["SW480", "SW48"], ["ENSG1", "ENSG2"], [["1", "2"], ["3", "4"]])
    features = data.read_cell_features(file, "exact")
    labels = pd.DataFrame({"drug1": ["C"], "drug2": ["CC"], "cell": ["SW48"], "label": [1]})
    screen = data.match_screen(labels, features, {}, "t", {})
    assert screen.cells.loc["SW48"].tolist() == [3, 4]
    only_sw480 = features_file(tmp_path / "g.csv", ["SW480"], ["ENSG1", "ENSG2"], [["1", "2"]])
    with pytest.raises(InputError, match="no label row is usable"):
        data.match_screen(labels, data.read_cell_features(only_sw480, "exact"), {}, "t", {})


def test_ccle_names_read_only_when_asked(tmp_path: Path) -> None:
    file = features_file(tmp_path / "f.csv", ["J82_URINARY_TRACT", "SW48_LARGE_INTESTINE"], ["E1"], [["1"], ["2"]])
    labels = pd.DataFrame({"drug1": ["C"], "drug2": ["CC"], "cell": ["J82"], "label": [0]})
    with pytest.raises(InputError, match="look like CCLE names.*cell_ids='ccle_name'"):
        data.match_screen(labels, data.read_cell_features(file, "exact"), {}, "t", {})
    screen = data.match_screen(labels, data.read_cell_features(file, "ccle_name"), {}, "t", {})
    assert screen.cells.index.tolist() == ["J82"]
    clash = features_file(tmp_path / "g.csv", ["J82_URINARY_TRACT", "J82_SKIN"], ["E1"], [["1"], ["2"]])
    with pytest.raises(InputError, match=r"g\.csv: cell-line ids must be unique.*J82"):
        data.read_cell_features(clash, "ccle_name")
    plain = features_file(tmp_path / "h.csv", ["J82"], ["E1"], [["1"]])
    with pytest.raises(InputError, match="not a CCLE name"):
        data.read_cell_features(plain, "ccle_name")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("drug1,drug2,cell\nC,CC,A\n", "missing label"),
        ("drug1,drug2,cell,label\nC,CC,A,2\n", "not 0 or 1 .*'2' in data row 1"),
        ("drug1,drug2,cell,label\nC,CC,A,\n", "not 0 or 1"),
        ("drug1,drug2,cell,label\n", "no label rows"),
    ],
)
def test_bad_labels(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=f"labels.csv: .*{problem}"):
        data.read_labels(path)


@pytest.mark.parametrize(
    ("cells", "genes", "values", "problem"),
    [
        (["A"], ["E1", "E1"], [["1", "2"]], "gene ids must be unique"),
        (["A", "A"], ["E1"], [["1"], ["2"]], "cell-line ids must be unique.*A"),
        (["A"], ["E1"], [["x"]], "must be numbers"),
        (["A"], ["E1"], [["-1"]], "non-negative TPM"),
        (["A"], ["E1"], [["nan"]], "finite"),
    ],
)
def test_bad_cell_features(tmp_path: Path, cells: list, genes: list, values: list, problem: str) -> None:
    path = features_file(tmp_path / "cells.csv", cells, genes, values)
    with pytest.raises(InputError, match=f"cells.csv: .*{problem}"):
        data.read_cell_features(path, "exact")


def test_features_need_both_header_rows(tmp_path: Path) -> None:
    path = tmp_path / "cells.csv"
    path.write_text("gene_id,E1\nA,1\n")
    with pytest.raises(InputError, match="'transcript_id' row"):
        data.read_cell_features(path, "exact")


def test_empty_drug_dropped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    features = data.read_cell_features(features_file(tmp_path / "f.csv", ["A"], ["E1"], [["1"]]), "exact")
    labels = pd.DataFrame({"drug1": ["C", ""], "drug2": ["CC", "CC"], "cell": ["A", "A"], "label": [0, 1]})
    with caplog.at_level(logging.WARNING, logger=data.__name__):
        screen = data.match_screen(labels, features, {}, "t", {})
    assert len(screen.pairs) == 1 and "1 drug without SMILES (data rows: 2)" in caplog.text


# --- split and metric ----------------------------------------------------------------------------------


def test_validation_split(oneil: tuple[pd.DataFrame, data.CellFeatures, pd.Series]) -> None:
    pairs = oneil[0]
    train, validation = data.validation_split(pairs, 0.1, 3, "pairs")
    assert len(validation) == round(0.1 * len(pairs)) and not set(train) & set(validation)
    assert len(train) + len(validation) == len(pairs)
    assert abs(pairs["label"].iloc[validation].mean() - pairs["label"].mean()) < 0.005
    again = data.validation_split(pairs, 0.1, 3, "pairs")[1]
    other_seed = data.validation_split(pairs, 0.1, 4, "pairs")[1]
    assert np.array_equal(validation, again) and not np.array_equal(validation, other_seed)
    train, validation = data.validation_split(pairs, 0.1, 3, "cells")
    held = set(pairs["cell"].iloc[validation])
    assert len(held) == 3 and not held & set(pairs["cell"].iloc[train])


def test_auroc_hand_computed() -> None:
    assert data.auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    # ties count one half: positive/negative pairs (0.2 vs 0.2) 0.5, (0.2 vs 0.5) 0, four wins -> 4.5 / 6
    assert data.auroc(np.array([0, 1, 1, 0, 1]), np.array([0.2, 0.2, 0.7, 0.5, 0.9])) == pytest.approx(0.75)
    assert data.auroc(np.array([1, 1]), np.array([0.2, 0.3])) is None


def test_cell_inputs_zero_or_drop() -> None:
    genes = pd.Index(["E1", "E2", "E3"])
    values = pd.DataFrame([[1.0, 3.0]], index=["A"], columns=["E3", "E1"])
    assert data.cell_inputs(values, genes, "zero").to_numpy().tolist() == [[3.0, 0.0, 1.0]]
    dropped = data.cell_inputs(values, genes, "drop")
    assert dropped.columns.tolist() == ["E1", "E3"] and dropped.to_numpy().tolist() == [[3.0, 1.0]]
    with pytest.raises(ValueError, match="not genes"):
        data.cell_inputs(values.rename(columns={"E1": "X"}), genes, "zero")


# --- networks ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def molecules(oneil: tuple[pd.DataFrame, data.CellFeatures, pd.Series]) -> tuple[list[str], Batch]:
    labels = oneil[0]
    drugs = sorted(set(labels["drug1"]) | set(labels["drug2"]))
    graphs = featurize({s: s for s in drugs}, "deepdds", "oneil").graphs
    return drugs, Batch.from_data_list([graphs[s] for s in drugs])


def linear(a: int, b: int) -> int:
    return a * b + b


def test_deepdds_sizes_and_shared_drug_layers(molecules: tuple[list[str], Batch]) -> None:
    net = deepdds.build("deepdds", 954, 0.2, seed=0)
    gcn = linear(78, 78) + linear(78, 156) + linear(156, 312)  # GCNConv: weight + bias
    drug_fc = linear(312, 156) + linear(156, 128)
    cell = linear(954, 512) + linear(512, 256) + linear(256, 128)
    head = linear(384, 512) + linear(512, 128) + linear(128, 2)
    assert sum(p.numel() for p in net.parameters()) == gcn + drug_fc + cell + head
    assert sum(isinstance(m, deepdds.DrugGCN) for m in net.modules()) == 1
    drugs, batch = molecules
    out = net(batch, torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5]), torch.rand(3, 954))
    assert out.shape == (3, 2)


def test_sclong_sizes_and_separate_gcns(molecules: tuple[list[str], Batch]) -> None:
    net = deepdds.build("sclong", 954, 0.2, seed=0)
    gcn = linear(78, 1024) + linear(1024, 512) + linear(512, 156)
    cell = linear(954, 512) + linear(512, 256) + linear(256, 128)
    head = linear(440, 1024) + linear(1024, 512) + linear(512, 128) + linear(128, 2)
    assert sum(p.numel() for p in net.parameters()) == 2 * gcn + cell + head
    assert sum(isinstance(m, deepdds.DrugGCN) for m in net.modules()) == 2
    drugs, batch = molecules
    net.eval()
    d1, d2, cells = torch.tensor([0, 1]), torch.tensor([1, 0]), torch.rand(2, 954)
    out = net(batch, d1, d2, cells)
    assert out.shape == (2, 2) and not torch.allclose(out[0], out[1])  # two GCNs: drug order matters


def test_per_drug_convolutions_equal_per_pair_graphs(molecules: tuple[list[str], Batch]) -> None:
    """Gathering pooled vectors of the screen's drugs gives DeepDDS' numbers of one graph per pair."""
    drugs, batch = molecules
    net = deepdds.build("deepdds", 954, 0.2, seed=1).eval()
    d1, d2 = torch.tensor([4, 0, 4, 7]), torch.tensor([1, 2, 3, 4])
    graphs = batch.to_data_list()
    per_pair = net.gcn(Batch.from_data_list([graphs[i] for i in d1.tolist()]))
    assert torch.allclose(net.gcn(batch)[d1], per_pair, atol=1e-6)
    cells = torch.rand(4, 954)
    assert torch.allclose(net(batch, d1, d2, cells), net(batch, d1, d2, 10 * cells), atol=1e-5)  # L2-normalised


def test_learning_rate_schedule() -> None:
    paper = FitSettings(epochs=1000, lr=1e-4, warmup_epochs=50, final_lr=1e-5, eval_every=1)
    assert learning_rate(paper, 0) == pytest.approx(2e-6) and learning_rate(paper, 49) == pytest.approx(1e-4)
    assert learning_rate(paper, 50) == pytest.approx(1e-4) and learning_rate(paper, 999) == pytest.approx(1e-5)
    assert learning_rate(paper, 50 + 949 // 2) == pytest.approx(1e-4 - 9e-5 * (474 / 949))
    constant = FitSettings(epochs=10, lr=1e-3, warmup_epochs=0, final_lr=1e-3, eval_every=1)
    assert {learning_rate(constant, e) for e in range(10)} == {1e-3}


# --- training ------------------------------------------------------------------------------------------



def tiny_screen(
    molecules: tuple[list[str], Batch], n_pairs: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], Batch]:
    """Distinct random pairs of 6 real drugs on 4 made-up cell lines, labels random (only memorising fits them)."""
    rng = np.random.default_rng(seed)
    drugs = molecules[0][:6]
    graphs = molecules[1].to_data_list()[:6]
    cells = pd.DataFrame(rng.gamma(1.0, 10.0, (4, 954)).astype(np.float32), index=list("ABCD"))
    combos = pd.MultiIndex.from_product([drugs[:3], drugs[3:], list("ABCD")], names=["drug1", "drug2", "cell"])
    chosen = combos[rng.choice(len(combos), n_pairs, replace=False)]  # distinct triples: every labelling fits
    pairs = chosen.to_frame(index=False).assign(label=rng.permutation(np.arange(n_pairs) % 2))
    return pairs, cells, drugs, Batch.from_data_list(graphs)


@pytest.mark.parametrize("kind", ["deepdds", "sclong"])
def test_tiny_overfit(kind: deepdds.NetKind, molecules: tuple[list[str], Batch]) -> None:
    pairs, cells, drugs, batch = tiny_screen(molecules, 12, seed=0)
    whole = PairLoader(pairs, drugs, cells, batch_size=12, seed=None)
    settings = FitSettings(epochs=50, lr=1e-3, warmup_epochs=0, final_lr=1e-3, eval_every=50)
    net = deepdds.build(kind, 954, 0.0, seed=0)
    result = fit(net, batch, PairLoader(pairs, drugs, cells, 12, 0), whole, whole, settings, seed=0, device="cpu")
    labels, scores = predict(net, batch, whole, "cpu")
    assert data.auroc(labels, scores) == 1.0
    assert result.history["train_loss"].iloc[0] > 0.6 and result.history["train_loss"].iloc[-1] < 0.1


class Recorded(PairLoader):
    """A loader that notes each full pass in a shared list."""

    def __init__(self, name: str, events: list[str], *args: object) -> None:
        super().__init__(*args)
        self.name, self.events = name, events

    def __iter__(self):  # noqa: ANN204
        self.events.append(self.name)
        yield from super().__iter__()


def test_test_loader_read_once_after_training(molecules: tuple[list[str], Batch]) -> None:
    pairs, cells, drugs, batch = tiny_screen(molecules, 30, seed=1)
    events: list[str] = []
    loaders = [Recorded(name, events, pairs, drugs, cells, 16, seed) for name, seed in
               [("train", 0), ("validation", None), ("test", None)]]  # fmt: skip
    settings = FitSettings(epochs=6, lr=1e-3, warmup_epochs=2, final_lr=1e-4, eval_every=2)
    result = fit(deepdds.build("deepdds", 954, 0.2, 0), batch, *loaders, settings, seed=0, device="cpu")
    assert events.count("test") == 1 and events[-1] == "test"
    assert events[:-1] == ["train", "train", "validation"] * 3
    history = result.history
    assert history["validation_auroc"].notna().tolist() == [False, True] * 3
    assert result.best_epoch == int(history.loc[history["validation_auroc"].idxmax(), "epoch"])
    assert result.test_scores.shape == (30,) and ((result.test_scores >= 0) & (result.test_scores <= 1)).all()


def test_real_screen_held_out_cells(
    oneil: tuple[pd.DataFrame, data.CellFeatures, pd.Series], molecules: tuple[list[str], Batch]
) -> None:
    """Real O'Neil pairs, five cell lines held out as the test set; validation from the rest; one epoch."""
    labels, features, _ = oneil
    drugs, batch = molecules
    screen = data.match_screen(labels, features, {}, "oneil", {})
    test = screen.pairs[screen.pairs["cell"].isin(TEST_CELLS)]
    rest = screen.pairs[~screen.pairs["cell"].isin(TEST_CELLS)].iloc[:3000]
    train_rows, validation_rows = data.validation_split(rest, 0.1, 0, "pairs")
    cells = screen.cells
    loaders = [
        PairLoader(rest.iloc[train_rows], drugs, cells, 512, 0),
        PairLoader(rest.iloc[validation_rows], drugs, cells, 512, None),
        PairLoader(test, drugs, cells, 512, None),
    ]
    settings = FitSettings(epochs=1, lr=1e-3, warmup_epochs=0, final_lr=1e-3, eval_every=1)
    result = fit(deepdds.build("deepdds", 954, 0.2, 0), batch, *loaders, settings, seed=0, device="cpu")
    assert np.array_equal(result.test_labels, test["label"].to_numpy())
    assert 0.0 <= data.auroc(result.test_labels, result.test_scores) <= 1.0


def test_random_forest(oneil: tuple[pd.DataFrame, data.CellFeatures, pd.Series]) -> None:
    labels, features, _ = oneil
    drugs = sorted(set(labels["drug1"]) | set(labels["drug2"]))
    bits = fingerprints({s: s for s in drugs}, n_bits=256, radius=2)
    x = pair_features(labels.iloc[:500], bits, features.values)
    assert x.shape == (500, 2 * 256 + 954)
    assert np.array_equal(x[0, :256], bits.loc[labels["drug1"].iloc[0]].to_numpy())
    assert np.array_equal(x[0, 512:], features.values.loc[labels["cell"].iloc[0]].to_numpy())
    # labels decided by the cell line (half of them "synergistic"): the forest must find it in the expression
    y = labels["cell"].iloc[:500].isin(sorted(features.values.index)[::2]).to_numpy().astype(int)
    scores = random_forest_scores(x[:400], y[:400], x[400:], n_trees=50, seed=0, n_jobs=1)
    assert data.auroc(y[400:], scores) > 0.99
    assert np.array_equal(scores, random_forest_scores(x[:400], y[:400], x[400:], n_trees=50, seed=0, n_jobs=1))


# --- demo simulator ------------------------------------------------------------------------------------


def test_simulated_screen_read_back(tmp_path: Path) -> None:
    drugs = pd.read_csv(REPO / "resources" / "demo" / "drugs.tsv", sep="\t")
    genes = read_gene_ids(REPO / "resources" / "demo" / "genes.tsv.gz")[:120]
    params = ComboSimParams(n_train_cells=6, n_test_cells=3, n_train_drugs=25, n_train_pairs=400, n_test_pairs=90,
                            n_programs=3, noise=0.1, seed=0)  # fmt: skip
    screen = simulate_screen(drugs, genes, params)
    folder = tmp_path / "drug_combination"
    write_screen(screen, folder)
    molecules_ = featurize({s: s for s in drugs["smiles"]}, "deepdds", "demo")
    assert not molecules_.invalid
    sets = {}
    for labels_file, cells_file in [("labels_0_10.csv", "new_cell_features_954.csv"),
                                    ("independent_set/independent_input.csv",
                                     "independent_set/independent_cell_features_954.csv")]:  # fmt: skip
        labels = data.read_labels(folder / labels_file)
        features = data.read_cell_features(folder / cells_file, "exact")
        sets[labels_file] = data.match_screen(labels, features, molecules_.invalid, labels_file, {})
        assert sets[labels_file].dropped.empty and list(features.values.columns) == genes
    train, test = sets.values()
    assert len(train.pairs) == 400 and len(test.pairs) == 90
    assert not set(train.cells.index) & set(test.cells.index)
    assert set(test.drugs) - set(train.drugs) and len(train.drugs) <= 25
    assert 0.4 < train.pairs["label"].mean() < 0.6
    assert not train.pairs.duplicated(["drug1", "drug2", "cell"]).any()
    assert (train.pairs["drug1"] != train.pairs["drug2"]).all()
    np.testing.assert_allclose(train.cells.to_numpy(), screen.train_cells.loc[train.cells.index].to_numpy(), atol=5e-3)
    assert data.read_smiles(folder / "smiles.csv").to_dict() == dict(zip(drugs["name"], drugs["smiles"], strict=True))
    again = simulate_screen(drugs, genes, params)
    pd.testing.assert_frame_equal(again.train_labels, screen.train_labels)
