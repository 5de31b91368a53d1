"""The contract every downstream task follows, and the tidy metrics table every run writes.

A task module defines one :class:`Task` subclass instance named ``TASK``. Methods are the scLong model
variants (:data:`MODEL_METHODS`) and the task's own baselines, under one name space. For one method the
framework (:mod:`sclong.tasks.run`) calls :meth:`Task.load` once and :meth:`Task.run` once per seed, and
writes ``seed<seed>/metrics.tsv`` (columns :data:`METRICS_COLUMNS`), ``seed<seed>/provenance.json`` and
any artifact tables of the run. A metric a method cannot compute (e.g. the additive baseline on unseen
single genes) is written with an empty value and a ``note`` saying why, never as a number.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Generic, Literal, TypeVar

import pandas as pd

from sclong.errors import ConfigError

MODEL_METHODS = ("sclong", "wo_leg", "random_leg", "wo_go", "random_go")
METRICS_COLUMNS = ("task", "method", "seed", "scenario", "metric", "value", "note")
METRICS_FILE = "metrics.tsv"
PROVENANCE_FILE = "provenance.json"
InputName = Literal[
    "dataset", "embedding", "checkpoint", "go_graph", "gene_table", "go_gaf", "go_obo", "gene2vec", "vocabulary"
]

SettingsT = TypeVar("SettingsT")
DataT = TypeVar("DataT")


@dataclass(frozen=True)
class Metric:
    """One number of one run: ``value`` ``None`` means not applicable, and ``note`` says why."""

    scenario: str
    metric: str
    value: float | None
    note: str = ""

    def __post_init__(self) -> None:
        if self.value is None and not self.note:
            raise ValueError(f"metric {self.metric!r} ({self.scenario}) has no value and no note saying why")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"metric {self.metric!r} ({self.scenario}) is {self.value}: give None and a note")


@dataclass
class RunResult:
    """What one run of one method with one seed produced: metrics and named artifact tables."""

    metrics: list[Metric]
    artifacts: dict[str, pd.DataFrame] = field(default_factory=dict)


class Task(ABC, Generic[SettingsT, DataT]):
    """One downstream task of the paper.

    ``baselines`` are the task's own methods; every model variant is a method too. ``shared_sections`` are
    top-level config sections the workflow adds to the task's settings; ``dataset_layouts`` what its dataset may be
    (``h5ad``, or folder formats of :data:`sclong.data.file_sets.FILE_SETS`). ``inputs`` names the
    files a method needs (the workflow supplies their paths); ``load`` reads them once per job; ``run``
    evaluates one method with one seed and must be deterministic given the seed.
    """

    name: ClassVar[str]
    baselines: ClassVar[tuple[str, ...]]
    settings_type: ClassVar[type]
    shared_sections: ClassVar[tuple[str, ...]] = ()
    dataset_layouts: ClassVar[tuple[str, ...]] = ("h5ad",)

    def methods(self) -> tuple[str, ...]:
        """Every method name this task accepts."""
        return (*MODEL_METHODS, *self.baselines)

    def check_method(self, method: str, key: str) -> None:
        """Raise :class:`ConfigError` naming ``key`` for a method the task does not know."""
        if method not in self.methods():
            raise ConfigError(key, f"unknown method {method!r} for {self.name} (known: {', '.join(self.methods())})")

    def seeded(self, method: str) -> bool:
        """Whether the method's result depends on the seed (deterministic methods run once)."""
        return True

    @abstractmethod
    def inputs(self, method: str) -> tuple[InputName, ...]:
        """The input files ``method`` needs."""

    @abstractmethod
    def load(self, method: str, inputs: Mapping[str, Path], settings: SettingsT) -> DataT:
        """Read what every seed of ``method`` shares."""

    @abstractmethod
    def run(self, method: str, seed: int, data: DataT, settings: SettingsT) -> RunResult:
        """Evaluate ``method`` with ``seed``."""


def metrics_frame(task: str, method: str, seed: int, metrics: Sequence[Metric]) -> pd.DataFrame:
    """The tidy table of one run (columns :data:`METRICS_COLUMNS`)."""
    rows = [(task, method, seed, m.scenario, m.metric, m.value, m.note) for m in metrics]
    frame = pd.DataFrame(rows, columns=list(METRICS_COLUMNS))
    frame["value"] = frame["value"].astype(float)
    return frame


def model_variant(method: str) -> bool:
    """Whether ``method`` is one of the scLong model variants."""
    return method in MODEL_METHODS
