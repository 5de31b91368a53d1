"""Genetic perturbation (the paper's Fig. 2): predicting the transcriptional outcome of CRISPR perturbations.

Data: a Perturb-seq screen in GEARS' AnnData layout (the ``dataset``; :mod:`sclong.tasks.perturbation.reader`),
at paper scale GEARS' processed Norman 2019, in the demo a screen simulated from the demo tissue's network
(:mod:`sclong.data.perturbseq`). Each seed draws GEARS' 'simulation' split (:mod:`.perturbation.split`)
into the four scenarios ``seen_0_2``, ``seen_1_2``, ``seen_2_2``, ``seen_0_1``.

Methods, each predicting the mean profile of every test condition:

* ``no_change``: the paired (seeded random) control cells; ``additive``: control + the measured single
  deltas (not applicable to ``seen_0_1``) (:mod:`.perturbation.baselines`).

Metrics (:mod:`.perturbation.metrics`): GEARS' metrics per test condition on its top-20 non-dropout DE genes
and over all genes, averaged over each scenario; ``mse_de`` and ``pearson_delta_de`` are the paper's MSE
and Pearson. Genetic interactions on the test doubles in scenario ``all`` (:mod:`.perturbation.gi`).
Artifacts: ``split`` (every condition's subset and scenario), ``conditions`` (per test condition metrics),
``gi`` (true and predicted magnitude per test double), ``double_errors`` (|predicted - true| per test
double and gene).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from sclong.errors import ConfigError
from sclong.tasks.base import InputName, RunResult, Task

if TYPE_CHECKING:
    from sclong.tasks.perturbation.screen import Predictions, Screen, Split

log = logging.getLogger(__name__)

KEY = "tasks.genetic_perturbation"
BASELINES = ("additive", "no_change")


@dataclass(frozen=True)
class Settings:
    """The ``tasks.genetic_perturbation`` config block plus ``device`` (``tasks.device``) and
    ``normalization`` (``embed.normalization``), which the rule adds."""

    dataset: str
    methods: list[str]
    train_gene_fraction: float
    combo_train_fraction: float
    device: Literal["auto", "cpu", "cuda"]
    normalization: Literal["paper", "scanpy"]

    def __post_init__(self) -> None:
        for name in ("train_gene_fraction", "combo_train_fraction"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigError(f"{KEY}.{name}", f"must be between 0 and 1 (exclusive), got {value}")


class GeneticPerturbation(Task[Settings, "Screen"]):
    """Single and double CRISPR perturbations, GEARS' split, metrics and interaction scores."""

    name = "genetic_perturbation"
    baselines = BASELINES
    settings_type = Settings

    def inputs(self, method: str) -> tuple[InputName, ...]:
        """Every method reads only the screen."""
        return ("dataset",)

    def load(self, method: str, inputs: Mapping[str, Path], settings: Settings) -> Screen:
        """Read and check the screen, with its DE genes."""
        from sclong.tasks.perturbation.reader import read_screen

        screen = read_screen(inputs["dataset"])
        log.info("%s: %d cells x %d genes, %d conditions", screen.source, screen.adata.n_obs, len(screen.genes),
                 len(screen.condition_list()))  # fmt: skip
        return screen

    def run(self, method: str, seed: int, data: Screen, settings: Settings) -> RunResult:
        """Split with ``seed``, predict the test conditions with ``method`` and score them."""
        from sclong.tasks.perturbation import baselines
        from sclong.tasks.perturbation.split import simulation_split

        split = simulation_split(data.condition_list(), seed, settings.train_gene_fraction,
                                 settings.combo_train_fraction)  # fmt: skip
        not_applicable = {}
        if method == "no_change":
            predictions = baselines.no_change(data, split, np.random.default_rng(seed))
        elif method == "additive":
            predictions = baselines.additive(data, split)
            not_applicable = {"seen_0_1": baselines.ADDITIVE_NOT_APPLICABLE}
        else:
            raise ValueError(f"unknown method {method!r} for {self.name}")
        return score(data, split, predictions, not_applicable)


def score(screen: Screen, split: Split, predictions: Predictions, not_applicable: Mapping[str, str]) -> RunResult:
    """Metrics and artifacts of one run's predictions."""
    from sclong.tasks.perturbation.gi import double_errors, gi_metrics, gi_table
    from sclong.tasks.perturbation.metrics import condition_table, scenario_metrics

    conditions = condition_table(screen, split, predictions)
    gi = gi_table(screen, split, predictions)
    metrics = [*scenario_metrics(split, conditions, not_applicable), *gi_metrics(gi)]
    artifacts = {"split": split.frame(), "conditions": conditions, "gi": gi,
                 "double_errors": double_errors(screen, split, predictions)}  # fmt: skip
    return RunResult(metrics, artifacts)


TASK = GeneticPerturbation()
