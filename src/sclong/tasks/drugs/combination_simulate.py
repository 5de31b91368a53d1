"""A simulated drug-combination screen in DeepDDS' file formats, for the offline demo.

Drugs are real compounds (``resources/demo/drugs.tsv``: name, smiles, source); cell lines, expression and
synergy labels are simulated:

* ``n_programs`` latent programs: cell line c has factors u_c ~ N(0, I), gene g loadings w_g ~ N(0, I) and a
  baseline b_g ~ N(1.5, 1); TPM = exp(b_g + 0.5 u_c . w_g) - 1, floored at 0 and rounded to 2 decimals
  (DeepDDS' files hold TPM with 2 decimals).
* Drug d has a latent vector v_d ~ N(0, I) and a main effect a_d ~ N(0, 1); the synergy score of
  (d1, d2, c) is a_d1 + a_d2 + (v_d1 * v_d2) . u_c + N(0, noise^2), label 1 when it is above the median
  score of its set (balanced classes), so labels depend on each drug (as drug-level effects dominate real
  screens) and, through the interaction, on the cell line's expression programs.
* Training ("O'Neil") and independent ("AstraZeneca") sets have disjoint cell lines; the independent set
  draws its pairs from all drugs (so some are new), the training set from the first ``n_train_drugs`` of a
  seeded shuffle. Pairs are distinct (drug 1, drug 2, cell) triples, drug 1 != drug 2.

:func:`write_screen` writes DeepDDS' layout (``labels_0_10.csv``, ``new_cell_features_954.csv``,
``smiles.csv``, ``independent_set/independent_input.csv``, ``independent_set/independent_cell_features_954.csv``)
into one directory, atomically; the task reads it with the readers of :mod:`combination_data`. The
transcript row holds ``unknown`` (there are no transcripts; the readers keep but never use it).

CLI (``python -m sclong.tasks.drugs.combination_simulate``, the workflow's ``dataset_folder_demo`` rule):
``--settings`` holds exactly the fields of :class:`ComboSimParams`; the genes are :data:`N_GENES` (DeepDDS'
954) Ensembl IDs of the gene table, those of the vocabulary first, each group in the table's order (so
every gene a checkpoint can know is used before any it cannot); a table with fewer genes gives them all.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.cli import run_module_main
from sclong.errors import InputError
from sclong.io.atomic import atomic_path
from sclong.settings import add_settings_argument, from_mapping, parse_settings
from sclong.tasks.drugs.combination_data import GENE_ROW, LABEL_COLUMNS, TRANSCRIPT_ROW

TRAIN_LABELS, TRAIN_CELLS, SMILES_FILE = "labels_0_10.csv", "new_cell_features_954.csv", "smiles.csv"
TEST_LABELS = "independent_set/independent_input.csv"
TEST_CELLS = "independent_set/independent_cell_features_954.csv"
N_GENES = 954
KEY = "datasets.<name>"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ComboSimParams:
    """Sizes and noise of a simulated screen (module docstring)."""

    n_train_cells: int
    n_test_cells: int
    n_train_drugs: int
    n_train_pairs: int
    n_test_pairs: int
    n_programs: int
    noise: float
    seed: int


@dataclass(frozen=True)
class SimulatedScreen:
    """Both sets of a simulated screen: labels (SMILES pairs) and cell lines x genes TPM."""

    train_labels: pd.DataFrame
    train_cells: pd.DataFrame
    test_labels: pd.DataFrame
    test_cells: pd.DataFrame
    smiles: pd.Series  # drug name -> SMILES


def simulate_screen(drugs: pd.DataFrame, genes: list[str], params: ComboSimParams) -> SimulatedScreen:
    """Simulate both sets from ``drugs`` (columns name, smiles) and gene ids ``genes`` (rules in the module doc)."""
    rng = np.random.default_rng(params.seed)
    n_cells = params.n_train_cells + params.n_test_cells
    factors = rng.normal(size=(n_cells, params.n_programs))
    loadings = rng.normal(size=(params.n_programs, len(genes)))
    baseline = rng.normal(1.5, 1.0, size=len(genes))
    tpm = np.round(np.maximum(np.exp(baseline + 0.5 * factors @ loadings) - 1, 0), 2)
    names = [f"SIM{i + 1:02d}" for i in range(n_cells)]
    cells = pd.DataFrame(tpm.astype(np.float32), index=pd.Index(names, name="cell"), columns=pd.Index(genes))
    order = rng.permutation(len(drugs))
    smiles = drugs["smiles"].to_numpy()[order]
    latent = rng.normal(size=(len(drugs), params.n_programs))
    effect = rng.normal(size=len(drugs))
    train_cells = np.arange(params.n_train_cells)
    test_cells = np.arange(params.n_train_cells, n_cells)
    train = _pairs(rng, np.arange(params.n_train_drugs), train_cells, params.n_train_pairs)
    test = _pairs(rng, np.arange(len(drugs)), test_cells, params.n_test_pairs)
    frames = []
    for d1, d2, c in (train, test):
        interaction = np.einsum("ik,ik,ik->i", latent[d1], latent[d2], factors[c])
        score = effect[d1] + effect[d2] + interaction + rng.normal(0, params.noise, len(c))
        frames.append(pd.DataFrame({"drug1": smiles[d1], "drug2": smiles[d2], "cell": np.array(names)[c],
                                    "label": (score > np.median(score)).astype(np.int8)}))  # fmt: skip
    return SimulatedScreen(
        train_labels=frames[0],
        train_cells=cells.iloc[train_cells],
        test_labels=frames[1],
        test_cells=cells.iloc[test_cells],
        smiles=pd.Series(drugs["smiles"].to_numpy(), index=pd.Index(drugs["name"], name="name"), name="smile"),
    )


def _pairs(
    rng: np.random.Generator, drugs: np.ndarray, cells: np.ndarray, n_pairs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n_pairs`` distinct (drug 1, drug 2, cell) triples with two different drugs."""
    d1, d2 = np.triu_indices(len(drugs), k=1)
    n_combos = len(d1) * len(cells)
    if n_pairs > n_combos:
        raise ValueError(f"{n_pairs} pairs asked from {n_combos} distinct (drug pair, cell) triples")
    chosen = rng.choice(n_combos, size=n_pairs, replace=False)
    pair, cell = np.divmod(chosen, len(cells))
    swap = rng.random(n_pairs) < 0.5  # either drug may come first, as in DeepDDS' files
    first, second = np.where(swap, d2[pair], d1[pair]), np.where(swap, d1[pair], d2[pair])
    return drugs[first], drugs[second], cells[cell]


