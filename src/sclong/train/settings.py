"""Hyper-parameters of a pretraining run: the ``pretrain`` config section (less ``variants`` and ``threads``).

:class:`TrainConfig` has one field per config key and no defaults: ``python -m sclong.train.pretrain``
builds it from the section passed as one ``--settings`` JSON mapping
(:func:`sclong.settings.from_mapping`), so every value comes from the config file and ``null`` stays
``None``. Invalid values are a :class:`~sclong.errors.ConfigError` naming ``pretrain.<key>``.

Batch sizes: ``micro_batch_size`` cells per micro-batch on each process, ``grad_accum`` micro-batches
per optimizer step; the global batch of an optimizer step, ``micro_batch_size x grad_accum x
world_size``, follows from the number of processes (:class:`sclong.train.data.TrainPlan`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, get_args

from sclong.errors import ConfigError

SECTION = "pretrain"
ScheduleUnit = Literal["steps", "epochs"]
Precision = Literal["auto", "fp32", "bf16"]


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a run (``config/README.md`` describes each key).

    ``clip_norm`` ``None``: no gradient clipping (0 is refused: ``null`` is the one spelling of "none").
    ``betas`` and ``eps`` (Adam) are constants of the method, not config keys.
    """

    micro_batch_size: int
    grad_accum: int
    epochs: int
    max_steps: int | None
    max_lr: float
    min_lr: float
    first_cycle: int
    cycle_mult: float
    warmup: int
    gamma: float
    schedule_unit: ScheduleUnit
    clip_norm: float | None
    mask_prob: float
    mask_token_prob: float
    val_every: int
    val_cells: int | None
    eval_batch_size: int
    checkpoint_every: int
    log_every: int
    num_workers: int
    seed: int
    precision: Precision
    deterministic: bool
    betas: tuple[float, float] = field(default=(0.9, 0.999), init=False)
    eps: float = field(default=1e-8, init=False)

    # Keys that may change between an interrupted run and its resumption. How the global batch is split
    # (micro_batch_size, grad_accum, processes) is free; the global batch itself is part of the trajectory.
    OPERATIONAL: ClassVar[tuple[str, ...]] = (
        "micro_batch_size",
        "grad_accum",
        "epochs",
        "max_steps",
        "val_every",
        "checkpoint_every",
        "log_every",
        "num_workers",
    )

    def __post_init__(self) -> None:
        for name in ("micro_batch_size", "grad_accum", "epochs", "first_cycle", "val_every", "eval_batch_size",
                     "checkpoint_every", "log_every"):  # fmt: skip
            _integer(self, name, minimum=1)
        for name in ("max_steps", "val_cells"):
            if getattr(self, name) is not None:
                _integer(self, name, minimum=1)
        _integer(self, "warmup", minimum=0)
        _integer(self, "num_workers", minimum=0)
        _integer(self, "seed", minimum=None)
        _number(self, "max_lr", lambda v: v > 0, "a number > 0")
        _number(self, "min_lr", lambda v: 0 <= v <= self.max_lr, f"a number in [0, max_lr = {self.max_lr}]")
        _number(self, "cycle_mult", lambda v: v >= 1, "a number >= 1")
        _number(self, "gamma", lambda v: 0 < v <= 1, "a number in (0, 1]")
        _number(self, "mask_prob", lambda v: 0 < v <= 1, "a number in (0, 1]")
        _number(self, "mask_token_prob", lambda v: 0 <= v <= 1, "a number in [0, 1]")
        if self.clip_norm is not None:
            _number(self, "clip_norm", lambda v: v > 0, "a number > 0, or null for no clipping")
        _choice(self, "schedule_unit", ScheduleUnit)
        _choice(self, "precision", Precision)
        if not isinstance(self.deterministic, bool):
            raise ConfigError(f"{SECTION}.deterministic", f"must be true or false, got {self.deterministic!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return {**asdict(self), "betas": list(self.betas)}

    def trajectory(self, global_batch: int) -> dict[str, Any]:
        """What determines the training trajectory (checked on resume): the global batch of an optimizer
        step (:attr:`sclong.train.data.TrainPlan.global_batch`) and the non-operational fields."""
        fields = {k: v for k, v in self.to_dict().items() if k not in self.OPERATIONAL}
        return {**fields, "global_batch": global_batch}


def _integer(config: TrainConfig, name: str, minimum: int | None) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        wanted = "an integer" if minimum is None else f"an integer >= {minimum}"
        raise ConfigError(f"{SECTION}.{name}", f"must be {wanted}, got {value!r}")


def _number(config: TrainConfig, name: str, valid: Any, wanted: str) -> None:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not valid(value):
        raise ConfigError(f"{SECTION}.{name}", f"must be {wanted}, got {value!r}")


def _choice(config: TrainConfig, name: str, choices: Any) -> None:
    allowed = get_args(choices)
    if getattr(config, name) not in allowed:
        raise ConfigError(f"{SECTION}.{name}", f"must be one of {', '.join(allowed)}, got {getattr(config, name)!r}")
