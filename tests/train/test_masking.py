import math

import numpy as np
import pytest
import torch

from sclong.train.masking import choose_masks, row_uniforms, squared_error_sum


def sparse_values(rows: int = 64, genes: int = 200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    values = torch.rand(rows, genes, generator=g) * 10
    values[torch.rand(rows, genes, generator=g) < 0.7] = 0
    values[0] = 0  # empty cell
    values[1] = 0
    values[1, 5] = 3.0  # a single non-zero
    return values


def keys(rows: int, epoch: int = 0) -> np.ndarray:
    return np.stack([np.full(rows, epoch), np.arange(rows)], axis=1)


def test_chooses_ceil_15_percent_of_nonzeros_never_zeros():
    values = sparse_values()
    masking = choose_masks(values, row_uniforms(1, keys(64), 200))
    nnz = (values != 0).sum(dim=1)
    expected = torch.tensor([math.ceil(0.15 * n) for n in nnz.tolist()])
    assert torch.equal(masking.chosen.sum(dim=1), expected)
    assert not (masking.chosen & (values == 0)).any()
    assert masking.chosen[0].sum() == 0 and masking.chosen[1, 5]
    assert not (masking.mask & ~masking.chosen).any()


def test_mask_token_fraction_is_about_90_percent():
    values = sparse_values(rows=512, genes=400)
    masking = choose_masks(values, row_uniforms(3, keys(512), 400))
    fraction = masking.mask.sum() / masking.chosen.sum()
    assert 0.87 < fraction.item() < 0.93


def test_masks_depend_only_on_seed_and_key():
    values = sparse_values(rows=8)
    whole = choose_masks(values, row_uniforms(7, keys(8), 200))
    again = choose_masks(values, row_uniforms(7, keys(8), 200))
    assert torch.equal(whole.chosen, again.chosen) and torch.equal(whole.mask, again.mask)
    for rows in (slice(0, 4), slice(4, 8), slice(2, 6)):  # any split of the batch: same masks
        part = choose_masks(values[rows], row_uniforms(7, keys(8)[rows], 200))
        assert torch.equal(part.chosen, whole.chosen[rows]) and torch.equal(part.mask, whole.mask[rows])
    assert not torch.equal(choose_masks(values, row_uniforms(7, keys(8, epoch=1), 200)).chosen, whole.chosen)
    assert not torch.equal(choose_masks(values, row_uniforms(8, keys(8), 200)).chosen, whole.chosen)


def test_squared_error_sum_counts_chosen_predicted_positions():
    target = torch.tensor([[1.0, 2.0, 0.0], [4.0, 5.0, 6.0]])
    recon = torch.tensor([[0.0, 0.0, 9.0], [4.0, 3.0, 0.0]])
    chosen = torch.tensor([[True, True, False], [False, True, True]])
    predicted = torch.tensor([[True, False, True], [True, True, True]])
    sse, count = squared_error_sum(recon, target, chosen, predicted)
    assert count.item() == 3 and sse.item() == pytest.approx(1 + 4 + 36)


def test_rejects_bad_arguments():
    values = sparse_values(rows=4)
    with pytest.raises(ValueError):
        choose_masks(values, row_uniforms(0, keys(4), 200), mask_prob=0.0)
    with pytest.raises(ValueError):
        choose_masks(values, row_uniforms(0, keys(3), 200))