def cell_feature_rows(cells: pd.DataFrame) -> pd.DataFrame:
    """DeepDDS' cell-feature table: a ``gene_id`` row, a ``transcript_id`` row (``unknown``), one row per cell."""
    header = [[GENE_ROW, *cells.columns], [TRANSCRIPT_ROW, *["unknown"] * cells.shape[1]]]
    body = [[cell, *(f"{v:.2f}" for v in row)] for cell, row in zip(cells.index, cells.to_numpy(), strict=True)]
    return pd.DataFrame(header + body)


def write_screen(screen: SimulatedScreen, folder: str | Path) -> None:
    """Write ``screen`` in DeepDDS' layout into ``folder`` (replaced as a whole, atomically)."""
    with atomic_path(folder, directory=True) as tmp:
        (tmp / "independent_set").mkdir()
        screen.train_labels.loc[:, list(LABEL_COLUMNS)].to_csv(tmp / TRAIN_LABELS, index=False)
        screen.test_labels.loc[:, list(LABEL_COLUMNS)].to_csv(tmp / TEST_LABELS, index=False)
        cell_feature_rows(screen.train_cells).to_csv(tmp / TRAIN_CELLS, header=False, index=False)
        cell_feature_rows(screen.test_cells).to_csv(tmp / TEST_CELLS, header=False, index=False)
        screen.smiles.rename_axis("name").reset_index().to_csv(tmp / SMILES_FILE, index=False)


def feature_genes(table_ids: list[str], vocabulary_ids: list[str], n_genes: int) -> list[str]:
    """``n_genes`` gene-table IDs, the vocabulary's first (each group in table order; module docstring)."""
    known = set(vocabulary_ids)
    ordered = [g for g in table_ids if g in known] + [g for g in table_ids if g not in known]
    return ordered[:n_genes]


def main(argv: list[str] | None = None) -> int:
    """CLI: simulate a screen and write it in DeepDDS' layout."""
    from sclong.data.simulate import read_gene_ids

    parser = argparse.ArgumentParser(prog="python -m sclong.tasks.drugs.combination_simulate",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--genes", required=True, help="gene table TSV (ensembl_gene_id column)")
    parser.add_argument("--vocabulary", required=True, help="vocabulary TSV (ensembl_id column)")
    parser.add_argument("--drugs", required=True, help="drugs TSV: name, smiles, source")
    parser.add_argument("--out", required=True, help="output folder")
    add_settings_argument(parser, KEY)
    args = parser.parse_args(argv)
    params = from_mapping(ComboSimParams, parse_settings(args.settings, KEY), KEY)
    try:
        drugs = pd.read_csv(args.drugs, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise InputError(args.drugs, f"unreadable drugs table ({err})") from None
    if not {"name", "smiles"} <= set(drugs.columns):
        raise InputError(args.drugs, "drugs table needs the columns name, smiles")
    genes = feature_genes(read_gene_ids(args.genes), read_gene_ids(args.vocabulary), N_GENES)
    try:
        screen = simulate_screen(drugs, genes, params)
    except ValueError as err:
        raise InputError(args.drugs, str(err)) from None
    write_screen(screen, args.out)
    log.info("drug combination demo: %d training and %d independent pairs, %d genes -> %s", len(screen.train_labels),
             len(screen.test_labels), len(genes), args.out)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
