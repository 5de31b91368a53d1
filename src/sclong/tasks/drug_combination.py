"""Drug combination (the paper's Fig. 4c): is a pair of drugs synergistic in a cell line?

Data: a folder in DeepDDS' layout (``deepdds`` of :data:`sclong.data.file_sets.FILE_SETS`; readers and
matching in :mod:`.drugs.combination_data`): at paper scale DeepDDS' O'Neil pairs for training and its
independent AstraZeneca set as the test, in the demo a screen simulated in the same files
(:mod:`.drugs.combination_simulate`). Drugs are DeepDDS' 78-d atom graphs (:mod:`.drugs.molecules`); a
pair whose cell line has no features or whose drug cannot be parsed is dropped with a report.

Every seed draws a validation split of the training pairs (``validation_fraction``, ``validation_by``
pairs or whole cell lines; :func:`~.drugs.combination_data.validation_split`); every method trains on the
rest. The networks keep the epoch of the best validation AUROC (:func:`~.drugs.combination_train.fit`),
and the independent set is predicted once, after training; it never selects anything.

Methods:

* model variants (``sclong``, ``wo_leg``, ``random_leg``, ``wo_go``, ``random_go``): the paper's network
  (:class:`~.drugs.deepdds.ScLongCombination`, block ``model``) with the cell branch fed the checkpoint's
  per-gene values of the 954 feature genes (:func:`~.drugs.cell_lines.cell_line_values`, TPM input),
  computed once per job for the training and the independent cell lines and reused by every seed; genes
  absent from the vocabulary are set to 0 or left out (``missing_genes``); the coverage is logged and
  written as the artifact ``coverage``;
* ``deepdds``: DeepDDS' GCNNet on the raw TPM features (block ``deepdds``);
* ``random_forest``: sklearn's forest on Morgan bits of both drugs and the raw TPM features
  (:mod:`.drugs.combination_rf`, block ``random_forest``), ``random_state`` = the seed, as many jobs as the
  job's threads (``OMP_NUM_THREADS``; its results do not depend on them). It tunes nothing, so it does not
  look at the validation pairs.

Metric: AUROC on the independent set (scenario ``all``; no value, with a note, when that set holds one
class). Artifacts per seed: ``predictions`` (every independent pair: data row, cell, drugs, label, score)
and, for the networks, ``training`` (per-epoch log, the selected epoch marked).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd

from sclong.errors import ConfigError, InputError
from sclong.settings import from_mapping
from sclong.tasks.base import InputName, Metric, RunResult, Task, model_variant
from sclong.tasks.device import torch_device
from sclong.tasks.drugs.combination_data import MissingGenes, SplitBy

if TYPE_CHECKING:
    from torch_geometric.data import Batch

    from sclong.tasks.drugs.combination_data import CellFeatures, Screen
    from sclong.tasks.drugs.combination_train import FitResult

log = logging.getLogger(__name__)

KEY = "tasks.drug_combination"
BASELINES = ("deepdds", "random_forest")
SCENARIO = "all"


@dataclass(frozen=True)
class NetSettings:
    """Optimisation and dropout of one network (``deepdds`` or ``model``; see
    :class:`~sclong.tasks.drugs.combination_train.FitSettings`)."""

    epochs: int
    batch_size: int
    lr: float
    warmup_epochs: int
    final_lr: float
    eval_every: int
    dropout: float

    def check(self, key: str) -> None:
        """Refuse sizes and rates that cannot train."""
        for name in ("epochs", "batch_size", "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{key}.{name}", f"must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ConfigError(f"{key}.warmup_epochs", f"must be >= 0 and below epochs ({self.epochs})")
        for name in ("lr", "final_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{key}.{name}", f"must be > 0, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"{key}.dropout", f"must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class ForestSettings:
    """The random-forest baseline: trees, and the Morgan fingerprint's length and radius."""

    n_trees: int
    n_bits: int
    radius: int


@dataclass(frozen=True)
class Settings:
    """The ``tasks.drug_combination`` config block plus ``device`` (``tasks.device``) and ``normalization``
    (``embed.normalization``), which the rule adds."""

    dataset: str
    methods: list[str]
    validation_fraction: float
    validation_by: SplitBy
    missing_genes: MissingGenes
    embed_batch_size: int
    deepdds: NetSettings
    model: NetSettings
    random_forest: ForestSettings
    device: Literal["auto", "cpu", "cuda"]
    normalization: Literal["paper", "scanpy"]

    def __post_init__(self) -> None:
        for name, kind in (("validation_by", SplitBy), ("missing_genes", MissingGenes)):
            if getattr(self, name) not in get_args(kind):
                raise ConfigError(f"{KEY}.{name}", f"must be one of {', '.join(get_args(kind))}")
        if not 0 < self.validation_fraction < 1:
            raise ConfigError(f"{KEY}.validation_fraction", f"must be in (0, 1), got {self.validation_fraction}")
        for name, block in (("deepdds", NetSettings), ("model", NetSettings), ("random_forest", ForestSettings)):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, from_mapping(block, value, f"{KEY}.{name}"))
        self.deepdds.check(f"{KEY}.deepdds")
        self.model.check(f"{KEY}.model")
        for name in ("n_trees", "n_bits", "radius"):
            if getattr(self.random_forest, name) < 1:
                raise ConfigError(f"{KEY}.random_forest.{name}", "must be >= 1")
        if self.embed_batch_size < 1:
            raise ConfigError(f"{KEY}.embed_batch_size", "must be >= 1")


