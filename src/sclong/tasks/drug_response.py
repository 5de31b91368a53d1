"""Cancer drug response (the paper's Fig. 4b): ln(IC50) of (drug, cell line) pairs of GDSC, DeepCDR's data.

Data: a folder of DeepCDR's files (``dataset``, format ``deepcdr`` of :mod:`sclong.data.file_sets`; readers,
pairs and split in :mod:`.drugs.drug_response_data`). At paper scale DeepCDR's own files (GDSC ln(IC50), the
697-gene CCLE expression as log2(TPM + 1)), in the demo a screen simulated in the same formats
(:mod:`.drugs.drug_response_demo`). Drugs whose SMILES no graph can be built from are dropped with their
pairs (counted in the log), for every method alike.

Each seed draws DeepCDR's split, 1 - ``test_fraction`` / ``test_fraction`` within each TCGA type, and
carves the validation pairs (``validation_fraction``) out of the training part. The validation pairs
alone stop the networks' training and choose the linear model's alpha; the test pairs are predicted once,
after training, and scored.

Methods:

* model variants (``sclong``, ``wo_leg``, ``random_leg``, ``wo_go``, ``random_go``): DeepCDR's network
  (:mod:`.drugs.deepcdr`) whose cell branch gets the checkpoint's scLong per-gene values of the cell lines
  (:func:`.drugs.cell_lines.cell_line_values`, computed once per job in :meth:`DrugResponse.load` and shared
  by every seed); their gene coverage is logged and written as the artifact ``coverage``;
* ``deepcdr``: the same network on the raw expression;
* ``linear``: ridge regression on [expression; Morgan fingerprint] (:mod:`.drugs.response_linear`).

Metrics (scenario ``all``): ``pearson`` (Pearson's r of predicted and measured ln(IC50) over the test
pairs, the paper's metric) and ``n_test_pairs``. Artifacts: ``predictions`` (every test pair: cell line,
drug, cancer type, measured, predicted), ``training`` for the networks (per-epoch train and validation loss),
``alphas`` for ``linear`` (validation MSE of every alpha) and ``coverage`` for the model variants.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from sclong.errors import ConfigError, InputError
from sclong.settings import from_mapping
from sclong.tasks.base import InputName, Metric, RunResult, Task, model_variant
from sclong.tasks.device import torch_device
from sclong.tasks.drugs.cell_lines import EXPRESSION_KINDS, ExpressionKind

if TYPE_CHECKING:
    from sclong.tasks.drugs.drug_response_data import Split

log = logging.getLogger(__name__)

KEY = "tasks.drug_response"
BASELINES = ("deepcdr", "linear")
PREDICTION_COLUMNS = ("cell_line", "drug_id", "pubchem_cid", "cancer_type", "measured", "predicted")


@dataclass(frozen=True)
class NetworkSettings:
    """DeepCDR's network and its training: ``gcn_units`` (graph convolutions before the last 100-unit one),
    ``batch_size``, Adam's ``learning_rate``, ``max_epochs`` and ``patience`` (early stopping on validation)."""

    gcn_units: list[int]
    batch_size: int
    learning_rate: float
    max_epochs: int
    patience: int

    def __post_init__(self) -> None:
        for name in ("batch_size", "max_epochs", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{KEY}.network.{name}", f"must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ConfigError(f"{KEY}.network.learning_rate", f"must be > 0, got {self.learning_rate}")


@dataclass(frozen=True)
class LinearSettings:
    """The ridge baseline: candidate ``alphas`` and the Morgan fingerprint (``fingerprint_bits`` bits of
    radius ``fingerprint_radius``)."""

    alphas: list[float]
    fingerprint_bits: int
    fingerprint_radius: int

    def __post_init__(self) -> None:
        if not self.alphas or any(not alpha > 0 for alpha in self.alphas):
            raise ConfigError(f"{KEY}.linear.alphas", f"must be a non-empty list of values > 0, got {self.alphas}")


@dataclass(frozen=True)
class Settings:
    """The ``tasks.drug_response`` config block plus ``device`` (``tasks.device``) and ``normalization``
    (``embed.normalization``), which the rule adds."""

    dataset: str
    methods: list[str]
    expression_kind: ExpressionKind
    test_fraction: float
    validation_fraction: float
    embed_batch_size: int
    network: NetworkSettings
    linear: LinearSettings
    device: Literal["auto", "cpu", "cuda"]
    normalization: Literal["paper", "scanpy"]

    def __post_init__(self) -> None:
        for name, allowed in (("expression_kind", EXPRESSION_KINDS), ("device", ("auto", "cpu", "cuda"))):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{KEY}.{name}", f"must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("test_fraction", "validation_fraction"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigError(f"{KEY}.{name}", f"must be between 0 and 1 (exclusive), got {value}")
        for name, block in (("network", NetworkSettings), ("linear", LinearSettings)):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, from_mapping(block, value, f"{KEY}.{name}"))


@dataclass(frozen=True)
class ResponseData:
    """What every seed of one method shares: the pairs table, the cell features (cell lines x features: raw
    expression, or scLong per-gene values for the model variants), the drugs' SMILES and DeepCDR graphs
    (by CID, the usable drugs only) and, for the model variants, the gene coverage."""

    pairs: pd.DataFrame
    features: pd.DataFrame
    smiles: pd.Series
    graphs: dict[str, Any]
    coverage: pd.DataFrame | None


class DrugResponse(Task[Settings, ResponseData]):
    """GDSC ln(IC50) of (drug, cell line) pairs, DeepCDR's split within cancer types, Pearson on the test pairs."""

    name = "drug_response"
    baselines = BASELINES
    settings_type = Settings
    dataset_layouts = ("deepcdr",)

    def inputs(self, method: str) -> tuple[InputName, ...]:
        """Model variants need their checkpoint besides the dataset folder."""
        return ("dataset", "checkpoint") if model_variant(method) else ("dataset",)

    def load(self, method: str, inputs: Mapping[str, Path], settings: Settings) -> ResponseData:
        """Read the folder, build the pairs, drop drugs without a graph and compute the cell features once."""
        from sclong.data.file_sets import folder_files
        from sclong.tasks.drugs import drug_response_data as drd
        from sclong.tasks.drugs.molecules import featurize

        files = folder_files(inputs["dataset"], "deepcdr")
        expression = drd.read_expression(files["expression"])
        smiles = drd.read_smiles(files["smiles"])
        pairs = drd.build_pairs(drd.read_ic50(files["ic50"]), drd.read_drug_list(files["drug_list"]), smiles,
                                drd.read_annotations(files["annotations"]), expression.index,
                                str(files["ic50"])).table  # fmt: skip
        used = smiles[smiles.index.isin(pairs["pubchem_cid"].unique())]
        molecules = featurize(used.to_dict(), "deepcdr", str(files["smiles"]))
        lost = ~pairs["pubchem_cid"].isin(list(molecules.graphs))
        if lost.all():
            raise InputError(files["smiles"], "no drug's SMILES gives a molecular graph: no pairs left")
        if lost.any():
            log.warning("%s: %d pair(s) of %d drug(s) without a molecular graph dropped", files["ic50"], lost.sum(),
                        pairs.loc[lost, "pubchem_cid"].nunique())  # fmt: skip
        pairs = pairs[~lost].reset_index(drop=True)
        lines = pd.Index(pairs["cell_line"].unique())
        features, coverage = expression.loc[lines], None
        if model_variant(method):
            from sclong.tasks.drugs.cell_lines import cell_line_values

            values = cell_line_values(features, inputs["checkpoint"], settings.expression_kind, settings.device,
                                      settings.normalization, settings.embed_batch_size,
                                      str(files["expression"]))  # fmt: skip
            features, coverage = values.values, values.coverage
            if features.shape[1] == 0:
                raise InputError(files["expression"], f"no gene feeds the {method} checkpoint's vocabulary")
        log.info("%s: %d pairs, %d drugs, %d cell lines x %d cell features", method, len(pairs),
                 pairs["pubchem_cid"].nunique(), len(lines), features.shape[1])  # fmt: skip
        return ResponseData(pairs, features, used[list(molecules.graphs)], molecules.graphs, coverage)

    def run(self, method: str, seed: int, data: ResponseData, settings: Settings) -> RunResult:
        """Split with ``seed``, fit ``method`` (selection on validation only), predict the test pairs once, score."""
        from sclong.tasks.drugs.drug_response_data import pearson, split_pairs

        split = split_pairs(data.pairs, seed, settings.test_fraction, settings.validation_fraction)
        for part in ("validation", "test"):
            if not len(getattr(split, part)):
                raise ConfigError(f"{KEY}.{part}_fraction", f"leaves no {part} pairs of {len(data.pairs)} pairs")
        log.info("seed %d: %d train, %d validation, %d test pairs", seed, len(split.train), len(split.validation),
                 len(split.test))  # fmt: skip
        if method == "linear":
            predicted, artifacts = _linear(data, split, settings.linear)
        else:
            predicted, artifacts = _network(data, split, settings, seed)
        test = data.pairs.iloc[split.test]
        measured = test["ln_ic50"].to_numpy(np.float64)
        r = pearson(measured, predicted)
        metrics = [Metric("all", "pearson", r, "" if r is not None else "predictions or measurements are constant"),
                   Metric("all", "n_test_pairs", float(len(test)))]  # fmt: skip
        artifacts["predictions"] = pd.DataFrame({
            "cell_line": test["cell_line"].to_numpy(), "drug_id": test["drug_id"].to_numpy(),
            "pubchem_cid": test["pubchem_cid"].to_numpy(), "cancer_type": test["cancer_type"].to_numpy(),
            "measured": measured, "predicted": np.asarray(predicted, dtype=np.float64),
        })  # fmt: skip
        if data.coverage is not None:
            artifacts["coverage"] = data.coverage
        return RunResult(metrics, artifacts)


def _network(data: ResponseData, split: Split, settings: Settings, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """DeepCDR's network on ``data.features``: trained with early stopping on validation, then the test pairs
    predicted once; the predictions and the ``training`` artifact."""
    import torch

    from sclong.tasks.drugs.deepcdr import DeepCDR, TrainSettings, fit_and_test, loader, pair_set
    from sclong.tasks.drugs.molecules import ATOM_DIMS

    drugs = list(data.graphs)
    graph_list = [data.graphs[key] for key in drugs]
    values = data.features.to_numpy(np.float32)
    net = settings.network
    parts = {"train": split.train, "validation": split.validation, "test": split.test}
    loaders = {name: loader(pair_set(data.pairs, rows, data.features.index, drugs), values, graph_list,
                            net.batch_size, name == "train", seed)
               for name, rows in parts.items()}  # fmt: skip
    torch.manual_seed(seed)
    model = DeepCDR(values.shape[1], ATOM_DIMS["deepcdr"], net.gcn_units)
    train = TrainSettings(net.learning_rate, net.max_epochs, net.patience)
    with tempfile.TemporaryDirectory(prefix="sclong-deepcdr-") as scratch:
        fitted = fit_and_test(model, loaders, train, torch.device(torch_device(settings.device)),
                              Path(scratch) / "history.tsv")  # fmt: skip
    log.info("seed %d: best epoch %d of %d", seed, fitted.best_epoch, len(fitted.history))
    history = fitted.history.assign(best=fitted.history["epoch"] == fitted.best_epoch)
    return fitted.test_predictions, {"training": history}


def _linear(data: ResponseData, split: Split, settings: LinearSettings) -> tuple[np.ndarray, dict[str, Any]]:
    """The ridge baseline: alpha chosen on the validation pairs, then the test pairs predicted once; the
    predictions and the ``alphas`` artifact."""
    from sclong.tasks.drugs.molecules import fingerprints
    from sclong.tasks.drugs.response_linear import fit_linear, pair_features

    bits = fingerprints(data.smiles.to_dict(), settings.fingerprint_bits, settings.fingerprint_radius)
    expression = data.features.to_numpy(np.float32)
    fingerprint = bits.to_numpy(np.float32)

    def part(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        table = data.pairs.iloc[rows]
        cells = data.features.index.get_indexer(table["cell_line"])
        drugs = bits.index.get_indexer(table["pubchem_cid"])
        return pair_features(expression, fingerprint, cells, drugs), table["ln_ic50"].to_numpy(np.float64)

    fit = fit_linear(part(split.train), part(split.validation), settings.alphas)
    predicted = fit.model.predict(part(split.test)[0])
    alphas = fit.validation_mse.rename_axis("alpha").reset_index()
    alphas["chosen"] = alphas["alpha"] == fit.alpha
    return predicted, {"alphas": alphas}



TASK = DrugResponse()
