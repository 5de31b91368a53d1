"""Chemical perturbation (the paper's Fig. 3): predicting the L1000 profile of a drug on a cell line at a dose.

Data: a dataset folder of either L1000 file set (``l1000``: a GCT and DeepCE's SMILES CSV, the demo's
simulated data; ``l1000_bayesian``: the paper's level-5 catalogue with LINCS' tables;
:func:`sclong.tasks.drugs.l1000_catalog.read_l1000_folder`). The genes must be the 978 landmarks (else one
:class:`~sclong.errors.InputError`). DeepCE's selection (``trt_cp``, its 7 cell lines, 6 doses, 24 h), one
profile per (drug, cell line, dose) by DeepCE's replicate rule, and drugs without a usable SMILES dropped
with a report (:mod:`sclong.tasks.drugs.l1000`). Each seed draws a drug-disjoint train / validation / test
split of the profiles (:func:`sclong.tasks.drugs.l1000.split_by_drug`): drugs are shuffled with the seed
and each, in turn, goes to the part furthest below its share of the profiles, the shares being ``split``
(profile counts; the paper's 3,965 / 544 / 496 of its 5,005 profiles, which a whole-drug split meets to
within one drug's profiles per part).

Methods, each predicting the 978 landmark values of every test profile:

* model variants (``sclong``, ``wo_leg``, ``random_leg``, ``wo_go``, ``random_go``): the scLong
  chemical-perturbation network (:class:`sclong.tasks.drugs.chem_model.ChemPerturbationModel`) on the
  variant's gene vectors of the landmarks (:func:`sclong.tasks.drugs.gene_vectors.sclong_vectors`);
* ``deepce``: DeepCE (:class:`sclong.tasks.drugs.deepce.DeepCE`) on the workflow's Gene2vec vectors of the
  landmarks (:func:`sclong.tasks.drugs.gene_vectors.gene2vec_vectors`).

Both train alike (:mod:`sclong.tasks.drugs.chem_train`): MSE, Adam, the epoch chosen on the validation
drugs, the test drugs predicted once afterwards. Metrics (scenario ``all``): DeepCE's RMSE, Pearson,
Spearman, Pos-P@100 and Neg-P@100 on the test profiles (:mod:`sclong.tasks.drugs.l1000_metrics`).
Artifacts: ``split`` (every profile's drug, cell line, dose and part) and ``training`` (the per-epoch log).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from sclong.errors import ConfigError, InputError
from sclong.tasks.base import InputName, RunResult, Task, model_variant
from sclong.tasks.device import torch_device

if TYPE_CHECKING:
    from torch import nn

    from sclong.tasks.drugs.chem_train import Profiles
    from sclong.tasks.drugs.l1000 import Signatures

log = logging.getLogger(__name__)

KEY = "tasks.chemical_perturbation"
BASELINES = ("deepce",)
PARTS = ("train", "validation", "test")
SCENARIO = "all"


@dataclass(frozen=True)
class Settings:
    """The ``tasks.chemical_perturbation`` config block plus ``device`` (``tasks.device``) and
    ``normalization`` (``embed.normalization``, unused here: gene vectors need no cells), which the rule adds.
    ``width``, ``feedforward_dim`` and ``hidden_dim`` size the scLong network, ``deepce_width`` DeepCE's
    (:class:`sclong.tasks.drugs.deepce.DeepCE` ``width``; its own 128 at paper scale)."""

    dataset: str
    methods: list[str]
    split: dict[str, int]
    epochs: int
    batch_size: int
    learning_rate: float
    selection: Literal["pearson", "rmse"]
    dropout: float
    width: int
    feedforward_dim: int
    hidden_dim: int
    deepce_width: int
    device: Literal["auto", "cpu", "cuda"]
    normalization: Literal["paper", "scanpy"]

    def __post_init__(self) -> None:
        if sorted(self.split) != sorted(PARTS) or any(int(v) <= 0 for v in self.split.values()):
            raise ConfigError(f"{KEY}.split", f"needs positive profile counts for {', '.join(PARTS)}, got {self.split}")
        for name in ("epochs", "batch_size", "width", "feedforward_dim", "hidden_dim", "deepce_width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{KEY}.{name}", f"must be at least 1, got {getattr(self, name)}")
        for name in ("width", "deepce_width"):
            if getattr(self, name) % 4:
                raise ConfigError(
                    f"{KEY}.{name}", f"must be a multiple of the 4 attention heads, got {getattr(self, name)}"
                )
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"{KEY}.dropout", f"must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class ChemData:
    """What every seed shares: the profiles (filtered, one per condition, drugs with graphs), the drugs'
    DeepCE graphs, the landmark genes' feature vectors and the dataset's signature file."""

    signatures: Signatures
    graphs: dict[str, object]
    gene_vectors: np.ndarray
    source: Path


class ChemicalPerturbation(Task[Settings, ChemData]):
    """L1000 profiles of drugs on cell lines: scLong's network and DeepCE, DeepCE's five metrics."""

    name = "chemical_perturbation"
    baselines = BASELINES
    settings_type = Settings
    dataset_layouts = ("l1000", "l1000_bayesian")

    def inputs(self, method: str) -> tuple[InputName, ...]:
        """Model variants need their checkpoint; DeepCE the Gene2vec matrix, the vocabulary it is aligned to and
        the gene table (old landmark symbols resolve through previous and alias symbols)."""
        if model_variant(method):
            return ("dataset", "checkpoint")
        return ("dataset", "gene2vec", "vocabulary", "gene_table")

    def load(self, method: str, inputs: Mapping[str, Path], settings: Settings) -> ChemData:
        """Read, filter and reduce the profiles, featurise their drugs and get the landmarks' vectors."""
        from sclong.tasks.drugs import l1000
        from sclong.tasks.drugs.gene_vectors import gene2vec_vectors, sclong_vectors
        from sclong.tasks.drugs.l1000_catalog import read_l1000_folder
        from sclong.tasks.drugs.molecules import featurize

        signatures, smiles, source = read_l1000_folder(inputs["dataset"])
        profiles = l1000.reduce_replicates(l1000.deepce_filter(signatures, source), source)
        drugs = set(profiles.meta["pert_id"])
        molecules = featurize({k: v for k, v in smiles.items() if k in drugs}, "deepce", str(source))
        profiles = l1000.attach_smiles(profiles, molecules.graphs, smiles, str(source))
        if len(profiles.meta) == 0:
            raise InputError(source, "no profile is left after DeepCE's filter and the SMILES check")
        log.info("%s: %d profiles of %d drugs", source, len(profiles.meta), profiles.meta["pert_id"].nunique())
        genes = [str(gene) for gene in profiles.values.columns]
        if model_variant(method):
            vectors = sclong_vectors(inputs["checkpoint"], genes)
        else:
            vectors = gene2vec_vectors(inputs["gene2vec"], inputs["vocabulary"], inputs["gene_table"], genes)
        return ChemData(profiles, molecules.graphs, vectors.vectors, Path(source))

    def run(self, method: str, seed: int, data: ChemData, settings: Settings) -> RunResult:
        """Split with ``seed``, train ``method`` (selection on validation), predict the test once, score it."""
        import torch

        from sclong.tasks.drugs.chem_train import TrainSettings, fit_and_test
        from sclong.tasks.drugs.l1000 import split_by_drug
        from sclong.tasks.drugs.l1000_metrics import l1000_metrics

        meta = data.signatures.meta
        part = split_by_drug(meta["pert_id"], {name: settings.split[name] for name in PARTS}, seed)
        parts = {name: profiles(data.signatures, (part == name).to_numpy()) for name in PARTS}
        empty = [name for name, rows in parts.items() if len(rows) == 0]
        if empty:
            raise InputError(data.source, f"the drug-disjoint split leaves no {' or '.join(empty)} profiles "
                                          f"({meta['pert_id'].nunique()} drugs)")  # fmt: skip
        device = torch_device(settings.device)
        torch.manual_seed(seed)
        model = build(method, data.gene_vectors, settings).to(device)
        train = TrainSettings(settings.epochs, settings.batch_size, settings.learning_rate, settings.selection)
        fitted = fit_and_test(model, parts, data.graphs, train, seed, device)
        metrics = l1000_metrics(parts["test"].values, fitted.test_predictions, SCENARIO)
        split = pd.DataFrame({"profile": meta.index.astype(str), "pert_id": meta["pert_id"].to_numpy(),
                              "cell_id": meta["cell_id"].to_numpy(), "dose_um": meta["dose_um"].to_numpy(),
                              "part": part.to_numpy()})  # fmt: skip
        return RunResult(metrics, {"split": split, "training": fitted.history})


