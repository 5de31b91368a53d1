"""Demo L1000 data in the real formats: a GCT 1.3 file (written by cmapPy) and DeepCE's SMILES CSV.

Drugs are the real compounds of ``resources/demo/drugs.tsv`` (ids ``DEMO-<row>``); the effects are
simulated so that they follow the structure: each drug's effect on the genes is a fixed random linear
map of its Morgan fingerprint (2,048 bits, radius 2; similar molecules, similar effects), scaled per
cell line (a random gain) and by the dose through a Hill curve, dose / (dose + EC50) with a per-drug
EC50, plus Gaussian noise per replicate. Each (drug, cell line, dose) has ``replicates`` profiles,
and every cell line gets DMSO vehicle controls (``ctl_vehicle``, no dose) that DeepCE's filter drops.
Sample metadata use the LINCS names :func:`sclong.tasks.drugs.l1000.read_gct` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.io.atomic import atomic_path
from sclong.tasks.drugs.l1000 import DOSES_UM, TIME_H
from sclong.tasks.drugs.molecules import fingerprints

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
