"""The DeepCE baseline and the scLong chemical-perturbation model: output shapes, DeepCE's sizes and
fingerprint rules, padding independence, and that each fits a tiny data set (few genes, 4 samples)."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from sclong.tasks.drugs import chem_model, deepce
from sclong.tasks.drugs.molecules import featurize

SMILES = {"ethanol": "CCO", "benzene": "c1ccccc1", "aspirin": "CC(=O)Oc1ccccc1C(=O)O", "methane": "C"}



@pytest.fixture(scope="module")
def graphs() -> dict:
    return featurize(SMILES, "deepce", "test").graphs


def batch_of(graphs: dict, names: list[str]) -> Batch:
    return Batch.from_data_list([graphs[name] for name in names])


def test_fingerprint_per_atom_softmax_sums_and_padding(graphs):
    torch.manual_seed(0)
    fingerprint = deepce.NeuralFingerprint().eval()
    atoms, mask = fingerprint(batch_of(graphs, ["ethanol", "aspirin", "methane"]))
    assert atoms.shape == (3, 13, 128) and mask.sum(dim=1).tolist() == [3, 13, 1]
    # three softmaxes (input and two conv layers): every real atom's features sum to 3, padding is zero
    torch.testing.assert_close(atoms[mask].sum(dim=-1), torch.full((17,), 3.0))
    assert atoms[~mask].abs().sum() == 0


def test_degree_specific_weights():
    torch.manual_seed(0)
    conv = deepce.GraphDegreeConv(4, 2).eval()
    h = torch.randn(3, 4)
    edge_index = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])  # 0 - 1 - 2: degrees 1, 2, 1
    edge_attr = torch.zeros(4, 6)
    out = conv(h, edge_index, edge_attr)
    # by hand for atom 1 (degree 2): W_self h1 + W_2 [h0 + h2 ; 0] + b, then BatchNorm (eval: running 0/1) + ReLU
    summed = torch.cat([h[0] + h[2], torch.zeros(6)])
    expected = conv.self_linear(h[1]) + conv.degree_linear[2](summed) + conv.bias[0]
    expected = torch.relu(expected / torch.sqrt(torch.tensor(1.0 + conv.normalize.eps)))
    torch.testing.assert_close(out[1], expected)
    with pytest.raises(ValueError, match="degree 6"):
        star = torch.tensor([[i for i in range(1, 7)] + [0] * 6, [0] * 6 + list(range(1, 7))])
        conv(torch.randn(7, 4), star, torch.zeros(12, 6))


def test_deepce_sizes_and_forward_shape(graphs):
    torch.manual_seed(0)
    model = deepce.DeepCE(torch.randn(10, 128), n_cells=7, n_doses=6, dropout=0.1)
    assert model.head[0].in_features == 264 and model.gene_embed.out_features == 128
    assert len(model.attention) == 2 and model.attention[0].cross.num_heads == 4
    assert model.attention[0].feedforward[0].out_features == 512
    out = model(batch_of(graphs, ["ethanol", "benzene"]), torch.tensor([0, 6]), torch.tensor([5, 0]))
    assert out.shape == (2, 10)
    assert all(p.abs().sum() == 0 for n, p in model.named_parameters() if n.startswith("head") and p.dim() == 1)


def test_chem_model_sizes_and_forward_shape(graphs):
    torch.manual_seed(0)
    model = chem_model.ChemPerturbationModel(
        torch.randn(12, 200), n_cells=7, n_doses=6, feedforward_dim=64, hidden_dim=32, dropout=0.1
    )
    assert model.head[0].in_features == 648 and model.gene_project.out_features == 512
    assert len(model.gcn.convs) == 3 and model.gcn.convs[0].in_channels == 62
    assert len(model.layers) == 2 and model.layers[0].attention.num_heads == 4
    out = model(batch_of(graphs, ["aspirin", "methane", "benzene"]), torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    assert out.shape == (3, 12)


def test_padding_does_not_change_a_prediction(graphs):
    torch.manual_seed(0)
    models = [
        deepce.DeepCE(torch.randn(5, 8), n_cells=7, n_doses=6, dropout=0.0),
        chem_model.ChemPerturbationModel(torch.randn(5, 8), 7, 6, feedforward_dim=16, hidden_dim=8, dropout=0.0),
    ]
    for model in models:
        model.eval()
        alone = model(batch_of(graphs, ["ethanol"]), torch.tensor([3]), torch.tensor([2]))
        padded = model(batch_of(graphs, ["ethanol", "aspirin"]), torch.tensor([3, 0]), torch.tensor([2, 0]))
        torch.testing.assert_close(alone[0], padded[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("which", ["deepce", "chem_model"])
def test_each_model_fits_a_tiny_data_set(graphs, which):
    torch.manual_seed(0)
    genes = torch.randn(6, 16)
    if which == "deepce":
        model = deepce.DeepCE(genes, n_cells=2, n_doses=2, dropout=0.0)
    else:
        model = chem_model.ChemPerturbationModel(genes, 2, 2, feedforward_dim=32, hidden_dim=32, dropout=0.0)
    names = ["ethanol", "benzene", "aspirin", "methane"]
    drugs, cell, dose = batch_of(graphs, names), torch.tensor([0, 1, 0, 1]), torch.tensor([1, 0, 0, 1])
    target = torch.randn(4, 6)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(drugs, cell, dose), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0], (losses[0], losses[-1])
