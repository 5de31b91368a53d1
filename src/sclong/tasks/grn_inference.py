"""GRN inference (the paper's Fig. 5): predicted regulatory networks scored against a ground-truth network.

Data (:mod:`sclong.tasks.grn.data`): the ``dataset`` AnnData with its ground truth in ``uns['grn_edges']``;
evaluated genes = the truth's TFs + the ``n_variable_genes`` most variable other genes; the truth is
restricted to edges between evaluated genes. Methods, each giving scores ``[regulator, target]`` over the
evaluated genes:

* model variants (``sclong``, ``wo_leg``, ``random_leg``, ``wo_go``, ``random_go``): every evaluated gene's
  scLong value in every cell, the cosine similarity of those vectors as DeepSEM's initial A
  (:mod:`sclong.tasks.grn.similarity`), then DeepSEM; the scores are the trained A;
* ``deepsem``: DeepSEM from its own initialisation (:mod:`sclong.tasks.grn.deepsem`);
* ``genie3``: GENIE3 with the TFs as candidate regulators (:mod:`sclong.tasks.grn.genie3`);
* ``go_graph``: the GO Jaccard graph on the evaluated genes (:mod:`sclong.tasks.grn.go_scores`;
  deterministic, run once).

DeepSEM's scores are A transposed (DeepSEM's A is ``A[target, regulator]``), pairs with A exactly 0 not
predicted (as DeepSEM's ``extractEdgesFromMatrix`` drops them). Metrics (:mod:`sclong.tasks.grn.metrics`):
``epr`` and ``aupr_ratio`` in the ``evaluation`` definition (DeepSEM's tutorial or BEELINE's). Artifact
``edges``: the ``top_edges`` TF -> gene pairs of the highest ``|score|`` (ties: regulator, then target
order), with ``tf``, ``target``, ``score`` (signed) and ``in_truth``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sclong.errors import InputError
from sclong.settings import from_mapping
from sclong.tasks.base import InputName, RunResult, Task, model_variant
from sclong.tasks.device import torch_device
from sclong.tasks.grn.data import expression_values, ground_truth, select_genes
from sclong.tasks.grn.metrics import EVALUATIONS, Evaluation, grn_metrics
from sclong.tasks.grn.settings import DeepSEMSettings, Genie3Settings, check_choice

log = logging.getLogger(__name__)

KEY = "tasks.grn_inference"
BASELINES = ("deepsem", "genie3", "go_graph")


@dataclass(frozen=True)
class Settings:
    """The ``tasks.grn_inference`` config block plus ``device`` (``tasks.device``) and ``normalization``
    (``embed.normalization``), which the rule adds."""

    dataset: str
    methods: list[str]
    evaluation: Evaluation
    n_variable_genes: int | None
    embed_batch_size: int
    top_edges: int
    deepsem: DeepSEMSettings
    genie3: Genie3Settings
    device: Literal["auto", "cpu", "cuda"]
    normalization: Literal["paper", "scanpy"]

    def __post_init__(self) -> None:
        check_choice(f"{KEY}.evaluation", self.evaluation, EVALUATIONS)
        check_choice(f"{KEY}.device", self.device, ("auto", "cpu", "cuda"))
        for name, block in (("deepsem", DeepSEMSettings), ("genie3", Genie3Settings)):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, from_mapping(block, value, f"{KEY}.{name}"))


@dataclass
class GRNData:
    """What every seed of one method shares: the evaluated genes (names), their expression (cells x
    genes), the TFs (positions), the truth edges between them (positions) and, for model variants, the
    initial A or, for ``go_graph``, the scores."""

    source: str
    genes: np.ndarray
    expression: np.ndarray
    tfs: np.ndarray
    truth_source: np.ndarray
    truth_target: np.ndarray
    prior: np.ndarray | None = None


class GRNInference(Task[Settings, GRNData]):
    """GRN inference against a ground-truth network."""

    name = "grn_inference"
    baselines = BASELINES
    settings_type = Settings

    def seeded(self, method: str) -> bool:
        """Every method but the GO graph draws random numbers."""
        return method != "go_graph"

    def inputs(self, method: str) -> tuple[InputName, ...]:
        """Model variants need their checkpoint, the GO graph baseline the graph and the gene table."""
        if model_variant(method):
            return ("dataset", "checkpoint")
        if method == "go_graph":
            return ("dataset", "go_graph", "gene_table")
        return ("dataset",)

    def load(self, method: str, inputs: Mapping[str, Path], settings: Settings) -> GRNData:
        """Read the dataset, choose the evaluated genes, and compute the method's prior if it has one."""
        import anndata as ad

        path = inputs["dataset"]
        try:
            cells = ad.read_h5ad(path)
        except (OSError, ValueError, KeyError) as err:
            raise InputError(path, f"cannot read the dataset ({err})") from err
        data = _prepare(cells, path, settings.n_variable_genes)
        if model_variant(method):
            data.prior = _sclong_init(cells, data, inputs["checkpoint"], settings)
        elif method == "go_graph":
            from sclong.tasks.grn.go_scores import go_scores

            data.prior = go_scores(data.genes, inputs["go_graph"], inputs["gene_table"])
        return data

    def run(self, method: str, seed: int, data: GRNData, settings: Settings) -> RunResult:
        """Score ``method``'s network with ``seed``."""
        if method == "go_graph":
            scores = data.prior
        elif method == "genie3":
            from sclong.tasks.grn.genie3 import genie3

            scores = genie3(data.expression, data.tfs, settings.genie3, seed)
        elif method == "deepsem" or model_variant(method):
            scores = _deepsem_scores(method, seed, data, settings)
        else:
            raise ValueError(f"unknown method {method!r} for {self.name}")
        metrics = grn_metrics(scores, data.truth_source, data.truth_target, settings.evaluation)
        return RunResult(metrics, {"edges": top_edges(scores, data, settings.top_edges)})


