"""Seeded simulation of raw UMI counts from a known gene regulatory network, cell types and batches.

Model (the tissue drawn from ``numpy.random.default_rng(seed)``, its cells from ``default_rng([seed, cell_seed])``):

* **Network.** ``n_tfs`` of the given genes are transcription factors in a fixed order. Each TF may be
  regulated by earlier TFs and every other gene by 1-3 TFs, so the network is a DAG. Edge weights are
  signed (70 % activating), magnitude uniform in [0.6, 1.5].
* **Cell types.** Each type switches on its own programme: a random subset of TFs gets a high input,
  the rest a low one. A cell's TF inputs are its type's programme plus Gaussian noise.
* **Regulation.** Activities propagate in topological order, ``z_g = input_g + sum_r w_rg tanh(z_r)``,
  and a gene's relative expression is ``base_g * exp(z_g)``.
* **Batches.** Each batch multiplies genes by its own log-normal factors and has its own library size.
* **Counts.** Negative binomial (gamma-Poisson) with a gene-wise dispersion around the mean
  ``library_size * relative expression / sum``.

The ground truth travels with the cells: ``obs`` holds ``cell_type`` and ``batch``, ``var['is_tf']``
marks TFs, ``uns['grn_edges']`` (and :func:`write_network`'s TSV) lists ``tf, target, weight``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from sclong.cli import run_module_main
from sclong.errors import InputError
from sclong.io.atomic import atomic_path
from sclong.settings import add_settings_argument, from_mapping, parse_settings

log = logging.getLogger(__name__)
CHUNK = 1024


@dataclass(frozen=True)
class SimulationParams:
    """Sizes and scales of a simulation (the scale defaults give ~600-1,500 detected genes per cell of 2,000).

    ``n_cells``, ``n_cell_types``, ``n_batches``, ``seed`` and ``cell_seed`` are config keys and have no
    default here. ``seed`` draws the tissue (network, gene bases and dispersions, cell-type programmes, batch
    effects); ``cell_seed`` draws the cells from it, so two simulations that differ only in ``cell_seed`` are
    independent samples of the same tissue (the demo's held-out task cells).
    """

    n_cells: int
    n_cell_types: int
    n_batches: int
    seed: int
    cell_seed: int
    n_tfs: int = 60
    library_size: float = 6000.0
    batch_library_spread: float = 0.5
    batch_gene_sd: float = 0.5
    dispersion: float = 4.0
    programme_fraction: float = 0.25


@dataclass(frozen=True)
class Network:
    """A regulatory DAG over ``genes``: ``tfs`` are the TFs' positions in ``genes`` in topological
    order and ``weights[i, g]`` is the signed edge from TF ``i`` to gene ``g`` (0: no edge)."""

    genes: np.ndarray
    tfs: np.ndarray
    weights: np.ndarray

    def edges(self) -> pd.DataFrame:
        """Edge list ``tf, target, weight`` (Ensembl IDs), TF order then target order."""
        tf_pos, target = np.nonzero(self.weights)
        return pd.DataFrame(
            {
                "tf": self.genes[self.tfs[tf_pos]],
                "target": self.genes[target],
                "weight": self.weights[tf_pos, target],
            }
        )


def simulate_network(genes: np.ndarray, n_tfs: int, rng: np.random.Generator) -> Network:
    """Random DAG: TF ``i`` is regulated by 0-2 TFs ``< i``, other genes by 1-3 TFs; weights signed."""
    n_genes = len(genes)
    if not 2 <= n_tfs < n_genes:
        raise ValueError(f"need 2 <= n_tfs < n_genes, got n_tfs={n_tfs}, n_genes={n_genes}")
    tfs = rng.choice(n_genes, n_tfs, replace=False)
    weights = np.zeros((n_tfs, n_genes))
    is_tf = np.zeros(n_genes, dtype=bool)
    is_tf[tfs] = True
    for i, tf in enumerate(tfs[1:], start=1):
        k = min(i, rng.integers(0, 3))
        weights[rng.choice(i, k, replace=False), tf] = 1
    for target in np.flatnonzero(~is_tf):
        weights[rng.choice(n_tfs, rng.integers(1, 4), replace=False), target] = 1
    mask = weights != 0
    sign = np.where(rng.random(mask.sum()) < 0.7, 1.0, -1.0)
    weights[mask] = sign * rng.uniform(0.6, 1.5, mask.sum())
    return Network(genes=np.asarray(genes), tfs=tfs, weights=weights)


def activities(network: Network, tf_inputs: np.ndarray) -> np.ndarray:
    """Propagate TF inputs (cells x n_tfs) through the DAG; returns activities z (cells x genes)."""
    n_tfs = len(network.tfs)
    tf_z = np.array(tf_inputs, dtype=float)
    tf_weights = network.weights[:, network.tfs]
    for i in range(1, n_tfs):
        tf_z[:, i] += np.tanh(tf_z[:, :i]) @ tf_weights[:i, i]
    z = np.tanh(tf_z) @ network.weights
    z[:, network.tfs] = tf_z
    return z


@dataclass(frozen=True)
class Tissue:
    """What ``SimulationParams.seed`` draws: the network, gene bases and dispersions, the cell-type
    programmes (cell types x TFs inputs) and the batch effects."""

    network: Network
    log_base: np.ndarray
    dispersion: np.ndarray
    programmes: np.ndarray
    batch_gene: np.ndarray
    batch_library: np.ndarray


def draw_tissue(genes: np.ndarray, params: SimulationParams) -> Tissue:
    """The tissue of ``params.seed`` over ``genes`` (unique IDs)."""
    if len(set(genes)) != len(genes):
        raise ValueError("gene IDs must be unique")
    rng = np.random.default_rng(params.seed)
    network = simulate_network(np.asarray(genes, dtype=object), params.n_tfs, rng)
    n_genes, n_tfs = len(genes), params.n_tfs
    log_base = rng.normal(0.0, 1.5, n_genes)
    dispersion = params.dispersion * rng.lognormal(0.0, 0.3, n_genes)
    on = rng.random((params.n_cell_types, n_tfs)) < params.programme_fraction
    programmes = np.where(on, rng.uniform(1.5, 2.5, on.shape), rng.uniform(-2.0, -1.0, on.shape))
    batch_gene = rng.lognormal(0.0, params.batch_gene_sd, (params.n_batches, n_genes))
    batch_library = params.library_size * np.exp(
        rng.uniform(-params.batch_library_spread, params.batch_library_spread, params.n_batches)
    )
    return Tissue(network, log_base, dispersion, programmes, batch_gene, batch_library)


def sample_counts(tissue: Tissue, types: np.ndarray, batches: np.ndarray, rng: np.random.Generator,
                  input_shift: np.ndarray | None = None) -> sp.csr_matrix:  # fmt: skip
    """Counts of cells of the given types and batches; ``input_shift`` (cells x TFs) is added to the TF
    inputs (a knock-down is a negative shift)."""
    inputs = tissue.programmes[types] + rng.normal(0.0, 0.5, (len(types), tissue.programmes.shape[1]))
    if input_shift is not None:
        inputs = inputs + input_shift
    z = np.clip(activities(tissue.network, inputs), -6, 6)
    rate = np.exp(tissue.log_base + z) * tissue.batch_gene[batches]
    library = tissue.batch_library[batches] * rng.lognormal(0.0, 0.3, len(types))
    mean = rate / rate.sum(axis=1, keepdims=True) * library[:, None]
    counts = rng.poisson(rng.gamma(tissue.dispersion, mean / tissue.dispersion))
    return sp.csr_matrix(counts.astype(np.float32))


def simulate(genes: list[str] | np.ndarray, params: SimulationParams) -> ad.AnnData:
    """Simulate raw counts (cells x ``genes``) with the ground truth in ``obs``, ``var`` and ``uns``."""
    genes = np.asarray(genes, dtype=object)
    tissue = draw_tissue(genes, params)
    network, n_genes = tissue.network, len(genes)
    rng = np.random.default_rng([params.seed, params.cell_seed])
    cell_type = rng.integers(0, params.n_cell_types, params.n_cells)
    batch = rng.integers(0, params.n_batches, params.n_cells)
    blocks = [
        sample_counts(tissue, cell_type[start : start + CHUNK], batch[start : start + CHUNK], rng)
        for start in range(0, params.n_cells, CHUNK)
    ]
    cells = ad.AnnData(
        X=sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, n_genes), dtype=np.float32),
        obs=pd.DataFrame(
            {
                "cell_type": pd.Categorical([f"type{t}" for t in cell_type]),
                "batch": pd.Categorical([f"batch{b}" for b in batch]),
            },
            index=[f"cell{i}" for i in range(params.n_cells)],
        ),
        var=pd.DataFrame({"is_tf": np.isin(np.arange(n_genes), network.tfs)}, index=list(genes)),
    )
    cells.uns["normalization"] = "raw"
    cells.uns["simulation"] = asdict(params)
    cells.uns["grn_edges"] = network.edges()
    return cells


def read_gene_ids(path: str | Path) -> list[str]:
    """Ensembl IDs from a TSV with an ``ensembl_id`` or ``ensembl_gene_id`` column (vocabulary or
    gene table)."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise InputError(path, f"unreadable gene list ({err})") from None
    column = next((c for c in ("ensembl_id", "ensembl_gene_id") if c in frame.columns), None)
    if column is None:
        raise InputError(path, "needs an 'ensembl_id' or 'ensembl_gene_id' column")
    ids = frame[column]
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise InputError(path, f"duplicate gene IDs, e.g. {duplicated.iloc[0]}")
    return ids.tolist()


def write_network(cells: ad.AnnData, path: str | Path) -> None:
    """Write the ground-truth edge list ``tf target weight`` as TSV (atomically)."""
    with atomic_path(path) as tmp:
        cells.uns["grn_edges"].to_csv(tmp, sep="\t", index=False)


def main(argv: list[str] | None = None) -> int:
    """CLI: simulate cells over the genes of a TSV and write an ``.h5ad`` (+ the network as TSV)."""
    parser = argparse.ArgumentParser(prog="python -m sclong.data.simulate", description=__doc__.split("\n")[0])
    parser.add_argument("--genes", required=True, help="TSV with an ensembl_id or ensembl_gene_id column")
    parser.add_argument("--n-genes", type=int, help="use only the first N genes of the list")
    parser.add_argument("--out", required=True, help="output .h5ad")
    parser.add_argument("--network", help="also write the ground-truth network here (TSV)")
    add_settings_argument(parser, "simulator")
    args = parser.parse_args(argv)
    params = from_mapping(SimulationParams, parse_settings(args.settings, "simulator"), "simulator")
    genes = read_gene_ids(args.genes)[: args.n_genes]
    cells = simulate(genes, params)
    with atomic_path(args.out) as tmp:
        cells.write_h5ad(tmp, compression="gzip")
    if args.network:
        write_network(cells, args.network)
    nnz = np.diff(cells.X.indptr)
    log.info(
        "simulated %d cells x %d genes (%d types, %d batches, %d edges); non-zeros per cell: median %d, min %d",
        cells.n_obs,
        cells.n_vars,
        params.n_cell_types,
        params.n_batches,
        len(cells.uns["grn_edges"]),
        np.median(nnz) if len(nnz) else 0,
        nnz.min() if len(nnz) else 0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
