"""The demo L1000 simulator writes the real formats, which the real readers read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sclong.tasks.drugs import l1000
from sclong.tasks.drugs.l1000_simulate import L1000Simulation, simulate_l1000

REPO = Path(__file__).resolve().parents[3]


def test_demo_gct_and_smiles_read_back(shared_data, tmp_path):
    landmarks = list(l1000.read_gct(shared_data / "l1000" / "a375_24h_plate.gct.gz").values.columns)
    drugs = pd.read_csv(REPO / "resources" / "demo" / "drugs.tsv", sep="\t").iloc[:3]
    params = L1000Simulation(cell_lines=("A375", "MCF7"), replicates=2, effect_scale=2.0, noise=0.02, seed=0)
    gct, smiles_csv = tmp_path / "demo.gct", tmp_path / "drugs_smiles.csv"
    simulate_l1000(drugs, landmarks, params, gct, smiles_csv)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.gct", "drugs_smiles.csv"]

    signatures = l1000.read_gct(gct, landmarks=landmarks)
    assert signatures.values.shape == (2 * 2 + 3 * 2 * 6 * 2, 978)
    profiles = l1000.reduce_replicates(l1000.deepce_filter(signatures, "demo"), "demo")
    assert len(profiles.meta) == 3 * 2 * 6 and set(profiles.meta["replicates"]) == {2}
    smiles = l1000.read_smiles(smiles_csv)
    assert list(smiles.values()) == drugs["smiles"].tolist() and set(profiles.meta["pert_id"]) == set(smiles)

    strength = profiles.values.abs().mean(axis=1).groupby(profiles.meta["dose_um"]).mean()
    assert strength[10.0] > 2 * strength[0.04]  # the Hill curve: higher dose, larger effect
    again = tmp_path / "again.gct"
    simulate_l1000(drugs, landmarks, params, again, tmp_path / "again.csv")
    np.testing.assert_array_equal(l1000.read_gct(again).values.to_numpy(), signatures.values.to_numpy())
