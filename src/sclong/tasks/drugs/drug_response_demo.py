"""Simulated drug-response data in DeepCDR's file formats, for the offline demo (read by the same readers).

Cell lines: the demo simulator's cells (:func:`sclong.data.simulate.simulate`, one cell type per cancer
type, the first ``n_types`` of :data:`~sclong.tasks.drugs.drug_response_data.TCGA_TYPES`) summed in groups
of ``cells_per_line`` cells of one type into bulk profiles, scaled to transcripts per million over the
genes and written as ``log2(TPM + 1)`` (the CCLE expression's kind). Ids ``ACH-9xxxxx`` (not DepMap's).

Drugs: the rows of ``resources/demo/drugs.tsv`` (real SMILES), GDSC-style ids ``1..n`` and demo keys
``990001...`` in the drug list's ``PubCHEM`` column (not PubChem CIDs: the SMILES file pairs them with
the SMILES).

Effects: ln IC50 of (drug d, cell line c) = ``mu_d + sum_g w_dg z_cg + t_{d,type(c)} + noise``, with
``mu_d ~ N(2, 1.5)``, ``z`` the standardised log expression, ``w_d`` non-zero on 5 genes per drug
(``N(0, 0.6)``), a drug x type effect ``N(0, 0.5)`` and noise ``N(0, 0.3)``; a fraction ``missing`` of
the pairs is ``NA`` (unmeasured), as in GDSC.

Command line (the workflow's demo dataset rule): ``python -m sclong.tasks.drugs.drug_response_demo --genes
GENE_TABLE --vocabulary VOCABULARY --drugs DRUGS_TSV --settings JSON --out DIR``; the settings are
:class:`DemoParams`, the genes every gene of the gene table (its display symbols). The vocabulary is not
read: the cell lines are measured on the gene table's genes whatever the model's vocabulary holds (the
task reports the coverage).
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
from sclong.tasks.drugs.drug_response_data import TCGA_TYPES

FILES = {
    "ic50": "GDSC_IC50.csv",
    "drug_list": "drug_list.csv",
    "smiles": "drugs_pubchem_smiles.txt",
    "annotations": "Cell_lines_annotations.txt",
    "expression": "genomic_expression.csv",
}
DRUG_LIST_COLUMNS = ("drug_id", "Name", "Synonyms", "Targets", "Target pathway", "PubCHEM", "Sample Size", "Count")
log = logging.getLogger(__name__)

KEY = "datasets.<name>"
DEMO_KEY = 990_000
GENES_PER_DRUG = 5


@dataclass(frozen=True)
class DemoParams:
    """Size and seed of the simulated screen (effects in the module doc)."""

    n_types: int
    lines_per_type: int
    cells_per_line: int
    missing: float
    seed: int


def simulate_drug_response(genes: list[str], drugs: pd.DataFrame, params: DemoParams, out: Path) -> dict[str, Path]:
    """Write the five files of :data:`FILES` into ``out`` (each atomically) and return their paths.
    ``genes``: symbols or Ensembl ids; ``drugs``: columns ``name``, ``smiles``."""
    from sclong.data.simulate import SimulationParams, simulate

    if not 1 <= params.n_types <= len(TCGA_TYPES):
        raise ValueError(f"n_types must be in 1..{len(TCGA_TYPES)}, got {params.n_types}")
    n_lines = params.n_types * params.lines_per_type
    cells = simulate(genes, SimulationParams(n_cells=n_lines * params.cells_per_line * 2, n_cell_types=params.n_types,
                                             n_batches=1, seed=params.seed, cell_seed=1))  # fmt: skip
    counts = np.asarray(cells.X.todense() if hasattr(cells.X, "todense") else cells.X, dtype=np.float64)
    kinds = cells.obs["cell_type"].astype(str).to_numpy()
    profiles, types = [], []
    for position, kind in enumerate(sorted(set(kinds))):
        rows = np.flatnonzero(kinds == kind)[: params.lines_per_type * params.cells_per_line]
        if len(rows) < params.lines_per_type * params.cells_per_line:
            raise ValueError(f"the simulation has too few cells of type {kind} for {params.lines_per_type} lines")
        profiles.append(counts[rows].reshape(params.lines_per_type, params.cells_per_line, -1).sum(axis=1))
        types += [TCGA_TYPES[position]] * params.lines_per_type
    bulk = np.concatenate(profiles)
    logged = np.log2(bulk / bulk.sum(axis=1, keepdims=True) * 1e6 + 1)
    lines = [f"ACH-9{i:05d}" for i in range(n_lines)]
    expression = pd.DataFrame(np.round(logged, 4), index=lines, columns=genes)
    ic50 = _ic50(expression.to_numpy(), np.asarray(types), len(drugs), params)
    ids = [str(i + 1) for i in range(len(drugs))]
    keys = [str(DEMO_KEY + i + 1) for i in range(len(drugs))]
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / file for name, file in FILES.items()}
    frame = pd.DataFrame(ic50, index=[f"GDSC:{i}" for i in ids], columns=lines)
    with atomic_path(paths["ic50"]) as tmp:
        frame.to_csv(tmp, na_rep="NA", float_format="%.6f")
    drug_list = pd.DataFrame({"drug_id": ids, "Name": drugs["name"].to_numpy(), "Synonyms": "", "Targets": "",
                              "Target pathway": "", "PubCHEM": keys, "Sample Size": n_lines,
                              "Count": len(drugs)})  # fmt: skip
    with atomic_path(paths["drug_list"]) as tmp:
        drug_list[list(DRUG_LIST_COLUMNS)].to_csv(tmp, index=False)
    with atomic_path(paths["smiles"]) as tmp:
        pd.DataFrame({"cid": keys, "smiles": drugs["smiles"].to_numpy()}).to_csv(
            tmp, sep="\t", header=False, index=False
        )
    annotations = pd.DataFrame({"CCLE_ID": [f"DEMO{i}_{t}" for i, t in enumerate(types)], "depMapID": lines,
                                "Name": [f"DEMO{i}" for i in range(n_lines)], "tcga_code": types})  # fmt: skip
    with atomic_path(paths["annotations"]) as tmp:
        annotations.to_csv(tmp, sep="\t", index=False)
    with atomic_path(paths["expression"]) as tmp:
        expression.to_csv(tmp)
    return paths


def _ic50(logged: np.ndarray, types: np.ndarray, n_drugs: int, params: DemoParams) -> np.ndarray:
    """Drugs x cell lines ln IC50 with ``NaN`` where unmeasured (effects in the module doc)."""
    rng = np.random.default_rng([params.seed, 2])
    z = (logged - logged.mean(axis=0)) / np.where(logged.std(axis=0) > 0, logged.std(axis=0), 1.0)
    weights = np.zeros((n_drugs, logged.shape[1]))
    for drug in range(n_drugs):
        chosen = rng.choice(logged.shape[1], GENES_PER_DRUG, replace=False)
        weights[drug, chosen] = rng.normal(0.0, 0.6, GENES_PER_DRUG)
    type_index = pd.Index(sorted(set(types))).get_indexer(types)
    by_type = rng.normal(0.0, 0.5, (n_drugs, type_index.max() + 1))
    values = rng.normal(2.0, 1.5, (n_drugs, 1)) + weights @ z.T + by_type[:, type_index]
    values += rng.normal(0.0, 0.3, values.shape)
    values[rng.random(values.shape) < params.missing] = np.nan
    return values


def read_drugs(path: Path) -> pd.DataFrame:
    """The demo drug table (tab-separated, columns ``name`` and ``smiles``)."""
    try:
        drugs = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise InputError(path, f"cannot read it as a drug table ({type(err).__name__}: {err})") from None
    missing = {"name", "smiles"} - set(drugs.columns)
    if missing:
        raise InputError(path, f"no column(s) {sorted(missing)} (columns: {', '.join(drugs.columns)})")
    return drugs


def main(argv: list[str] | None = None) -> int:
    """CLI: simulate the screen into a folder of DeepCDR's files (:data:`FILES`)."""
    from sclong.knowledge.genes import read_gene_table

    parser = argparse.ArgumentParser(prog="python -m sclong.tasks.drugs.drug_response_demo",
                                     description=__doc__.split("\n")[0])  # fmt: skip
    parser.add_argument("--genes", required=True, type=Path, help="gene table TSV (the cell lines' genes)")
    parser.add_argument("--vocabulary", required=True, type=Path, help="vocabulary TSV (not read; see the module doc)")
    parser.add_argument("--drugs", required=True, type=Path, help="drug table TSV (name, smiles)")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    add_settings_argument(parser, KEY)
    args = parser.parse_args(argv)
    params = from_mapping(DemoParams, parse_settings(args.settings, KEY), KEY)
    genes = read_gene_table(args.genes).frame["display_symbol"].astype(str).tolist()
    simulate_drug_response(genes, read_drugs(args.drugs), params, args.out)
    log.info("drug response demo: %d types x %d cell lines, %d genes -> %s", params.n_types, params.lines_per_type,
             len(genes), args.out)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
