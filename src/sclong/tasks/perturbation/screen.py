"""The shared types of the genetic perturbation task: a screen in GEARS' layout, a split, control pairing.

A :class:`Screen` is one Perturb-seq screen read and checked once per job (:func:`read_screen` in
:mod:`sclong.tasks.perturbation.reader`); a :class:`Split` is GEARS' 'simulation' split of its conditions for
one seed (:mod:`sclong.tasks.perturbation.split`); :class:`Pairs` pairs perturbed cells with control cells
as model inputs; :data:`Predictions` are the mean predicted profiles every method returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import anndata

CONTROL = "ctrl"
Scenario = Literal["seen_0_2", "seen_1_2", "seen_2_2", "seen_0_1"]
SCENARIOS: tuple[Scenario, ...] = ("seen_0_2", "seen_1_2", "seen_2_2", "seen_0_1")

Predictions = dict[str, np.ndarray]
"""Condition -> mean predicted expression over its cells, shape ``(len(screen.genes),)``."""


def perturbed_genes(condition: str) -> tuple[str, ...]:
    """The genes a GEARS condition perturbs: ``('A',)`` for ``A+ctrl``, ``('A', 'B')`` for ``A+B``, ``()`` for ctrl."""
    return tuple(part for part in condition.split("+") if part != CONTROL)


@dataclass(frozen=True)
class Screen:
    """A Perturb-seq screen in GEARS' layout, read and checked once per job.

    ``adata`` has obs ``condition`` (``A+ctrl``, ``A+B``, ``ctrl``) and ``cell_type``, var ``gene_name`` and
    log-normalised ``X`` (normalize_total + log1p, as GEARS' Norman). ``de_genes`` maps every non-control
    condition to the positions (into ``genes``) of its top-20 non-dropout DE genes, ``de_genes_50`` to its
    top-50 DE genes in rank_genes_groups order (the genetic-interaction scores use them).
    """

    adata: anndata.AnnData
    genes: list[str]
    conditions: np.ndarray
    control_rows: np.ndarray
    de_genes: dict[str, np.ndarray]
    de_genes_50: dict[str, np.ndarray]
    source: str
    _means: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False, compare=False)

    def perturbed(self, condition: str) -> tuple[str, ...]:
        """The genes ``condition`` perturbs (``()`` for the control)."""
        return perturbed_genes(condition)

    def rows(self, condition: str) -> np.ndarray:
        """The rows of the cells of ``condition``."""
        return np.flatnonzero(self.conditions == condition)

    def mean(self, condition: str) -> np.ndarray:
        """Mean expression of the cells of ``condition`` (float64, one value per measured gene)."""
        if condition not in self._means:
            self._means[condition] = row_mean(self.adata.X, self.rows(condition))
        return self._means[condition]

    def control_mean(self) -> np.ndarray:
        """Mean expression over all control cells."""
        return self.mean(CONTROL)

    def condition_list(self) -> list[str]:
        """Every condition of the screen, control first, then in order of first appearance."""
        seen = list(dict.fromkeys(self.conditions.tolist()))
        return [CONTROL, *(c for c in seen if c != CONTROL)]


def row_mean(matrix, rows: np.ndarray) -> np.ndarray:
    """Column means of ``matrix[rows]`` for a dense or sparse matrix."""
    block = matrix[rows]
    mean = block.mean(axis=0)
    return np.asarray(mean, dtype=np.float64).ravel()


@dataclass(frozen=True)
class Split:
    """GEARS' 'simulation' split for one seed (validation cut the same way from the training list)."""

    seed: int
    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]
    scenario: Mapping[str, Scenario]

    def frame(self) -> pd.DataFrame:
        """The artifact ``split``: columns condition, subset (train|val|test), scenario ('' off test)."""
        rows = [(c, "train", "") for c in self.train]
        rows += [(c, "val", "") for c in self.val]
        rows += [(c, "test", self.scenario[c]) for c in self.test]
        return pd.DataFrame(rows, columns=["condition", "subset", "scenario"])

    def in_scenario(self, scenario: Scenario) -> tuple[str, ...]:
        """The test conditions of ``scenario``, in test order."""
        return tuple(c for c in self.test if self.scenario[c] == scenario)


@dataclass(frozen=True)
class Pairs:
    """Each perturbed cell of some conditions with its paired (seeded random) control cell.

    Control cells of a condition list that includes ``ctrl`` are paired with themselves.
    """

    rows: np.ndarray
    controls: np.ndarray
    conditions: np.ndarray


def pair_controls(screen: Screen, conditions: Sequence[str], rng: np.random.Generator) -> Pairs:
    """Pair every cell of ``conditions`` with a control cell drawn uniformly with replacement by ``rng``.

    GEARS draws the partner unseeded for every perturbed cell; here the draw is seeded (DOWNSTREAM.md).
    """
    rows_parts, control_parts, condition_parts = [], [], []
    for condition in conditions:
        rows = screen.rows(condition)
        if condition == CONTROL:
            controls = rows
        else:
            controls = rng.choice(screen.control_rows, size=len(rows), replace=True)
        rows_parts.append(rows)
        control_parts.append(controls)
        condition_parts.append(np.full(len(rows), condition, dtype=object))
    if not rows_parts:
        empty = np.zeros(0, dtype=np.int64)
        return Pairs(rows=empty, controls=empty, conditions=np.zeros(0, dtype=object))
    return Pairs(
        rows=np.concatenate(rows_parts).astype(np.int64),
        controls=np.concatenate(control_parts).astype(np.int64),
        conditions=np.concatenate(condition_parts),
    )
