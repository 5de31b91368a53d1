"""A simulated Perturb-seq screen of the demo tissue, written in GEARS' AnnData layout.

The tissue is the demo simulator's (:mod:`sclong.data.simulate`, same ``seed``: the network, gene bases,
cell-type programmes and batch effects the corpus was drawn from). Every cell is of cell type
``cell_type`` and batch 0. A CRISPR knock-down of a TF lowers its input by ``knockdown``; the change
propagates through the network by :func:`~sclong.data.simulate.activities`, so through ``tanh`` a double
knock-down is not the sum of its singles (synergy where two TFs share saturated targets, suppression
where one undoes the other).

* **Perturbed genes.** Of the network's TFs that are in the vocabulary with a GO annotation
  (``go == 1``), the ``n_perturbed`` whose noise-free single knock-down changes the log-rates most (L2
  over all genes); ``n_doubles`` distinct pairs of them drawn with ``default_rng([seed, cell_seed])``.
* **Measured genes.** The perturbed TFs, then the genes most changed by any single knock-down up to half
  of ``n_genes``, then the most expressed other genes (noise-free rate in the cell type), in gene-table order.
* **Cells.** ``control_cells`` unperturbed cells and ``cells_per_condition`` per single and double, drawn
  from ``default_rng([seed, cell_seed])``; counts over every gene of the tissue are normalised as GEARS'
  Norman (``normalize_total`` + ``log1p``), then the measured genes kept.

Layout: obs ``condition`` (``A+ctrl``, ``A+B``, ``ctrl``; gene symbols), ``cell_type``, and GEARS'
``dose_val``, ``control``, ``condition_name``; var index Ensembl IDs, ``gene_name`` symbols; uns GEARS'
``rank_genes_groups_cov_all`` (:mod:`sclong.tasks.perturbation.de`) and ``top_non_dropout_de_20``, plus the
ground-truth network (``grn_edges``) and the settings (``perturbseq``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from sclong.cli import run_module_main
from sclong.errors import ConfigError, InputError
from sclong.io.atomic import atomic_path
from sclong.settings import add_settings_argument, from_mapping, parse_settings

log = logging.getLogger(__name__)
KEY = "datasets.<perturbseq>"


@dataclass(frozen=True)
class ScreenParams:
    """A ``builtin: perturbseq`` dataset entry; ``tissue`` is the demo simulator's settings
    (``corpus.local_census.simulator``), which the rule adds."""

    tissue: object
    cell_seed: int
    cell_type: int
    n_perturbed: int
    n_doubles: int
    n_genes: int
    cells_per_condition: int
    control_cells: int
    knockdown: float

    def __post_init__(self) -> None:
        from sclong.data.simulate import SimulationParams

        if isinstance(self.tissue, Mapping):
            object.__setattr__(self, "tissue", from_mapping(SimulationParams, self.tissue, "simulator"))
        pairs = self.n_perturbed * (self.n_perturbed - 1) // 2
        if self.n_doubles > pairs:
            raise ConfigError(f"{KEY}.n_doubles", f"{self.n_doubles} doubles need more than {self.n_perturbed} genes")
        if not 0 <= self.cell_type < self.tissue.n_cell_types:
            raise ConfigError(f"{KEY}.cell_type", f"must be below the simulator's n_cell_types, got {self.cell_type}")


def eligible_tfs(network, vocabulary: pd.DataFrame) -> np.ndarray:
    """Positions (into ``network.tfs``) of the TFs in the vocabulary with a GO annotation."""
    annotated = set(vocabulary.loc[vocabulary["go"].astype(int) == 1, "ensembl_id"])
    return np.array([i for i, g in enumerate(network.genes[network.tfs]) if g in annotated], dtype=np.int64)


def log_rates(tissue, cell_type: int, shift: np.ndarray) -> np.ndarray:
    """Noise-free log-rates (rows of ``shift`` x genes) of the cell type under TF input shifts."""
    from sclong.data.simulate import activities

    inputs = tissue.programmes[cell_type][None, :] + shift
    return tissue.log_base + np.clip(activities(tissue.network, inputs), -6, 6)


def design(tissue, params: ScreenParams, vocabulary: pd.DataFrame) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Measured genes (positions, gene-table order) and the perturbations (tuples of TF positions)."""
    candidates = eligible_tfs(tissue.network, vocabulary)
    if len(candidates) < params.n_perturbed:
        raise ConfigError(f"{KEY}.n_perturbed", f"only {len(candidates)} TFs of the tissue are in the vocabulary "
                                                f"with a GO annotation, {params.n_perturbed} asked")  # fmt: skip
    n_tfs = len(tissue.network.tfs)
    shifts = -params.knockdown * np.eye(n_tfs)[candidates]
    base = log_rates(tissue, params.cell_type, np.zeros((1, n_tfs)))[0]
    change = log_rates(tissue, params.cell_type, shifts) - base
    strongest = np.argsort(-np.linalg.norm(change, axis=1), kind="stable")[: params.n_perturbed]
    perturbed = np.sort(candidates[strongest])
    rng = np.random.default_rng([params.tissue.seed, params.cell_seed])
    pairs = list(itertools.combinations(perturbed.tolist(), 2))
    doubles = [pairs[i] for i in np.sort(rng.choice(len(pairs), params.n_doubles, replace=False))]
    measured = _extend(tissue.network.tfs[perturbed], np.argsort(-np.abs(change[strongest]).max(axis=0),
                       kind="stable"), params.n_genes // 2)  # fmt: skip
    measured = _extend(measured, np.argsort(-base, kind="stable"), params.n_genes)
    return np.sort(measured), [(int(t),) for t in perturbed] + doubles


def _extend(chosen: np.ndarray, ranked: np.ndarray, size: int) -> np.ndarray:
    """``chosen`` followed by the first genes of ``ranked`` not in it, ``size`` genes in all."""
    others = ranked[~np.isin(ranked, chosen)]
    return np.concatenate([chosen, others[: max(size - len(chosen), 0)]]).astype(np.int64)


def simulate_screen(genes: list[str], symbols: Mapping[str, str], vocabulary: pd.DataFrame, params: ScreenParams):
    """The screen as an AnnData in GEARS' layout (see the module docstring)."""
    import anndata as ad
    import scanpy as sc

    from sclong.data.simulate import draw_tissue, sample_counts
    from sclong.tasks.perturbation.de import non_dropout_top, rank_genes
    from sclong.tasks.perturbation.reader import gears_dose

    tissue = draw_tissue(np.asarray(genes, dtype=object), params.tissue)
    measured, perturbations = design(tissue, params, vocabulary)
    network = tissue.network
    tf_symbol = [symbols[network.genes[network.tfs[i]]] for i in range(len(network.tfs))]
    names = ["ctrl"] + [f"{tf_symbol[p[0]]}+ctrl" if len(p) == 1 else f"{tf_symbol[p[0]]}+{tf_symbol[p[1]]}"
                        for p in perturbations]  # fmt: skip
    sizes = [params.control_cells] + [params.cells_per_condition] * len(perturbations)
    rng = np.random.default_rng([params.tissue.seed, params.cell_seed, 1])
    blocks = []
    for perturbation, size in zip([()] + perturbations, sizes, strict=True):
        shift = np.zeros((size, len(network.tfs)))
        shift[:, list(perturbation)] = -params.knockdown
        types, batches = np.full(size, params.cell_type), np.zeros(size, dtype=np.int64)
        blocks.append(sample_counts(tissue, types, batches, rng, shift))
    condition = np.repeat(names, sizes)
    cell_type = f"type{params.cell_type}"
    full = ad.AnnData(X=sp.vstack(blocks, format="csr"))
    sc.pp.normalize_total(full)
    sc.pp.log1p(full)
    ids = network.genes[measured]
    index = [f"cell{i}" for i in range(len(condition))]
    obs = pd.DataFrame({"condition": condition, "cell_type": cell_type}, index=index)
    obs["dose_val"] = [gears_dose(c) for c in condition]
    obs["control"] = (obs["condition"] == "ctrl").astype(int)
    obs["condition_name"] = obs["cell_type"] + "_" + obs["condition"] + "_" + obs["dose_val"]
    screen = ad.AnnData(X=sp.csr_matrix(full.X[:, measured], dtype=np.float32), obs=obs.astype("category"),
                        var=pd.DataFrame({"gene_name": [symbols[g] for g in ids]}, index=list(ids)))  # fmt: skip
    rankings = rank_genes(screen, names)
    control_mean = np.asarray(screen.X[condition == "ctrl"].mean(axis=0)).ravel()
    key = {c: f"{cell_type}_{c}_{gears_dose(c)}" for c in names[1:]}
    screen.uns["rank_genes_groups_cov_all"] = {key[c]: ids[rankings[c]].astype(str) for c in names[1:]}
    screen.uns["top_non_dropout_de_20"] = {
        key[c]: ids[non_dropout_top(rankings[c], np.asarray(screen.X[condition == c].mean(axis=0)).ravel(),
                                    control_mean)].astype(str)
        for c in names[1:]
    }  # fmt: skip
    screen.uns["grn_edges"] = network.edges()
    screen.uns["perturbseq"] = json.dumps({**asdict(params), "tissue": asdict(params.tissue)})
    return screen


def read_vocabulary(path: str | Path) -> pd.DataFrame:
    """The vocabulary TSV's ``ensembl_id``, ``symbol`` and ``go`` columns."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype={"ensembl_id": str, "symbol": str}, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise InputError(path, f"unreadable vocabulary ({err})") from None
    missing = [c for c in ("ensembl_id", "symbol", "go") if c not in frame.columns]
    if missing:
        raise InputError(path, f"vocabulary has no column {missing[0]!r}")
    return frame


def gene_symbols(path: str | Path) -> tuple[list[str], dict[str, str]]:
    """Ensembl IDs of the gene table (the simulator's genes) and their symbols (the ID when it has none)."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "symbol" not in frame.columns:
        raise InputError(path, "gene table has no 'symbol' column")
    from sclong.data.simulate import read_gene_ids

    ids = read_gene_ids(path)
    symbols = dict(zip(ids, frame["symbol"].where(frame["symbol"] != "", pd.Series(ids)), strict=True))
    duplicated = pd.Series(list(symbols.values()))
    if duplicated.duplicated().any():
        raise InputError(path, f"gene table repeats symbol {duplicated[duplicated.duplicated()].iloc[0]!r}")
    return ids, symbols


def main(argv: list[str] | None = None) -> int:
    """CLI: simulate the screen and write it as ``.h5ad``."""
    parser = argparse.ArgumentParser(prog="python -m sclong.data.perturbseq", description=__doc__.split("\n")[0])
    parser.add_argument("--genes", required=True, help="gene table TSV (the demo simulator's genes)")
    parser.add_argument("--vocabulary", required=True, help="vocabulary TSV (ensembl_id, symbol, go)")
    parser.add_argument("--out", required=True, help="output .h5ad")
    add_settings_argument(parser, "datasets.<name>")
    args = parser.parse_args(argv)
    params = from_mapping(ScreenParams, parse_settings(args.settings, KEY), KEY)
    genes, symbols = gene_symbols(args.genes)
    screen = simulate_screen(genes, symbols, read_vocabulary(args.vocabulary), params)
    with atomic_path(args.out) as tmp:
        screen.write_h5ad(tmp, compression="gzip")
    log.info("perturbseq: %d cells x %d genes, %d singles, %d doubles -> %s", screen.n_obs, screen.n_vars,
             params.n_perturbed, params.n_doubles, args.out)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
