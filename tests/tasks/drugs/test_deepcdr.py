"""DeepCDR in torch: the graph convolution against the dense D^-1/2 (A + I) D^-1/2 (XW + b), forward shapes, a
tiny-data overfit, early stopping on validation loss with the best epoch restored, the test loader used once
after training; the ridge baseline's alpha chosen on validation."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import Batch

from sclong.tasks.drugs.deepcdr import (
    HISTORY_COLUMNS,
    DeepCDR,
    GraphConv,
    PairSet,
    TrainSettings,
    fit_and_test,
    head_width,
    loader,
    pair_set,
)
from sclong.tasks.drugs.molecules import featurize, fingerprints
from sclong.tasks.drugs.response_linear import fit_linear, pair_features

DEMO_DRUGS = Path(__file__).resolve().parents[3] / "resources" / "demo" / "drugs.tsv"



@pytest.fixture(scope="module")
def drugs() -> pd.Series:
    return pd.read_csv(DEMO_DRUGS, sep="\t").set_index("name")["smiles"].iloc[:6]


@pytest.fixture(scope="module")
def graphs(drugs: pd.Series) -> list:
    molecules = featurize(drugs.to_dict(), "deepcdr", "demo drugs")
    return [molecules.graphs[name] for name in drugs.index]


def test_graph_conv_is_normalised_adjacency_times_affine() -> None:
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # a path 0 - 1 - 2
    x = torch.randn(3, 4)
    conv = GraphConv(4, 2)
    index, weight = gcn_norm(edge_index, None, 3, add_self_loops=True)
    a_hat = torch.tensor([[1.0, 1, 0], [1, 1, 1], [0, 1, 1]])
    d = torch.diag(a_hat.sum(1).rsqrt())
    expected = d @ a_hat @ d @ (x @ conv.linear.weight.T + conv.linear.bias)
    torch.testing.assert_close(conv(x, index, weight), expected)


def test_forward_shapes(graphs: list) -> None:
    assert head_width() == 30  # 300 -> 151 -> 75 -> 71 -> 23 -> 19 -> 6 positions x 5 filters
    model = DeepCDR(n_genes=697, atom_dim=75, gcn_units=(100, 100)).eval()
    batch = Batch.from_data_list([graphs[0], graphs[3], graphs[0], graphs[5]])
    assert model(torch.randn(4, 697), batch).shape == (4,)
    assert model.drug_vectors(batch).shape == (4, 100)
    assert len(model.convs) == 3 and model.convs[-1].linear.out_features == 100


def tiny_pairs(n_cells: int, n_drugs: int, seed: int) -> tuple[np.ndarray, PairSet]:
    """Every (cell, drug) pair; ln IC50 = cell effect + drug effect."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_cells, 20)).astype(np.float32)
    cells, drugs = (grid.ravel() for grid in np.meshgrid(np.arange(n_cells), np.arange(n_drugs), indexing="ij"))
    targets = (features[cells, 0] * 1.5 + np.linspace(-2, 2, n_drugs)[drugs]).astype(np.float32)
    return features, PairSet(cells, drugs, targets)


class Recorded:
    """A loader that appends its name to ``events`` each time it is iterated."""

    def __init__(self, batches: Iterable, name: str, events: list[str]) -> None:
        self.batches, self.name, self.events = batches, name, events

    def __iter__(self) -> Iterator:
        self.events.append(self.name)
        return iter(self.batches)