def profiles(signatures: Signatures, keep: np.ndarray) -> Profiles:
    """The profiles where ``keep``, with DeepCE's cell-line and dose indices (its fixed 7 and 6)."""
    from sclong.tasks.drugs.chem_train import Profiles
    from sclong.tasks.drugs.l1000 import CELL_LINES, DOSES_UM

    meta = signatures.meta.loc[keep]
    cell = pd.Index(CELL_LINES).get_indexer(meta["cell_id"])
    dose = pd.Index(DOSES_UM).get_indexer(meta["dose_um"])
    values = signatures.values.loc[keep].to_numpy(dtype=np.float32)
    return Profiles(meta["pert_id"].astype(str).tolist(), cell, dose, values)


def build(method: str, gene_vectors: np.ndarray, settings: Settings) -> nn.Module:
    """The untrained network of ``method`` (seed the generator first)."""
    import torch

    from sclong.tasks.drugs.l1000 import CELL_LINES, DOSES_UM

    genes = torch.from_numpy(gene_vectors)
    if model_variant(method):
        from sclong.tasks.drugs.chem_model import ChemPerturbationModel

        return ChemPerturbationModel(genes, len(CELL_LINES), len(DOSES_UM), settings.feedforward_dim,
                                     settings.hidden_dim, settings.dropout, settings.width)  # fmt: skip
    if method == "deepce":
        from sclong.tasks.drugs.deepce import DeepCE

        return DeepCE(genes, len(CELL_LINES), len(DOSES_UM), settings.dropout, settings.deepce_width)
    raise ValueError(f"unknown method {method!r} for chemical_perturbation")


TASK = ChemicalPerturbation()