@dataclass(frozen=True)
class CombinationData:
    """What every seed of one method shares: both screens, the drug graphs (networks) or fingerprints
    (forest), each screen's cell inputs and, for the model variants, the gene coverage."""

    source: str
    train: Screen
    test: Screen
    drugs: list[str]  # SMILES, the order of ``graphs``
    graphs: Batch | None
    fingerprints: pd.DataFrame | None
    train_cells: pd.DataFrame
    test_cells: pd.DataFrame
    coverage: pd.DataFrame | None


class DrugCombination(Task[Settings, CombinationData]):
    """Synergy of drug pairs: trained on O'Neil, tested once on the independent AstraZeneca set."""

    name = "drug_combination"
    baselines = BASELINES
    settings_type = Settings
    dataset_layouts = ("deepdds",)

    def inputs(self, method: str) -> tuple[InputName, ...]:
        """Model variants need their checkpoint besides the dataset folder."""
        return ("dataset", "checkpoint") if model_variant(method) else ("dataset",)

    def load(self, method: str, inputs: Mapping[str, Path], settings: Settings) -> CombinationData:
        """Read and match both screens; featurise the drugs; for a variant, its cell-line values (once)."""
        from sclong.data.file_sets import folder_files
        from sclong.tasks.drugs import combination_data as cd
        from sclong.tasks.drugs.molecules import featurize, fingerprints

        files = folder_files(inputs["dataset"], "deepdds")
        names = {smiles: name for name, smiles in cd.read_smiles(files["smiles"]).items()}
        labels = {role: cd.read_labels(files[role]) for role in ("train_labels", "test_labels")}
        features = {role: cd.read_cell_features(files[role], "exact") for role in ("train_cells", "test_cells")}
        features["test_cells"] = _same_genes(features["train_cells"], features["test_cells"], files["test_cells"])
        smiles = sorted({s for table in labels.values() for s in (*table["drug1"], *table["drug2"]) if s})
        molecules = featurize({s: s for s in smiles}, "deepdds", str(inputs["dataset"]))
        train = cd.match_screen(labels["train_labels"], features["train_cells"], molecules.invalid,
                                str(files["train_labels"]), names)  # fmt: skip
        test = cd.match_screen(labels["test_labels"], features["test_cells"], molecules.invalid,
                               str(files["test_labels"]), names)  # fmt: skip
        drugs = sorted(set(train.drugs) | set(test.drugs))
        log.info("drug combination: %d training pairs (%d cell lines), %d independent pairs (%d cell lines), "
                 "%d drugs", len(train.pairs), len(train.cells), len(test.pairs), len(test.cells),
                 len(drugs))  # fmt: skip
        graphs = bits = coverage = None
        train_cells, test_cells = train.cells, test.cells
        if method == "random_forest":
            forest = settings.random_forest
            bits = fingerprints({s: s for s in drugs}, n_bits=forest.n_bits, radius=forest.radius)
        else:
            from torch_geometric.data import Batch

            graphs = Batch.from_data_list([molecules.graphs[s] for s in drugs])
        if model_variant(method):
            train_cells, coverage = _sclong_inputs(train.cells, inputs["checkpoint"], settings,
                                                   str(files["train_cells"]))  # fmt: skip
            test_cells, _ = _sclong_inputs(test.cells, inputs["checkpoint"], settings, str(files["test_cells"]))
        return CombinationData(str(inputs["dataset"]), train, test, drugs, graphs, bits, train_cells, test_cells,
                               coverage)  # fmt: skip

    def run(self, method: str, seed: int, data: CombinationData, settings: Settings) -> RunResult:
        """Split off the validation pairs with ``seed``, train ``method``, score the independent set once."""
        from sclong.tasks.drugs.combination_data import auroc

        pairs = data.train.pairs
        train_rows, validation_rows = _validation_split(pairs, settings, seed, data.source)
        artifacts: dict[str, pd.DataFrame] = {}
        if method == "random_forest":
            scores = _forest_scores(pairs.iloc[train_rows], data, settings.random_forest, seed)
        else:
            result = _fit_network(method, pairs.iloc[train_rows], pairs.iloc[validation_rows], data, settings, seed)
            scores = result.test_scores
            artifacts["training"] = result.history.assign(selected=result.history["epoch"] == result.best_epoch)
        labels = data.test.pairs["label"].to_numpy()
        value = auroc(labels, scores)
        note = "" if value is not None else f"the independent set holds one class only (label {labels[0]})"
        artifacts["predictions"] = data.test.pairs.rename_axis("data_row").reset_index().assign(score=scores)
        if data.coverage is not None:
            artifacts["coverage"] = data.coverage
        return RunResult([Metric(SCENARIO, "auroc", value, note)], artifacts)


