"""Masked-value pretraining objective (METHODS.md, "Expression encoder and masking").

Per cell, ``ceil(mask_prob * nnz)`` of the non-zero values are chosen (zeros never; at least one when the
cell has a non-zero). Each chosen position independently becomes [MASK] with probability
``mask_token_prob`` (the public code's per-position draw) and otherwise keeps its value. The loss is the
squared error on every chosen position the model predicts, averaged over those positions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Masking:
    """The masking of one batch: ``chosen`` positions carry the loss, ``mask`` ones get the [MASK] vector."""

    chosen: torch.Tensor
    mask: torch.Tensor


def position_generator(seed: int, *position: int) -> torch.Generator:
    """A CPU generator whose state depends only on ``seed`` and ``position`` (e.g. epoch, step, micro).

    Tying the random stream to the data position makes masks independent of how many processes share
    the batch and makes resume trivial: there is no masking RNG state to save.
    """
    key = ",".join(str(int(v)) for v in (seed, *position)).encode()
    digest = int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & (2**63 - 1)
    return torch.Generator().manual_seed(digest)


def choose_masks(
    values: torch.Tensor,
    generator: torch.Generator,
    mask_prob: float = 0.15,
    mask_token_prob: float = 0.9,
    rows: slice | None = None,
    global_rows: int | None = None,
) -> Masking:
    """Choose the masked positions of ``values`` ([B, G]) with ``generator`` (a CPU generator).

    ``rows`` selects this process's slice of a global batch of ``global_rows`` rows: the random numbers
    are drawn for the whole global batch and sliced, so a cell gets the same mask whichever process
    handles it.
    """
    if not 0.0 < mask_prob <= 1.0 or not 0.0 <= mask_token_prob <= 1.0:
        raise ValueError("mask_prob must be in (0, 1] and mask_token_prob in [0, 1]")
    rows = rows or slice(0, values.shape[0])
    n_global = values.shape[0] if global_rows is None else global_rows
    if rows.stop - rows.start != values.shape[0] or rows.stop > n_global:
        raise ValueError(f"rows {rows} do not fit {values.shape[0]} values in a batch of {n_global}")
    scores = torch.rand(n_global, values.shape[1], generator=generator)[rows]
    keep_draw = torch.rand(n_global, values.shape[1], generator=generator)[rows]
    scores, keep_draw = scores.to(values.device), keep_draw.to(values.device)
    nonzero = values != 0
    n_choose = torch.ceil(nonzero.sum(dim=1, dtype=torch.float64) * mask_prob).to(torch.long)
    scores = scores.masked_fill(~nonzero, 2.0)
    order = scores.argsort(dim=1)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(values.shape[1], device=values.device).expand_as(order).contiguous()
    )
    chosen = (rank < n_choose[:, None]) & nonzero
    mask = chosen & (keep_draw < mask_token_prob)
    return Masking(chosen=chosen, mask=mask)


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
