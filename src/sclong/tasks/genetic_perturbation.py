"""Genetic perturbation (the paper's Fig. 2): predicting the transcriptional outcome of CRISPR perturbations.

Data: a Perturb-seq screen in GEARS' AnnData layout (the ``dataset``; :mod:`sclong.tasks.perturbation.reader`),
at paper scale GEARS' processed Norman 2019, in the demo a screen simulated from the demo tissue's network
(:mod:`sclong.data.perturbseq`). Each seed draws GEARS' 'simulation' split (:mod:`.perturbation.split`)
into the four scenarios ``seen_0_2``, ``seen_1_2``, ``seen_2_2``, ``seen_0_1``.

Methods, each predicting the mean profile of every test condition:

* model variants (``sclong``, ``wo_leg``, ``random_leg``, ``wo_go``, ``random_go``): the frozen checkpoint's
  representations of the paired control cell + GEARS' perturbation embedding and decoder, trained on the
  split's training conditions, the epoch chosen on its validation ``mse_de``
  (:mod:`.perturbation.model`, block ``model``);
* ``gears``: GEARS itself (cell-gears) on the same split and DE genes (:mod:`.perturbation.gears_baseline`,
  block ``gears``), offline from the workflow's GO sources;
* ``no_change``: the paired (seeded random) control cells; ``additive``: control + the measured single
  deltas (not applicable to ``seen_0_1``) (:mod:`.perturbation.baselines`).

Metrics (:mod:`.perturbation.metrics`): GEARS' metrics per test condition on its top-20 non-dropout DE genes
and over all genes, averaged over each scenario; ``mse_de`` and ``pearson_delta_de`` are the paper's MSE
and Pearson. Genetic interactions on the test doubles in scenario ``all`` (:mod:`.perturbation.gi`).
Artifacts: ``split`` (every condition's subset and scenario), ``conditions`` (per test condition metrics),
``gi`` (true and predicted magnitude per test double), ``double_errors`` (|predicted - true| per test
double and gene), and for the model variants and ``gears`` ``training`` (the per-epoch log).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sclong.errors import ConfigError
from sclong.settings import from_mapping
from sclong.tasks.base import InputName, RunResult, Task, model_variant

if TYPE_CHECKING:
    from sclong.tasks.perturbation.gears_baseline import GearsSettings
    from sclong.tasks.perturbation.go_files import GoAnnotations
    from sclong.tasks.perturbation.model import ModelSettings
    from sclong.tasks.perturbation.screen import Predictions, Screen, Split

log = logging.getLogger(__name__)

KEY = "tasks.genetic_perturbation"
BASELINES = ("gears", "additive", "no_change")


@dataclass(frozen=True)
class Settings:
    """The ``tasks.genetic_perturbation`` config block plus ``device`` (``tasks.device``),
    ``normalization`` (``embed.normalization``) and ``go_annotations`` (the config section), which the rule
    adds; ``model`` and ``gears`` are the blocks of the scLong model and of the GEARS baseline."""

    dataset: str
    methods: list[str]
    train_gene_fraction: float
    combo_train_fraction: float
    model: ModelSettings
    gears: GearsSettings
    device: Literal["auto", "cpu", "cuda"]
    normalization: Literal["paper", "scanpy"]
    go_annotations: Mapping[str, Any]

    def __post_init__(self) -> None:
        from sclong.tasks.perturbation.gears_baseline import GearsSettings
        from sclong.tasks.perturbation.model import ModelSettings

        for name in ("train_gene_fraction", "combo_train_fraction"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigError(f"{KEY}.{name}", f"must be between 0 and 1 (exclusive), got {value}")
        for name, block in (("model", ModelSettings), ("gears", GearsSettings)):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, from_mapping(block, value, f"{KEY}.{name}"))


@dataclass(frozen=True)
class PerturbationData:
    """What every seed of one method shares: the screen, for the trained methods the checkpoint (model
    variants) and the GO annotations, and for ``gears`` a scratch directory of the job (GEARS' data path
    and its processed screen, reused by every seed; removed when the job ends)."""

    screen: Screen
    checkpoint: Path | None
    go: GoAnnotations | None
    scratch: tempfile.TemporaryDirectory | None = None


class GeneticPerturbation(Task[Settings, PerturbationData]):
    """Single and double CRISPR perturbations, GEARS' split, metrics and interaction scores."""

    name = "genetic_perturbation"
    baselines = BASELINES
    settings_type = Settings
    shared_sections = ("go_annotations",)

    def inputs(self, method: str) -> tuple[InputName, ...]:
        """Model variants need their checkpoint and the GO sources, GEARS the GO sources, the rest the screen."""
        if model_variant(method):
            return ("dataset", "checkpoint", "go_gaf", "go_obo")
        if method == "gears":
            return ("dataset", "go_gaf", "go_obo")
        return ("dataset",)

    def load(self, method: str, inputs: Mapping[str, Path], settings: Settings) -> PerturbationData:
        """Read and check the screen (with its DE genes) and, for the trained methods, the GO annotations."""
        from sclong.tasks.perturbation.reader import read_screen

        screen = read_screen(inputs["dataset"])
        log.info("%s: %d cells x %d genes, %d conditions", screen.source, screen.adata.n_obs, len(screen.genes),
                 len(screen.condition_list()))  # fmt: skip
        go = None
        if "go_gaf" in inputs:
            from sclong.tasks.perturbation.go_files import read_go_annotations

            go = read_go_annotations(inputs["go_gaf"], inputs["go_obo"],
                                     settings.go_annotations["max_malformed_fraction"])  # fmt: skip
        scratch = tempfile.TemporaryDirectory(prefix="sclong-gears-") if method == "gears" else None
        return PerturbationData(screen, inputs.get("checkpoint"), go, scratch)

    def run(self, method: str, seed: int, data: PerturbationData, settings: Settings) -> RunResult:
        """Split with ``seed``, predict the test conditions with ``method`` and score them."""
        from sclong.tasks.perturbation import baselines
        from sclong.tasks.perturbation.split import simulation_split

        screen = data.screen
        split = simulation_split(screen.condition_list(), seed, settings.train_gene_fraction,
                                 settings.combo_train_fraction)  # fmt: skip
        not_applicable, training = {}, None
        if model_variant(method):
            from sclong.tasks.perturbation.model import fit_predict_sclong

            predictions, training = fit_predict_sclong(screen, split, data.checkpoint, data.go, settings.model, seed,
                                                       settings.device, settings.normalization)  # fmt: skip
        elif method == "gears":
            from sclong.tasks.perturbation.gears_baseline import fit_predict_gears

            predictions, training = fit_predict_gears(screen, split, data.go, settings.gears, seed, settings.device,
                                                      Path(data.scratch.name))  # fmt: skip
        elif method == "no_change":
            predictions = baselines.no_change(screen, split, np.random.default_rng(seed))
        elif method == "additive":
            predictions = baselines.additive(screen, split)
            not_applicable = {"seen_0_1": baselines.ADDITIVE_NOT_APPLICABLE}
        else:
            raise ValueError(f"unknown method {method!r} for {self.name}")
        result = score(screen, split, predictions, not_applicable)
        if method == "additive":
            result.metrics = [replace(m, note=baselines.ADDITIVE_ORACLE[m.scenario])
                              if m.value is not None and m.scenario in baselines.ADDITIVE_ORACLE else m
                              for m in result.metrics]  # fmt: skip
        if training is not None:
            result.artifacts["training"] = training
        return result


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