def _same_genes(train: CellFeatures, test: CellFeatures, test_path: Path) -> CellFeatures:
    """The independent set's features in the training file's gene order (the same genes are required)."""
    from dataclasses import replace

    train_genes, test_genes = train.values.columns, test.values.columns
    if set(train_genes) != set(test_genes):
        missing = train_genes.difference(test_genes)
        extra = test_genes.difference(train_genes)
        raise InputError(test_path, f"feature genes differ from the training file's ({len(missing)} missing, "
                                    f"{len(extra)} extra; e.g. {[*missing[:1], *extra[:1]][0]})")  # fmt: skip
    return replace(test, values=test.values.loc[:, train_genes], transcripts=test.transcripts.loc[train_genes])


def _sclong_inputs(
    cells: pd.DataFrame, checkpoint: Path, settings: Settings, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cell inputs from the checkpoint's per-gene values of ``cells`` (TPM) and the gene coverage."""
    from sclong.tasks.drugs.cell_lines import cell_line_values
    from sclong.tasks.drugs.combination_data import cell_inputs

    values = cell_line_values(cells, checkpoint, "tpm", settings.device, settings.normalization,
                              settings.embed_batch_size, source)  # fmt: skip
    if values.values.shape[1] == 0:
        raise InputError(source, "no feature gene is in the checkpoint's vocabulary")
    return cell_inputs(values.values, cells.columns, settings.missing_genes), values.coverage


def _validation_split(pairs: pd.DataFrame, settings: Settings, seed: int, source: str) -> tuple[np.ndarray, ...]:
    """Training and validation rows of seed ``seed``; a split that cannot select (one class) is one error."""
    from sclong.tasks.drugs.combination_data import validation_split

    classes = pairs["label"].value_counts()
    if len(classes) < 2:
        raise InputError(source, f"every training pair has label {classes.index[0]}: AUROC cannot select an epoch")
    try:
        train, validation = validation_split(pairs, settings.validation_fraction, seed, settings.validation_by)
    except ValueError as err:
        raise ConfigError(f"{KEY}.validation_fraction", f"no validation split of {len(pairs)} pairs: {err}") from None
    held = pairs["label"].iloc[validation]
    if held.nunique() < 2:
        raise InputError(source, f"the validation split of seed {seed} ({len(held)} pairs, by "
                                 f"{settings.validation_by}) holds label {held.iloc[0]} only: its AUROC cannot "
                                 f"select an epoch; raise {KEY}.validation_fraction or split by pairs")  # fmt: skip
    log.info("seed %d: %d training, %d validation pairs (by %s)", seed, len(train), len(validation),
             settings.validation_by)  # fmt: skip
    return train, validation


def _forest_scores(train: pd.DataFrame, data: CombinationData, forest: ForestSettings, seed: int) -> np.ndarray:
    """Class-1 probabilities of the independent pairs from a forest on the training pairs."""
    from sclong.tasks.drugs.combination_rf import pair_features, random_forest_scores

    train_x = pair_features(train, data.fingerprints, data.train_cells)
    test_x = pair_features(data.test.pairs, data.fingerprints, data.test_cells)
    return random_forest_scores(train_x, train["label"].to_numpy(), test_x, forest.n_trees, seed, _threads())


def _threads() -> int:
    """The job's threads (``OMP_NUM_THREADS``, which the rule sets; 1 when unset)."""
    text = os.environ.get("OMP_NUM_THREADS", "1")
    return int(text) if text.isdigit() and int(text) > 0 else 1


def _fit_network(
    method: str, train: pd.DataFrame, validation: pd.DataFrame, data: CombinationData, settings: Settings, seed: int
) -> FitResult:
    """Train the method's network; the epoch is chosen on ``validation``; the independent set predicted once."""
    from sclong.tasks.drugs import deepdds
    from sclong.tasks.drugs.combination_train import FitSettings, PairLoader, fit

    kind: deepdds.NetKind = "sclong" if model_variant(method) else "deepdds"
    net = settings.model if kind == "sclong" else settings.deepdds
    loaders = (
        PairLoader(train, data.drugs, data.train_cells, net.batch_size, seed),
        PairLoader(validation, data.drugs, data.train_cells, net.batch_size, None),
        PairLoader(data.test.pairs, data.drugs, data.test_cells, net.batch_size, None),
    )
    fit_settings = FitSettings(net.epochs, net.lr, net.warmup_epochs, net.final_lr, net.eval_every)
    model = deepdds.build(kind, data.train_cells.shape[1], net.dropout, seed)
    return fit(model, data.graphs, *loaders, fit_settings, seed, torch_device(settings.device))



TASK = DrugCombination()
