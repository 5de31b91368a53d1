import pytest
import torch
from torch import nn

from sclong.model import EncoderConfig, cell_vectors, randomize_mini_encoder, rank_elements
from tests.model.helpers import DIM, N_GENES, tiny_cells, tiny_model


class Zeros(nn.Module):
    def forward(self, x):
        return torch.zeros_like(x)


def test_shapes_and_predictions():
    model = tiny_model()
    values = tiny_cells()
    mask = torch.zeros_like(values, dtype=torch.bool)
    mask[:, 2] = True
    out = model(values, mask)
    assert out.reconstruction.shape == (3, N_GENES)
    assert out.representations.shape == (3, N_GENES, DIM)
    assert out.predicted.dtype == torch.bool and out.predicted.all()
    assert torch.isfinite(out.reconstruction).all()


def test_rank_ties_lower_index_first_and_masked_last():
    values = torch.tensor([[1.0, 2.0, 2.0, 0.0, 0.0, 5.0]])
    assert rank_elements(values, torch.zeros_like(values, dtype=torch.bool)).tolist() == [[5, 1, 2, 0, 3, 4]]
    mask = torch.tensor([[False, False, False, False, False, True]])
    assert rank_elements(values, mask).tolist() == [[1, 2, 0, 3, 4, 5]]


def test_top_k_to_large_rest_to_mini_in_gene_order():
    """With identity large/full encoders and a zeroing mini encoder, exactly the top-k survive in place."""
    model = tiny_model(large=EncoderConfig(depth=1, heads=2, dim_head=8, hidden=DIM, nb_features=16))
    model.project_in = model.project_out = model.large = model.full = nn.Identity()
    model.mini = Zeros()
    values = tiny_cells()
    mask = torch.zeros_like(values, dtype=torch.bool)
    mask[1, values[1].argmax()] = True  # the masked maximum must fall to the mini encoder
    with torch.no_grad():
        out = model(values, mask)
        elements = model.expression_encoder(values, mask) + model.gene_vectors()
    for cell in range(3):
        keys = [(-float("inf") if mask[cell, g] else float(values[cell, g]), g) for g in range(N_GENES)]
        top = {g for _, g in sorted(keys, key=lambda kg: (-kg[0], kg[1]))[:5]}
        for gene in range(N_GENES):
            expected = elements[cell, gene] if gene in top else torch.zeros(DIM)
            torch.testing.assert_close(out.representations[cell, gene], expected, rtol=0, atol=0)
    assert int(values[1].argmax()) not in {g for g in range(N_GENES) if out.representations[1, g].any()}


def test_forward_is_deterministic_with_ties():
    model = tiny_model()
    values = tiny_cells()
    assert torch.equal(model(values).reconstruction, model(values).reconstruction)


def test_wo_leg_predicts_only_top_k():
    model = tiny_model(use_leg=False)
    assert model.mini is None
    values = tiny_cells()
    mask = torch.zeros_like(values, dtype=torch.bool)
    mask[:, 1] = True  # gene 1 is among the top 5 of cell 0 (value 9.5)
    out = model(values, mask)
    top = rank_elements(values, torch.zeros_like(mask))[:, :5]
    expected = torch.zeros_like(mask).scatter(1, top, True)
    assert torch.equal(out.predicted, expected)
    assert mask[out.predicted].any(), "masked genes among the top-k are predicted"
    assert (out.reconstruction[~expected] == 0).all()
    assert (out.representations[~expected] == 0).all()
    assert out.representations[expected].abs().sum(-1).gt(0).all()


def test_wo_go_has_no_gcn():
    model = tiny_model(use_go=False)
    assert model.gene_encoder.gcn is None
    assert not any("gcn" in name for name, _ in model.named_parameters())
    torch.testing.assert_close(model.gene_vectors(), model.gene_encoder.gene2vec)
    assert model(tiny_cells()).reconstruction.shape == (3, N_GENES)


def test_gcn_uses_graph_and_edge_weights():
    model = tiny_model()
    before = model.gene_vectors().detach().clone()
    model.gene_encoder.edge_weight.mul_(3.0)
    assert not torch.allclose(model.gene_vectors(), before)


def test_extra_gene_terms_add_a_separate_gene2vec_table():
    model = tiny_model(extra_gene_terms=True)
    torch.testing.assert_close(model.gene_vectors(), model.gene_encoder() + model.gene2vec_term)
    assert model(tiny_cells()).reconstruction.shape == (3, N_GENES)


def test_random_leg_changes_only_mini_weights():
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    randomize_mini_encoder(model, seed=7)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    mini_params = {f"mini.{name}" for name, _ in model.mini.named_parameters()}
    assert changed == mini_params
    weight = torch.cat([p.flatten() for p in model.mini.parameters()])
    assert abs(float(weight.mean())) < 0.1 and abs(float(weight.std()) - 1) < 0.1
    again = randomize_mini_encoder(tiny_model(), seed=7)
    assert all(torch.equal(a, b) for a, b in zip(model.mini.parameters(), again.mini.parameters(), strict=True))


def test_random_leg_needs_mini_encoder():
    with pytest.raises(ValueError, match="no mini encoder"):
        randomize_mini_encoder(tiny_model(use_leg=False), seed=0)


def test_gene_specific_decoder_is_per_gene_linear():
    model = tiny_model(decoder="gene_specific")
    values = tiny_cells()
    out = model(values)
    head = model.decoder
    expected = torch.stack(
        [out.representations[:, g] @ head.weight[g] + head.bias[g] for g in range(N_GENES)], dim=1
    )
    torch.testing.assert_close(out.reconstruction, expected)


def test_gene_specific_decoder_with_wo_leg():
    model = tiny_model(decoder="gene_specific", use_leg=False)
    out = model(tiny_cells())
    assert out.reconstruction.shape == (3, N_GENES)


def test_cell_embedding_sums_representation_and_reconstruction():
    model = tiny_model()
    values = tiny_cells()
    with torch.no_grad():
        out = model(values)
        embedding = model.cell_embedding(values)
    assert embedding.shape == (3, DIM + 1)
    torch.testing.assert_close(embedding[:, :DIM], out.representations.sum(1))
    torch.testing.assert_close(embedding[:, DIM], out.reconstruction.sum(1))
    torch.testing.assert_close(cell_vectors(out), embedding)


def test_backward_reaches_every_parameter():
    model = tiny_model(extra_gene_terms=True).train()
    values = tiny_cells()
    mask = values > 5
    out = model(values, mask)
    ((out.reconstruction - values)[mask] ** 2).mean().backward()
    assert [name for name, p in model.named_parameters() if p.grad is None] == []


def test_gene_graph_convolution_runs_once_per_forward():
    model = tiny_model()
    calls = []
    model.gene_encoder.gcn.register_forward_hook(lambda *_: calls.append(1))
    model(tiny_cells())
    assert len(calls) == 1
