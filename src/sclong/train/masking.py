"""Masked-value pretraining objective (METHODS.md, "Expression encoder and masking").

Per cell, ``ceil(mask_prob * nnz)`` of the non-zero values are chosen (zeros never; at least one when the
cell has a non-zero). Each chosen position independently becomes [MASK] with probability
``mask_token_prob`` (the public code's per-position draw) and otherwise keeps its value. The loss is the
squared error on every chosen position the model predicts, averaged over those positions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Masking:
    """The masking of one batch: ``chosen`` positions carry the loss, ``mask`` ones get the [MASK] vector."""

    chosen: torch.Tensor
    mask: torch.Tensor


def row_uniforms(seed: int, keys: np.ndarray, n_genes: int) -> torch.Tensor:
    """Uniform numbers [2, B, n_genes] on the CPU; row ``i`` comes from a generator seeded by
    ``(seed, *keys[i])``.

    ``keys`` ([B, k] integers) name each cell's place in the data stream (e.g. epoch and position in
    the epoch's order), so a cell gets the same mask however the global batch is split across processes
    and accumulation steps, and a resumed run needs no masking RNG state.
    """
    keys = np.asarray(keys, dtype=np.int64).reshape(len(keys), -1)
    out = torch.empty(len(keys), 2, n_genes)
    generator = torch.Generator()
    for i, key in enumerate(keys):
        text = ",".join(map(str, (int(seed), *key.tolist()))).encode()
        generator.manual_seed(int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1)
        torch.rand(2, n_genes, generator=generator, out=out[i])
    return out.transpose(0, 1)


def choose_masks(
    values: torch.Tensor, uniforms: torch.Tensor, mask_prob: float = 0.15, mask_token_prob: float = 0.9
) -> Masking:
    """Choose the masked positions of ``values`` ([B, G]) from ``uniforms`` ([2, B, G], see
    :func:`row_uniforms`): the first half ranks the non-zero values, the second decides [MASK] vs keep."""
    if not 0.0 < mask_prob <= 1.0 or not 0.0 <= mask_token_prob <= 1.0:
        raise ValueError("mask_prob must be in (0, 1] and mask_token_prob in [0, 1]")
    if uniforms.shape != (2, *values.shape):
        raise ValueError(
            f"uniforms have shape {tuple(uniforms.shape)}, expected (2, {values.shape[0]}, {values.shape[1]})"
        )
    scores, keep_draw = uniforms.to(values.device, non_blocking=True).unbind(0)
    nonzero = values != 0
    n_choose = torch.ceil(nonzero.sum(dim=1, dtype=torch.float64) * mask_prob).to(torch.long)
    order = scores.masked_fill(~nonzero, 2.0).argsort(dim=1)
    positions = torch.arange(values.shape[1], device=values.device).expand_as(order).contiguous()
    rank = torch.empty_like(order).scatter_(1, order, positions)
    chosen = (rank < n_choose[:, None]) & nonzero
    return Masking(chosen=chosen, mask=chosen & (keep_draw < mask_token_prob))


def squared_error_sum(
    reconstruction: torch.Tensor, target: torch.Tensor, chosen: torch.Tensor, predicted: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum of squared errors, number of positions)`` over ``chosen & predicted``, in float32.

    Returning the sum and the count (not the mean) lets the caller normalise by the count of a whole
    global batch, across gradient accumulation and processes.
    """
    positions = chosen & predicted
    error = (reconstruction.float() - target.float()).masked_fill(~positions, 0.0)
    return error.square().sum(), positions.sum()
