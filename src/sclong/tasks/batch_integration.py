"""Zero-shot batch integration (Fig. 6): how well each method's cell embedding mixes the batches.

Cells: every method is scored on the same cells, those of the dataset with at least :data:`MIN_GENES`
genes above zero in ``X`` (scanpy's ``filter_cells(min_genes=10)``, as Kedzierska et al. 2023 and
scLong's own zero-shot script filter). Batches are ``obs[batch_key]``, labels ``obs[label_key]``;
missing values in either are an error.

Methods (every one but ``scvi`` is deterministic and runs once):

* model variants (``sclong``, ...): ``obsm['X_sclong']`` of the embedding file (the dataset embedded by
  :mod:`sclong.embedding`, cells x (gene_dim + 1)).
* Baselines start from Kedzierska et al.'s preprocessing: the cells above, then genes above zero in at
  least :data:`MIN_CELLS` of them (``filter_genes(min_cells=10)``), then, by ``baseline_input``:
  ``x``: ``X`` as stored, raw counts normalised (``normalize_total(1e4)`` + ``log1p``) and log1p values
  kept (other values are refused); ``counts``: the counts (below) normalised; ``x_renormalized``:
  ``normalize_total(1e4)`` + ``log1p`` applied to ``X`` whatever it holds (their notebook as written,
  which on scib's pancreas normalises its log values a second time).
* ``raw``: that log-normalised matrix of every kept gene, dense, as the embedding. The paper defines Raw
  only as "the raw expression values without batch integration" and HVG as the same values of 2,000
  genes, so Raw is HVG's input without the gene selection; no PCA (the paper names none and HVG has
  none either).
* ``hvg``: its ``n_hvg`` highly variable genes (``highly_variable_genes(flavor='seurat')``), dense.
* ``scvi``: scvi-tools' SCVI on the counts of the kept cells and genes, with the batch key,
  ``n_layers`` and ``n_latent`` of ``scvi``, a negative binomial likelihood, seeded with
  ``scvi.settings.seed = seed``, ``max_epochs`` (null: scvi-tools' default, min(400, 20000 / cells x
  400)); the embedding is ``get_latent_representation()``. It runs on CUDA when ``device`` is ``cuda``,
  or ``auto`` and CUDA is usable.

Counts: ``layers[counts_layer]``, or ``X`` when ``counts_layer`` is null. They must be finite and
non-negative, and integers unless ``allow_non_integer_counts`` (scib's pancreas ``counts`` layer holds
RPKM for one batch).

Metric ``batch_asw`` (scenario ``all``): ``scib_metrics.silhouette_batch`` with scib's defaults
(Euclidean, nearest cluster, rescaled): per cell type, the silhouette of its cells against their batch
labels, ``1 - |s|``, averaged over its cells, then over the cell types. Cell types with a single batch
(or with every cell in its own batch) are skipped, as scib does; the note counts them. With none left,
or an embedding that is one vector for every cell (which would score a perfect 1), the value is empty.

Artifact ``coordinates``: cell, pc1, pc2, batch, label of at most :data:`MAX_COORDINATE_CELLS` scored
cells (evenly spaced in dataset order, the same cells for every method): the first two principal
components of their embedding, for a figure panel.
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
from sclong.settings import from_mapping
from sclong.tasks.base import InputName, Metric, RunResult, Task, model_variant
from sclong.tasks.device import torch_device

if TYPE_CHECKING:
    import anndata as ad
    import scipy.sparse as sp

log = logging.getLogger(__name__)

KEY = "tasks.batch_integration"
EMBEDDING_KEY = "X_sclong"  # sclong.embedding.OBSM_KEY (that module imports torch)
MIN_GENES = 10
MIN_CELLS = 10
TARGET_SUM = 1e4
MAX_COORDINATE_CELLS = 5000
SCVI_LIKELIHOOD = "nb"
BaselineInput = Literal["x", "counts", "x_renormalized"]


@dataclass(frozen=True)
class ScviSettings:
    """The ``tasks.batch_integration.scvi`` block."""

    n_layers: int
    n_latent: int
    max_epochs: int | None


@dataclass(frozen=True)
class Settings:
    """The ``tasks.batch_integration`` config block, plus ``device`` and ``normalization`` the rule injects."""

    dataset: str
    batch_key: str
    label_key: str
    counts_layer: str | None
    allow_non_integer_counts: bool
    baseline_input: BaselineInput
    methods: list[str]
    n_hvg: int
    scvi: ScviSettings
    device: Literal["auto", "cpu", "cuda"]
    normalization: Literal["paper", "scanpy"]

    def __post_init__(self) -> None:
        if isinstance(self.scvi, Mapping):
            object.__setattr__(self, "scvi", from_mapping(ScviSettings, self.scvi, f"{KEY}.scvi"))


@dataclass
class IntegrationData:
    """What every seed of a method shares: the scored cells and the method's input.

    ``matrix`` is the embedding (dense, cells x features) for the deterministic methods and the counts
    (CSR, cells x kept genes) for ``scvi``.
    """

    cells: np.ndarray
    labels: np.ndarray
    batches: np.ndarray
    matrix: np.ndarray | sp.csr_matrix


def batch_asw(embedding: np.ndarray, labels: np.ndarray, batches: np.ndarray) -> Metric:
    """``batch_asw`` of an embedding (scib's definition, see the module docstring), or None with a note."""
    from scib_metrics import silhouette_batch

    embedding = np.asarray(embedding, dtype=np.float32)
    labels, batches = np.asarray(labels).astype(str), np.asarray(batches).astype(str)
    groups = pd.DataFrame({"label": labels, "batch": batches}).groupby("label", sort=True)
    sizes = groups.size()
    n_batches = groups["batch"].nunique()
    skipped = sorted(sizes.index[(n_batches == 1) | (n_batches == sizes)])
    scored = len(sizes) - len(skipped)
    note = "" if not skipped else (f"{len(skipped)} of {len(sizes)} cell types skipped (one batch, or one cell "
                                   f"per batch): {', '.join(skipped)}")  # fmt: skip
    log.info("batch ASW over %d cell types of %d cells (%d skipped)", scored, len(labels), len(skipped))
    if not scored:
        return Metric("all", "batch_asw", None, f"no cell type can be scored: {note}")
    if embedding.shape[0] < 2 or not np.ptp(embedding, axis=0).any():
        return Metric("all", "batch_asw", None, "the embedding is one vector for every cell (it would score 1)")
    value = float(silhouette_batch(embedding, labels, batches, rescale=True))
    return Metric("all", "batch_asw", value, note)


def coordinates(embedding: np.ndarray, data: IntegrationData, seed: int) -> pd.DataFrame:
    """First two principal components of at most :data:`MAX_COORDINATE_CELLS` evenly spaced cells."""
    from sklearn.decomposition import PCA

    n_cells = len(data.cells)
    rows = np.unique(np.linspace(0, n_cells - 1, min(n_cells, MAX_COORDINATE_CELLS)).round().astype(int))
    points = np.asarray(embedding, dtype=np.float64)[rows]
    pcs = np.full((len(rows), 2), np.nan)
    k = min(2, *points.shape)
    if k:
        pcs[:, :k] = PCA(n_components=k, svd_solver="randomized", random_state=seed).fit_transform(points)
    return pd.DataFrame({"cell": data.cells[rows], "pc1": pcs[:, 0], "pc2": pcs[:, 1],
                         "batch": data.batches[rows], "label": data.labels[rows]})  # fmt: skip


def read_cells(path: Path, settings: Settings) -> tuple[ad.AnnData, np.ndarray, np.ndarray, np.ndarray]:
    """(AnnData, rows kept by the cell filter, their batches, their labels) of the dataset at ``path``."""
    import anndata as ad
    import scipy.sparse as sp

    try:
        adata = ad.read_h5ad(path)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(path, f"cannot read the .h5ad ({err})") from None
    columns = {}
    for name in ("batch_key", "label_key"):
        column = getattr(settings, name)
        if column not in adata.obs.columns:
            raise InputError(path, f"obs has no column {column!r} ({KEY}.{name}; columns: "
                                   f"{', '.join(map(str, adata.obs.columns)) or 'none'})")  # fmt: skip
        values = adata.obs[column]
        if values.isna().any():
            raise InputError(path, f"obs[{column!r}] ({KEY}.{name}) has {int(values.isna().sum())} missing values")
        columns[name] = values.astype(str).to_numpy()
    batches = columns["batch_key"]
    detected = np.asarray((sp.csr_matrix(adata.X) > 0).sum(axis=1)).ravel()
    rows = np.flatnonzero(detected >= MIN_GENES)
    if not len(rows):
        raise InputError(path, f"no cell has {MIN_GENES} or more detected genes")
    log.info("%s: %d of %d cells have >= %d detected genes; %d batches, %d cell types", path, len(rows),
             adata.n_obs, MIN_GENES, len(set(batches[rows])), len(set(columns["label_key"][rows])))  # fmt: skip
    return adata, rows, batches[rows], columns["label_key"][rows]


def counts_matrix(adata: ad.AnnData, settings: Settings, source: str | Path) -> sp.csr_matrix:
    """The counts (CSR float32): ``layers[counts_layer]`` or ``X``, checked as the module docstring says."""
    import scipy.sparse as sp

    from sclong.data.normalize import detect_kind

    layer = settings.counts_layer
    if layer is not None and layer not in adata.layers:
        raise InputError(source, f"has no layer {layer!r} ({KEY}.counts_layer; layers: "
                                 f"{', '.join(adata.layers.keys()) or 'none'})")  # fmt: skip
    where = "X" if layer is None else f"layers[{layer!r}]"
    counts = sp.csr_matrix(adata.X if layer is None else adata.layers[layer], dtype=np.float32)
    if detect_kind(counts.data, f"{source} {where}") != "raw":
        if not settings.allow_non_integer_counts:
            raise InputError(source, f"{where} does not hold raw counts (non-integer values): set {KEY}.counts_layer "
                                     f"to a layer of counts, or {KEY}.allow_non_integer_counts")  # fmt: skip
        fraction = float(np.mean(np.rint(counts.data) != counts.data))
        log.warning("%s %s: %.2f%% of the non-zero counts are not integers (allowed)", source, where, 100 * fraction)
    return counts


def log_normalized(
    adata: ad.AnnData, rows: np.ndarray, genes: np.ndarray, settings: Settings, source: str | Path
) -> sp.csr_matrix:
    """The baselines' log-normalised matrix (CSR) of the kept cells and genes (``baseline_input``)."""
    import scipy.sparse as sp

    from sclong.data.normalize import detect_kind, normalize

    if settings.baseline_input == "counts":
        return normalize(counts_matrix(adata, settings, source)[rows][:, genes], "raw", "scanpy")
    matrix = sp.csr_matrix(adata.X, dtype=np.float32)[rows][:, genes]
    kind = detect_kind(matrix.data, f"{source} X")
    if kind == "unknown":
        raise InputError(source, f"X holds neither raw counts nor log1p values (max {matrix.data.max():g}); "
                                 f"set {KEY}.baseline_input to counts")  # fmt: skip
    log.info("%s: X holds %s values (%s)", source, kind, settings.baseline_input)
    return normalize(matrix, "raw" if settings.baseline_input == "x_renormalized" else kind, "scanpy")


def highly_variable(matrix: sp.csr_matrix, n_hvg: int) -> np.ndarray:
    """Column indices of the ``n_hvg`` highly variable genes of log-normalised ``matrix`` (flavor seurat)."""
    import anndata as ad
    import scanpy as sc

    if n_hvg > matrix.shape[1]:
        raise ConfigError(f"{KEY}.n_hvg", f"asks for {n_hvg} genes but {matrix.shape[1]} pass the gene filter")
    cells = ad.AnnData(matrix)
    sc.pp.highly_variable_genes(cells, flavor="seurat", n_top_genes=n_hvg)
    return np.flatnonzero(cells.var["highly_variable"].to_numpy())


def model_embedding(adata: ad.AnnData, rows: np.ndarray, source: str | Path) -> np.ndarray:
    """``obsm['X_sclong']`` of the kept cells, checked to be finite."""
    if EMBEDDING_KEY not in adata.obsm:
        raise InputError(source, f"has no obsm[{EMBEDDING_KEY!r}]: not an embedding written by sclong embed")
    embedding = np.asarray(adata.obsm[EMBEDDING_KEY], dtype=np.float32)[rows]
    if not np.isfinite(embedding).all():
        raise InputError(source, f"obsm[{EMBEDDING_KEY!r}] holds NaN or infinite values")
    return embedding


def scvi_latent(data: IntegrationData, seed: int, settings: Settings) -> np.ndarray:
    """scVI's latent representation of the counts in ``data`` (see the module docstring)."""
    import anndata as ad
    import scvi

    gpu = torch_device(settings.device) == "cuda"
    scvi.settings.seed = seed
    cells = ad.AnnData(data.matrix.copy(), obs=pd.DataFrame({"batch": pd.Categorical(data.batches)},
                                                            index=pd.Index(data.cells).astype(str)))  # fmt: skip
    scvi.model.SCVI.setup_anndata(cells, batch_key="batch")
    model = scvi.model.SCVI(cells, n_layers=settings.scvi.n_layers, n_latent=settings.scvi.n_latent,
                            gene_likelihood=SCVI_LIKELIHOOD)  # fmt: skip
    model.train(max_epochs=settings.scvi.max_epochs, accelerator="gpu" if gpu else "cpu", devices=1,
                enable_progress_bar=False)  # fmt: skip
    return np.asarray(model.get_latent_representation(), dtype=np.float32)


class BatchIntegration(Task[Settings, IntegrationData]):
    """Batch ASW of the model variants' cell vectors and of the Raw, HVG and scVI baselines."""

    name = "batch_integration"
    baselines = ("raw", "hvg", "scvi")
    settings_type = Settings

    def seeded(self, method: str) -> bool:
        """Only scVI's result depends on the seed."""
        return method == "scvi"

    def inputs(self, method: str) -> tuple[InputName, ...]:
        """Model variants read their embedding file, the baselines the dataset."""
        return ("embedding",) if model_variant(method) else ("dataset",)

    def load(self, method: str, inputs: Mapping[str, Path], settings: Settings) -> IntegrationData:
        """Read the cells and prepare the method's input (every deterministic embedding is made here)."""
        import scipy.sparse as sp

        path = inputs["embedding" if model_variant(method) else "dataset"]
        adata, rows, batches, labels = read_cells(path, settings)
        cells = adata.obs_names.to_numpy(dtype=str)[rows]
        if model_variant(method):
            return IntegrationData(cells, labels, batches, model_embedding(adata, rows, path))
        detected = np.asarray((sp.csr_matrix(adata.X)[rows] > 0).sum(axis=0)).ravel()
        genes = np.flatnonzero(detected >= MIN_CELLS)
        log.info("%s: %d of %d genes are detected in >= %d kept cells", path, len(genes), adata.n_vars, MIN_CELLS)
        if method == "scvi":
            matrix = counts_matrix(adata, settings, path)[rows][:, genes]
        else:
            matrix = log_normalized(adata, rows, genes, settings, path)
            if method == "hvg":
                matrix = matrix[:, highly_variable(matrix, settings.n_hvg)]
            matrix = matrix.toarray()
        return IntegrationData(cells, labels, batches, matrix)

    def run(self, method: str, seed: int, data: IntegrationData, settings: Settings) -> RunResult:
        """Batch ASW of the method's embedding and its 2-d coordinates."""
        embedding = scvi_latent(data, seed, settings) if method == "scvi" else data.matrix
        return RunResult([batch_asw(embedding, data.labels, data.batches)],
                         {"coordinates": coordinates(embedding, data, seed)})  # fmt: skip


TASK = BatchIntegration()
