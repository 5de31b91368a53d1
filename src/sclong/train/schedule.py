"""Cosine annealing with warm restarts, linear warm-up per cycle and a decaying peak (METHODS.md).

Cycle ``c`` (0-based) lasts ``first_cycle * cycle_mult**c`` units; its first ``warmup`` units rise
linearly from ``min_lr`` to ``max_lr * gamma**c``, the rest fall along a half cosine back to ``min_lr``.
This is the schedule of the public code (``CosineAnnealingWarmupRestarts``), in closed form.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


def cycle_position(step: int, first_cycle: int, cycle_mult: float) -> tuple[int, int, int]:
    """``(cycle, unit within cycle, cycle length)`` of schedule unit ``step``."""
    if cycle_mult == 1:
        cycle, within = divmod(step, first_cycle)
        return cycle, within, first_cycle
    cycle = int(math.log(step / first_cycle * (cycle_mult - 1) + 1, cycle_mult))
    start = round(first_cycle * (cycle_mult**cycle - 1) / (cycle_mult - 1))
    length = round(first_cycle * cycle_mult**cycle)
    if step - start >= length:  # floating-point log landed one cycle short
        cycle, start, length = cycle + 1, start + length, round(length * cycle_mult)
    elif step < start:
        length = round(length / cycle_mult)
        cycle, start = cycle - 1, start - length
    return cycle, step - start, length


def warm_restart_lr(
    step: int,
    *,
    max_lr: float,
    min_lr: float,
    first_cycle: int,
    cycle_mult: float,
    warmup: int,
    gamma: float,
) -> float:
    """Learning rate at schedule unit ``step`` (0-based)."""
    cycle, within, length = cycle_position(step, first_cycle, cycle_mult)
    peak = max_lr * gamma**cycle
    if within < warmup:
        return min_lr + (peak - min_lr) * within / warmup
    progress = (within - warmup) / max(length - warmup, 1)
    return min_lr + (peak - min_lr) * (1 + math.cos(math.pi * progress)) / 2


class WarmRestartCosine(LRScheduler):
    """:class:`LRScheduler` applying :func:`warm_restart_lr` to every parameter group.

    Call :meth:`step` once per schedule unit (optimizer step or epoch). ``state_dict`` holds the unit
    counter and the hyper-parameters, so a resumed run continues the same curve.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        *,
        max_lr: float = 5e-5,
        min_lr: float = 1e-6,
        first_cycle: int = 15,
        cycle_mult: float = 2.0,
        warmup: int = 5,
        gamma: float = 0.9,
        last_epoch: int = -1,
    ) -> None:
        if first_cycle < 1 or cycle_mult < 1 or not 0 <= warmup < first_cycle:
            raise ValueError("need first_cycle >= 1, cycle_mult >= 1 and 0 <= warmup < first_cycle")
        if not 0 <= min_lr <= max_lr:
            raise ValueError("need 0 <= min_lr <= max_lr")
        self.max_lr, self.min_lr, self.gamma = max_lr, min_lr, gamma
        self.first_cycle, self.cycle_mult, self.warmup = first_cycle, cycle_mult, warmup
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """Learning rate of every parameter group at the current unit."""
        lr = warm_restart_lr(
            max(self.last_epoch, 0),
            max_lr=self.max_lr,
            min_lr=self.min_lr,
            first_cycle=self.first_cycle,
            cycle_mult=self.cycle_mult,
            warmup=self.warmup,
            gamma=self.gamma,
        )
        return [lr for _ in self.optimizer.param_groups]
