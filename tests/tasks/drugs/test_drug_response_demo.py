"""The simulated drug-response screen is read back by the paper-scale readers: every file parses, the pairs
cover the measured pairs, the split holds each type, and the simulated effects carry signal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sclong.knowledge.genes import read_gene_table
from sclong.tasks.drugs.drug_response_data import (
    build_pairs,
    pearson,
    read_annotations,
    read_drug_list,
    read_expression,
    read_ic50,
    read_smiles,
    split_pairs,
)
from sclong.tasks.drugs.drug_response_demo import DemoParams, simulate_drug_response
from tests.embed.conftest import DEMO_GENES

DEMO_DRUGS = Path(__file__).resolve().parents[3] / "resources" / "demo" / "drugs.tsv"


def test_simulated_screen_reads_back(tmp_path: Path) -> None:
    genes = read_gene_table(DEMO_GENES).frame["display_symbol"].iloc[:200].tolist()
    drugs = pd.read_csv(DEMO_DRUGS, sep="\t")
    params = DemoParams(n_types=4, lines_per_type=6, cells_per_line=10, missing=0.2, seed=0)
    paths = simulate_drug_response(genes, drugs, params, tmp_path)
    ic50 = read_ic50(paths["ic50"])
    expression = read_expression(paths["expression"])
    cancer_types = read_annotations(paths["annotations"])
    cids, smiles = read_drug_list(paths["drug_list"]), read_smiles(paths["smiles"])
    assert ic50.shape == (len(drugs), 24) and expression.shape == (24, 200)
    assert list(expression.columns) == genes and 0 < ic50.isna().to_numpy().mean() < 0.3
    tpm_totals = (np.exp2(expression.to_numpy()) - 1).sum(axis=1)
    np.testing.assert_allclose(tpm_totals, 1e6, rtol=1e-3)
    pairs = build_pairs(ic50, cids, smiles, cancer_types, expression.index, "GDSC_IC50.csv")
    assert len(pairs.table) == ic50.notna().to_numpy().sum() and pairs.dropped["pairs"].sum() == 0
    split = split_pairs(pairs.table, seed=0, test_fraction=0.05, validation_fraction=0.05)
    assert split.excluded == 0 and len(split.train) + len(split.validation) + len(split.test) == len(pairs.table)
    table = pairs.table
    drug_mean = table.groupby("drug_id")["ln_ic50"].transform("mean").to_numpy()
    assert pearson(table["ln_ic50"].to_numpy(), drug_mean) > 0.5  # drugs differ, as in GDSC
    again = simulate_drug_response(genes, drugs, params, tmp_path / "again")
    assert paths["ic50"].read_text() == again["ic50"].read_text()