def _prepare(cells: object, source: Path, n_variable_genes: int | None) -> GRNData:
    """Evaluated genes, their expression and the truth between them (rules in :mod:`sclong.tasks.grn.data`)."""
    if cells.n_obs < 2:
        raise InputError(source, f"dataset has {cells.n_obs} cell(s); GRN inference needs at least 2")
    duplicated = cells.var_names[cells.var_names.duplicated()]
    if len(duplicated):
        raise InputError(source, f"dataset has {len(duplicated)} duplicate var name(s), e.g. {duplicated[0]}")
    edges = ground_truth(cells, source)
    expression = expression_values(cells, source)
    tfs = np.unique(cells.var_names.get_indexer(edges["tf"]))
    evaluated = select_genes(expression, tfs, n_variable_genes)
    genes = cells.var_names[evaluated]
    source_pos, target_pos = genes.get_indexer(edges["tf"]), genes.get_indexer(edges["target"])
    kept = target_pos >= 0
    if not kept.any() or len(genes) < 2:
        raise InputError(source, f"none of its {len(edges)} ground-truth edges is between the {len(genes)} evaluated "
                                 f"genes ({len(tfs)} TFs + the {KEY}.n_variable_genes most variable others)")
    log.info("%s: %d evaluated genes (%d TFs), %d of %d truth edges between them", source, len(genes), len(tfs),
             kept.sum(), len(edges))  # fmt: skip
    return GRNData(
        source=str(source),
        genes=np.asarray(genes, dtype=object),
        expression=np.ascontiguousarray(expression[:, evaluated]),
        tfs=np.searchsorted(evaluated, tfs),
        truth_source=source_pos[kept].astype(np.int64),
        truth_target=target_pos[kept].astype(np.int64),
    )


def _sclong_init(cells: object, data: GRNData, checkpoint: Path, settings: Settings) -> np.ndarray:
    """DeepSEM's initial A from the cosine similarity of the checkpoint's per-gene values across cells."""
    from sclong.tasks.grn.similarity import cosine_adjacency, deepsem_init
    from sclong.tasks.representations import gene_representations, load_model_cells

    model_cells = load_model_cells(checkpoint, cells, settings.device, settings.normalization, data.source)
    known = np.flatnonzero(pd.Index(data.genes).isin(model_cells.genes.index))
    if len(known) < len(data.genes):
        missing = np.delete(data.genes, known)
        log.warning("%s: %d of %d evaluated genes are not in the model's vocabulary (e.g. %s): no similarity, "
                    "DeepSEM's uniform initial row", data.source, len(missing), len(data.genes),
                    ", ".join(missing[:5]))  # fmt: skip
    vectors = np.zeros((cells.n_obs, len(data.genes)), dtype=np.float32)
    vectors[:, known] = gene_representations(
        model_cells, list(data.genes[known]), np.arange(cells.n_obs), "features", settings.embed_batch_size
    )
    return deepsem_init(cosine_adjacency(vectors))


def _deepsem_scores(method: str, seed: int, data: GRNData, settings: Settings) -> np.ndarray:
    """DeepSEM from the method's initial A; scores = A^T, pairs with A exactly 0 not predicted."""
    from sclong.tasks.grn import deepsem

    if model_variant(method):
        init = data.prior
    else:
        init = deepsem.uniform_init(len(data.genes), settings.deepsem.init, np.random.default_rng(seed))
    trained = deepsem.train(data.expression, init, settings.deepsem, seed, torch_device(settings.device))
    scores = np.ascontiguousarray(trained.T)
    scores[scores == 0] = np.nan
    return scores



def top_edges(scores: np.ndarray, data: GRNData, limit: int) -> pd.DataFrame:
    """The ``limit`` predicted TF -> gene pairs (no self-pairs) of the highest ``|score|``."""
    block = np.abs(scores[data.tfs]).astype(np.float64)
    block[np.arange(len(data.tfs)), data.tfs] = np.nan
    flat = np.where(np.isnan(block), -np.inf, block).ravel()
    count = min(limit, int(np.isfinite(flat).sum()))
    kth = np.partition(flat, len(flat) - count)[len(flat) - count] if count else np.inf
    candidates = np.flatnonzero(flat >= kth)
    order = candidates[np.lexsort((candidates, -flat[candidates]))][:count]
    rows, targets = np.divmod(order, len(data.genes))
    truth = set(zip(data.truth_source.tolist(), data.truth_target.tolist(), strict=True))
    regulators = data.tfs[rows]
    return pd.DataFrame({
        "tf": data.genes[regulators],
        "target": data.genes[targets],
        "score": scores[regulators, targets].astype(np.float64),
        "in_truth": [(r, t) in truth for r, t in zip(regulators.tolist(), targets.tolist(), strict=True)],
    })  # fmt: skip


TASK = GRNInference()
