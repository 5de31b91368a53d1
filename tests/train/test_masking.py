import math

import pytest
import torch

from sclong.train.masking import choose_masks, position_generator, squared_error_sum


def sparse_values(rows: int = 64, genes: int = 200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(rows, genes, generator=g) * 10
    values[torch.rand(rows, genes, generator=g) < 0.7] = 0
    values[0] = 0  # empty cell
    values[1] = 0
    values[1, 5] = 3.0  # a single non-zero
    return values


def test_chooses_ceil_15_percent_of_nonzeros_never_zeros():
    values = sparse_values()
    masking = choose_masks(values, position_generator(1, 0))
    nnz = (values != 0).sum(dim=1)
    expected = torch.tensor([math.ceil(0.15 * n) for n in nnz.tolist()])
    assert torch.equal(masking.chosen.sum(dim=1), expected)
    assert not (masking.chosen & (values == 0)).any()
    assert masking.chosen[0].sum() == 0 and masking.chosen[1, 5]
    assert not (masking.mask & ~masking.chosen).any()


def test_mask_token_fraction_is_about_90_percent():
    values = sparse_values(rows=512, genes=400)
    masking = choose_masks(values, position_generator(3, 1))
    fraction = masking.mask.sum() / masking.chosen.sum()
    assert 0.87 < fraction.item() < 0.93


def test_deterministic_and_position_dependent():
    values = sparse_values()
    a = choose_masks(values, position_generator(7, 0, 3, 1))
    b = choose_masks(values, position_generator(7, 0, 3, 1))
    c = choose_masks(values, position_generator(7, 0, 3, 2))
    assert torch.equal(a.chosen, b.chosen) and torch.equal(a.mask, b.mask)
    assert not torch.equal(a.chosen, c.chosen)


def test_row_slices_match_the_global_batch():
    values = sparse_values(rows=8)
    whole = choose_masks(values, position_generator(0, 5))
    for rows in (slice(0, 4), slice(4, 8), slice(2, 6)):
        part = choose_masks(values[rows], position_generator(0, 5), rows=rows, global_rows=8)
        assert torch.equal(part.chosen, whole.chosen[rows]) and torch.equal(part.mask, whole.mask[rows])


def test_squared_error_sum_counts_chosen_predicted_positions():
    target = torch.tensor([[1.0, 2.0, 0.0], [4.0, 5.0, 6.0]])
    recon = torch.tensor([[0.0, 0.0, 9.0], [4.0, 3.0, 0.0]])
    chosen = torch.tensor([[True, True, False], [False, True, True]])
    predicted = torch.tensor([[True, False, True], [True, True, True]])
    sse, count = squared_error_sum(recon, target, chosen, predicted)
    assert count.item() == 3 and sse.item() == pytest.approx(1 + 4 + 36)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        choose_masks(sparse_values(), position_generator(0), mask_prob=0.0)
    with pytest.raises(ValueError):
        choose_masks(sparse_values(rows=4), position_generator(0), rows=slice(2, 6), global_rows=5)
