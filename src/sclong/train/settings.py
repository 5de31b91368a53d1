"""Hyper-parameters of a pretraining run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a run (the CLI of :mod:`sclong.train.pretrain` fills it)."""

    batch_size: int = 32
    grad_accum: int = 1
    epochs: int = 1
    max_steps: int | None = None
    max_lr: float = 5e-5
    min_lr: float = 1e-6
    first_cycle: int = 15
    cycle_mult: float = 2.0
    warmup: int = 5
    gamma: float = 0.9
    schedule_unit: str = "steps"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    clip_norm: float | None = 1.0
    mask_prob: float = 0.15
    mask_token_prob: float = 0.9
    val_every: int = 100
    val_cells: int | None = None
    eval_batch_size: int = 64
    checkpoint_every: int = 100
    log_every: int = 10
    num_workers: int = 0
    seed: int = 0
    precision: str = "auto"
    deterministic: bool = False
    progress: bool = True
    tensorboard: bool = True

    # Keys that may change between an interrupted run and its resumption.
    OPERATIONAL = (
        "epochs",
        "max_steps",
        "grad_accum",
        "val_every",
        "checkpoint_every",
        "log_every",
        "num_workers",
        "progress",
        "tensorboard",
    )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**asdict(self), "betas": list(self.betas)}

    def trajectory(self) -> dict[str, Any]:
        """The fields that determine the training trajectory (checked on resume)."""
        return {k: v for k, v in self.to_dict().items() if k not in self.OPERATIONAL}
