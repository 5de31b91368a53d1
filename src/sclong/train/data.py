"""Batches of dense expression rows from a :class:`~sclong.io.shards.ShardedCSR` corpus.

The global batch of an optimizer step is ``micro_batch_size x grad_accum x world_size`` cells: it is cut
into ``grad_accum`` micro-batches of ``micro_batch_size x world_size`` cells, each split evenly across the
``world_size`` processes (``micro_batch_size`` cells each). Every process walks the same global batches
(a seeded permutation per epoch) and takes its own slice, so any split of one global batch size (one
process with micro-batches of B, or N processes with B/N each, or more accumulation) sees exactly the
same cells. Resuming at ``(epoch, step)`` skips exactly the consumed batches.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sclong.errors import ConfigError, InputError
from sclong.io.shards import ShardedCSR
from sclong.train.settings import TrainConfig


@dataclass(frozen=True)
class MicroBatch:
    """One process's part of one micro-batch.

    ``step`` is ``(epoch, step, micro)`` for training and ``(-1, batch, 0)`` for evaluation; ``mask_keys``
    ([cells, 2]) name each cell's place in the data stream, ``(epoch, position in the epoch's order)``
    (``epoch`` -1: position in the held-out list), and seed its mask (:func:`~sclong.train.masking.row_uniforms`).
    """

    step: tuple[int, int, int]
    cells: np.ndarray
    mask_keys: np.ndarray


def load_split(corpus_dir: str | Path, split: str, n_cells: int) -> np.ndarray:
    """The int64 global cell ids of ``split`` (``train`` or ``val``) of a corpus directory."""
    file = Path(corpus_dir) / f"{split}.npy"
    try:
        cells = np.load(file)
    except (OSError, ValueError) as err:
        raise InputError(file, f"cannot read the {split} split ({err})") from None
    if cells.ndim != 1 or not np.issubdtype(cells.dtype, np.integer) or cells.size == 0:
        raise InputError(file, f"expected a non-empty 1-d integer array of cell ids, found {cells.dtype}")
    if cells.min() < 0 or cells.max() >= n_cells:
        raise InputError(file, f"cell ids outside 0..{n_cells - 1}")
    return cells.astype(np.int64)


def _even_slice(n: int, parts: int, part: int) -> slice:
    bounds = np.linspace(0, n, parts + 1).round().astype(int)
    return slice(int(bounds[part]), int(bounds[part + 1]))


@dataclass(frozen=True)
class TrainPlan:
    """The order of training cells: global batches of :attr:`global_batch` cells per optimizer step.

    ``micro_batch_size``: cells per micro-batch on each process; ``grad_accum``: micro-batches per
    optimizer step; ``world_size``: processes.
    """

    cells: np.ndarray
    micro_batch_size: int
    grad_accum: int
    world_size: int
    rank: int
    seed: int

    def __post_init__(self) -> None:
        if self.steps_per_epoch == 0:
            raise ConfigError(
                "pretrain.micro_batch_size",
                f"the global batch micro_batch_size x grad_accum x processes = {self.micro_batch_size} x "
                f"{self.grad_accum} x {self.world_size} = {self.global_batch} exceeds the {len(self.cells)} "
                "training cells",
            )

    @classmethod
    def from_config(cls, cells: np.ndarray, config: TrainConfig, world_size: int, rank: int) -> TrainPlan:
        """The plan of process ``rank`` of ``world_size`` training on ``cells`` with ``config``."""
        return cls(cells, config.micro_batch_size, config.grad_accum, world_size, rank, config.seed)

    @property
    def global_batch(self) -> int:
        """Cells per optimizer step (over accumulation and processes)."""
        return self.micro_batch_size * self.grad_accum * self.world_size

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (the incomplete last global batch is dropped)."""
        return len(self.cells) // self.global_batch

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's permutation of the training cells (same on every process)."""
        return self.cells[np.random.default_rng([self.seed, epoch]).permutation(len(self.cells))]

    def micro_batches(self, epoch: int, start_step: int = 0) -> EpochBatches:
        """This process's micro-batches of ``epoch`` from optimizer step ``start_step`` on."""
        return EpochBatches(self, epoch, start_step)


class EpochBatches(Sequence[MicroBatch]):
    """The micro-batches of one epoch from a given step on, built on access (no per-batch list in memory)."""

    def __init__(self, plan: TrainPlan, epoch: int, start_step: int) -> None:
        self.plan, self.epoch, self.start_step = plan, epoch, start_step
        self.order = plan.order(epoch)
        self.rows = slice(plan.rank * plan.micro_batch_size, (plan.rank + 1) * plan.micro_batch_size)

    def __len__(self) -> int:
        return max(self.plan.steps_per_epoch - self.start_step, 0) * self.plan.grad_accum

    @overload
    def __getitem__(self, index: int) -> MicroBatch: ...

    @overload
    def __getitem__(self, index: slice) -> list[MicroBatch]: ...

    def __getitem__(self, index: int | slice) -> MicroBatch | list[MicroBatch]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        step, micro = divmod(index % len(self), self.plan.grad_accum)
        step += self.start_step
        global_micro = self.plan.micro_batch_size * self.plan.world_size
        first = step * self.plan.global_batch + micro * global_micro
        positions = np.arange(first + self.rows.start, first + self.rows.stop)
        keys = np.stack([np.full_like(positions, self.epoch), positions], axis=1)
        return MicroBatch((self.epoch, step, micro), self.order[positions], keys)


def eval_batches(cells: np.ndarray, batch_size: int, world_size: int, rank: int) -> list[MicroBatch]:
    """This process's part of consecutive batches of ``batch_size`` held-out cells (in order, none dropped).

    Masks are keyed by position in ``cells``, so they do not depend on the number of processes or the
    batch size. A process whose part of a batch is empty gets no entry for it.
    """
    out = []
    for number, first in enumerate(range(0, len(cells), batch_size)):
        batch = cells[first : first + batch_size]
        rows = _even_slice(len(batch), world_size, rank)
        if rows.stop > rows.start:
            positions = np.arange(first + rows.start, first + rows.stop)
            keys = np.stack([np.full_like(positions, -1), positions], axis=1)
            out.append(MicroBatch((-1, number, 0), cells[positions], keys))
    return out


class DenseRows(Dataset):
    """Item ``i`` = the dense float32 rows ([cells, genes]) of micro-batch ``i``, read in one call."""

    def __init__(self, corpus: ShardedCSR, batches: Sequence[MicroBatch]) -> None:
        self.corpus = corpus
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(self.corpus.rows(self.batches[index].cells).toarray())


def ignore_sigterm(worker_id: int) -> None:
    """Workers leave SIGTERM to the main process, which checkpoints before the loader shuts them down."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def loader(
    corpus: ShardedCSR, batches: Sequence[MicroBatch], *, num_workers: int, device: torch.device
) -> DataLoader:
    """A :class:`DataLoader` over :class:`DenseRows` in order; pinned memory when training on CUDA."""
    return DataLoader(
        DenseRows(corpus, batches),
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if num_workers else None,
        worker_init_fn=ignore_sigterm if num_workers else None,
    )


def column_sums(corpus: ShardedCSR, cells: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Per-gene float64 sums of the given cells, streamed ``chunk`` cells at a time."""
    total = np.zeros(corpus.n_genes, dtype=np.float64)
    for first in range(0, len(cells), chunk):
        block = corpus.rows(np.sort(cells[first : first + chunk]))
        total += np.asarray(block.sum(axis=0, dtype=np.float64)).ravel()
    return total
