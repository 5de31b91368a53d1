"""Demo L1000 data in the real formats: a GCT 1.3 file (written by cmapPy) and DeepCE's SMILES CSV.

Drugs are the real compounds of ``resources/demo/drugs.tsv`` (ids ``DEMO-<row>``); the effects are
simulated so that they follow the structure: each drug's effect on the genes is a fixed random linear
map of its Morgan fingerprint (2,048 bits, radius 2; similar molecules, similar effects), scaled per
cell line (a random gain) and by the dose through a Hill curve, dose / (dose + EC50) with a per-drug
EC50, plus Gaussian noise per replicate. Each (drug, cell line, dose) has ``replicates`` profiles,
and every cell line gets DMSO vehicle controls (``ctl_vehicle``, no dose) that DeepCE's filter drops.
Sample metadata use the LINCS names :func:`sclong.tasks.drugs.l1000.read_gct` reads.

Command line (the demo's ``dataset_folder_demo`` rule): ``python -m sclong.tasks.drugs.l1000_simulate --genes
--vocabulary --drugs --settings JSON --out DIR`` writes the ``l1000`` file set (:mod:`sclong.data.file_sets`)
into ``DIR``, with the first ``n_drugs`` drugs of the table. No landmark list is committed with the demo, so
its "landmarks" are the first 978 genes of the vocabulary (their symbols): the demo's scLong gene vectors
cover every one; real L1000 data bring the real landmarks and their coverage is reported by the task.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.cli import run_module_main
from sclong.errors import InputError
from sclong.io.atomic import atomic_path
from sclong.settings import add_settings_argument, from_mapping, parse_settings
from sclong.tasks.drugs.l1000 import DOSES_UM, N_LANDMARKS, TIME_H
from sclong.tasks.drugs.molecules import fingerprints

log = logging.getLogger(__name__)
KEY = "datasets.l1000"
FINGERPRINT_BITS, FINGERPRINT_RADIUS = 2048, 2
CONTROLS_PER_CELL = 2


@dataclass(frozen=True)
class L1000Simulation:
    """What to simulate (all required: the demo config will give them)."""

    cell_lines: tuple[str, ...]
    replicates: int
    effect_scale: float
    noise: float
    seed: int


@dataclass(frozen=True)
class DemoSettings:
    """The demo dataset entry (minus ``builtin``): ``n_drugs``, how many drugs of the table to use, and the
    :class:`L1000Simulation` settings."""

    n_drugs: int
    cell_lines: list[str]
    replicates: int
    effect_scale: float
    noise: float
    seed: int

    def simulation(self) -> L1000Simulation:
        """The simulation settings."""
        return L1000Simulation(tuple(self.cell_lines), self.replicates, self.effect_scale, self.noise, self.seed)


def simulate_l1000(
    drugs: pd.DataFrame, landmarks: Sequence[str], params: L1000Simulation, gct: Path, smiles_csv: Path
) -> None:
    """Write the demo GCT (landmarks x samples) and SMILES CSV for ``drugs`` (columns name, smiles)."""
    from cmapPy.pandasGEXpress import GCToo, write_gct

    rng = np.random.default_rng(params.seed)
    ids = [f"DEMO-{i:03d}" for i in range(len(drugs))]
    bits = fingerprints(dict(zip(ids, drugs["smiles"], strict=True)), FINGERPRINT_BITS, FINGERPRINT_RADIUS)
    if len(bits) != len(ids):
        raise ValueError(f"{len(ids) - len(bits)} demo drugs have invalid SMILES")
    projection = rng.normal(size=(FINGERPRINT_BITS, len(landmarks))) / np.sqrt(FINGERPRINT_BITS)
    effects = params.effect_scale * bits.to_numpy(dtype=float) @ projection
    ec50 = np.exp(rng.uniform(np.log(0.1), np.log(3.0), size=len(ids)))
    gains = dict(zip(params.cell_lines, rng.uniform(0.5, 1.5, size=len(params.cell_lines)), strict=True))
    columns, values = [], []
    for cell in params.cell_lines:
        for control in range(CONTROLS_PER_CELL):
            columns.append(_sample(f"DEMO_{cell}_24H:DMSO:{control}", "DMSO", "ctl_vehicle", cell, np.nan))
            values.append(rng.normal(scale=params.noise, size=len(landmarks)))
        for d, drug in enumerate(ids):
            for dose in DOSES_UM:
                mean = gains[cell] * dose / (dose + ec50[d]) * effects[d]
                for replicate in range(params.replicates):
                    columns.append(_sample(f"DEMO_{cell}_24H:{drug}:{dose:g}:{replicate}", drug, "trt_cp", cell, dose))
                    values.append(mean + rng.normal(scale=params.noise, size=len(landmarks)))
    samples = pd.DataFrame(columns).set_index("cid")
    genes = pd.DataFrame(
        {"pr_gene_symbol": list(landmarks), "pr_is_lmark": 1}, index=[f"g{i}" for i in range(len(landmarks))]
    )
    genes.index.name, samples.columns.name, genes.columns.name = "rid", "chd", "rhd"
    data = pd.DataFrame(np.array(values, dtype=np.float32).T, index=genes.index, columns=samples.index)
    data.index.name, data.columns.name = "rid", "cid"
    with atomic_path(gct) as tmp:
        write_gct.write(GCToo.GCToo(data, row_metadata_df=genes, col_metadata_df=samples), str(tmp))
    with atomic_path(smiles_csv) as tmp:
        pd.DataFrame({"pert_id": ids, "smiles": drugs["smiles"].to_numpy()}).to_csv(tmp, header=False, index=False)


def _sample(cid: str, pert_id: str, pert_type: str, cell: str, dose: float) -> dict[str, object]:
    """One sample's LINCS metadata."""
    return {
        "cid": cid,
        "pert_id": pert_id,
        "pert_type": pert_type,
        "cell_id": cell,
        "pert_dose": dose,
        "pert_dose_unit": "um" if np.isfinite(dose) else np.nan,
        "pert_time": TIME_H,
        "pert_time_unit": "h",
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: write the demo ``l1000`` dataset folder (module docstring)."""
    from sclong.data.file_sets import FILE_SETS
    from sclong.knowledge.vocabulary import read_vocabulary

    prog = "python -m sclong.tasks.drugs.l1000_simulate"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("--genes", required=True, help="gene table TSV (unused: landmarks come from the vocabulary)")
    parser.add_argument("--vocabulary", required=True, help="vocabulary TSV (its first 978 symbols are the landmarks)")
    parser.add_argument("--drugs", required=True, help="drug table TSV (name, smiles)")
    parser.add_argument("--out", required=True, help="output folder")
    add_settings_argument(parser, KEY)
    args = parser.parse_args(argv)
    params = from_mapping(DemoSettings, parse_settings(args.settings, KEY), KEY)
    symbols = [s for s in read_vocabulary(args.vocabulary)["symbol"] if s][:N_LANDMARKS]
    if len(symbols) < N_LANDMARKS:
        raise InputError(args.vocabulary, f"has {len(symbols)} symbols, fewer than the {N_LANDMARKS} demo landmarks")
    drugs = pd.read_csv(args.drugs, sep="\t").iloc[: params.n_drugs]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = FILE_SETS["l1000"]
    simulate_l1000(drugs, symbols, params.simulation(), out / files["signatures"], out / files["smiles"])
    log.info("l1000 demo: %d drugs x %d cell lines -> %s", len(drugs), len(params.cell_lines), out)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