def test_overfits_tiny_data_and_uses_the_test_loader_once_after_training(graphs: list, tmp_path: Path) -> None:
    torch.manual_seed(0)
    features, pairs = tiny_pairs(n_cells=8, n_drugs=6, seed=0)
    events: list[str] = []
    sizes = {"train": 8, "validation": 48, "test": 48}
    batches = {name: Recorded(loader(pairs, features, graphs, size, name == "train", 0), name, events)
               for name, size in sizes.items()}  # fmt: skip
    model = DeepCDR(n_genes=20, atom_dim=75, gcn_units=(32,))
    history_path = tmp_path / "history.tsv"
    fitted = fit_and_test(model, batches, TrainSettings(learning_rate=3e-3, max_epochs=30, patience=30),
                          torch.device("cpu"), history_path)  # fmt: skip
    assert events.count("test") == 1 and events[-1] == "test"
    assert events[:-1] == ["train", "validation"] * len(fitted.history)
    mse = float(np.mean((fitted.test_predictions - pairs.targets) ** 2))
    assert mse < 0.05 * pairs.targets.var()
    written = pd.read_csv(history_path, sep="\t")
    assert tuple(written.columns) == HISTORY_COLUMNS and len(written) == len(fitted.history)


def test_early_stopping_keeps_the_best_validation_epoch(graphs: list, tmp_path: Path) -> None:
    torch.manual_seed(1)
    features, pairs = tiny_pairs(n_cells=6, n_drugs=6, seed=1)
    noise = PairSet(
        pairs.cells, pairs.drugs, np.random.default_rng(2).normal(size=len(pairs.targets)).astype(np.float32)
    )
    loaders = {"train": loader(pairs, features, graphs, 36, True, 0),
               "validation": loader(noise, features, graphs, 64, False, 0),
               "test": loader(noise, features, graphs, 64, False, 0)}  # fmt: skip
    model = DeepCDR(n_genes=20, atom_dim=75, gcn_units=(16,))
    patience = 3
    fitted = fit_and_test(model, loaders, TrainSettings(1e-2, 40, patience), torch.device("cpu"), tmp_path / "h.tsv")
    history = fitted.history
    assert fitted.best_epoch == int(history.loc[history["validation_loss"].idxmin(), "epoch"])
    assert len(history) == fitted.best_epoch + patience  # stopped: validation noise cannot be learnt
    model.eval()
    batch = next(iter(loaders["test"]))
    with torch.no_grad():
        again = model(batch[0], batch[1]).numpy()
    np.testing.assert_allclose(fitted.test_predictions, again, rtol=1e-5)
    best_loss = float(np.mean((again - noise.targets) ** 2))
    assert best_loss == pytest.approx(history["validation_loss"].min(), rel=1e-4)


def test_pair_set_positions() -> None:
    pairs = pd.DataFrame({"cell_line": ["B", "A", "B"], "pubchem_cid": ["2", "1", "1"], "ln_ic50": [0.5, 1.0, 2.0]})
    part = pair_set(pairs, np.array([0, 2]), pd.Index(["A", "B"]), ["1", "2"])
    assert part.cells.tolist() == [1, 1] and part.drugs.tolist() == [1, 0] and part.targets.tolist() == [0.5, 2.0]
    with pytest.raises(ValueError, match="absent"):
        pair_set(pairs, np.array([0]), pd.Index(["A"]), ["1", "2"])


def test_linear_baseline_chooses_alpha_on_validation(drugs: pd.Series) -> None:
    bits = fingerprints(drugs.to_dict(), n_bits=64, radius=2).to_numpy(np.float32)
    rng = np.random.default_rng(0)
    expression = rng.normal(size=(30, 10)).astype(np.float32)
    cells, drug_rows = rng.integers(0, 30, 400), rng.integers(0, len(bits), 400)
    x = pair_features(expression, bits, cells, drug_rows)
    assert x.shape == (400, 74) and x.dtype == np.float32
    np.testing.assert_array_equal(x[5, 10:], bits[drug_rows[5]])
    y = (x[:, :10] @ rng.normal(size=10)).astype(np.float32) + 0.1 * rng.normal(size=400).astype(np.float32)
    fit = fit_linear((x[:300], y[:300]), (x[300:], y[300:]), alphas=(0.1, 1e5))
    assert fit.alpha == 0.1 and fit.validation_mse[1e5] > fit.validation_mse[0.1]
    assert float(np.mean((fit.model.predict(x[300:]) - y[300:]) ** 2)) < 0.05
