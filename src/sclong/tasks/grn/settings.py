"""Settings of the GRN task's methods: the ``deepsem`` and ``genie3`` blocks of ``tasks.grn_inference``.

Kept apart from the methods so that reading a config imports neither torch nor sklearn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sclong.errors import ConfigError

DeepSEMInit = Literal["code", "paper"]
MaxFeatures = Literal["sqrt", "all"]


@dataclass(frozen=True)
class DeepSEMSettings:
    """DeepSEM's beta-VAE and its training (DeepSEM's ``main.py`` option in brackets)."""

    hidden: int  # [n_hidden]
    epochs: int  # [n_epochs]
    batch_size: int  # [batch_size]
    alpha: float  # [alpha]
    beta: float  # [beta]
    lr: float  # [lr]
    lr_grn: float  # [0.2 * lr]
    lr_decay: float  # [gamma]
    lr_step: float  # [lr_step_size]
    network_epochs: int  # [K1]
    grn_epochs: int  # [K2]
    init: DeepSEMInit

    def __post_init__(self) -> None:
        check_choice("tasks.grn_inference.deepsem.init", self.init, ("code", "paper"))


@dataclass(frozen=True)
class Genie3Settings:
    """GENIE3's random forests (``GENIE3.py``'s ``ntrees`` and ``K``)."""

    n_trees: int
    max_features: MaxFeatures

    def __post_init__(self) -> None:
        check_choice("tasks.grn_inference.genie3.max_features", self.max_features, ("sqrt", "all"))


def check_choice(key: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise :class:`ConfigError` naming ``key`` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ConfigError(key, f"must be one of {', '.join(allowed)}, got {value!r}")
