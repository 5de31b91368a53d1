"""Chemical perturbation end to end on tiny simulated L1000 data: DeepCE and one scLong variant, the test split
predicted once after training, the landmark check, and the landmarks' gene vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sclong.errors import InputError
from sclong.knowledge.genes import read_gene_table
from sclong.settings import from_mapping
from sclong.tasks.chemical_perturbation import KEY, TASK, Settings
from sclong.tasks.drugs import chem_train
from sclong.tasks.drugs.gene_vectors import gene2vec_vectors, sclong_vectors
from sclong.tasks.drugs.l1000 import read_gct
from sclong.tasks.drugs.l1000_metrics import METRICS
from sclong.tasks.drugs.l1000_simulate import L1000Simulation, simulate_l1000
from tests.embed.conftest import DEMO_GENES, tiny_model, write_vocabulary

REPO = Path(__file__).resolve().parents[3]
SETTINGS = {
    "dataset": "l1000", "methods": ["sclong", "deepce"], "split": {"train": 2, "validation": 1, "test": 1},
    "epochs": 2, "batch_size": 8, "learning_rate": 2e-4, "selection": "pearson", "dropout": 0.0, "width": 16,
    "feedforward_dim": 16, "hidden_dim": 16, "deepce_width": 16, "device": "cpu", "normalization": "paper",
}  # fmt: skip


@pytest.fixture(scope="module")
def landmarks(shared_data: Path) -> list[str]:
    """The 978 real landmark symbols (all are demo genes)."""
    return list(read_gct(shared_data / "l1000" / "a375_24h_plate.gct.gz").values.columns)


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny random scLong checkpoint over the 2,000 demo genes, its vocabulary and a Gene2vec matrix."""
    from sclong.model import save_model

    table = read_gene_table(DEMO_GENES)
    directory = tmp_path_factory.mktemp("chem")
    vocabulary = write_vocabulary(table.frame, directory / "vocabulary.tsv")
    checkpoint = save_model(directory / "ckpt", tiny_model(len(table.frame)), vocabulary=vocabulary,
                            gene_table=DEMO_GENES)  # fmt: skip
    matrix = directory / "gene2vec.npy"
    np.save(matrix, np.random.default_rng(0).normal(size=(len(table.frame), 8)).astype(np.float32))
    return {"checkpoint": checkpoint, "vocabulary": vocabulary, "gene2vec": matrix, "gene_table": DEMO_GENES}


def write_dataset(folder: Path, genes: list[str]) -> Path:
    """4 demo drugs x 1 cell line x 6 doses, one replicate each, in the ``l1000`` file set."""
    drugs = pd.read_csv(REPO / "resources" / "demo" / "drugs.tsv", sep="\t").iloc[:4]
    params = L1000Simulation(cell_lines=("MCF7",), replicates=1, effect_scale=2.0, noise=0.05, seed=0)
    folder.mkdir()
    simulate_l1000(drugs, genes, params, folder / "signatures.gct", folder / "drugs_smiles.csv")
    return folder


@pytest.fixture(scope="module")
def dataset(landmarks: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("l1000") / "l1000", landmarks)


@pytest.mark.parametrize("method", ["deepce", "sclong"])
def test_end_to_end_test_predicted_once_after_training(method, dataset, knowledge, monkeypatch) -> None:
    settings = from_mapping(Settings, SETTINGS, KEY)
    inputs = {"dataset": dataset, **{name: knowledge[name] for name in TASK.inputs(method) if name != "dataset"}}
    data = TASK.load(method, inputs, settings)
    assert data.gene_vectors.shape[0] == 978 and len(data.signatures.meta) == 4 * 6

    calls = []
    real_predict = chem_train.predict
    monkeypatch.setattr(chem_train, "predict", lambda model, profiles, *args: calls.append(profiles) or
                        real_predict(model, profiles, *args))  # fmt: skip
    result = TASK.run(method, 0, data, settings)

    split = result.artifacts["split"]
    assert split.groupby("pert_id")["part"].nunique().max() == 1  # drug-disjoint
    test_rows = int((split["part"] == "test").sum())
    assert [len(p) for p in calls] == [6, 6, test_rows] and calls[-1].values.shape == (test_rows, 978)
    validation = data.signatures.values.to_numpy()[(split["part"] == "validation").to_numpy()]
    assert all(np.array_equal(p.values, validation) for p in calls[:-1])  # epochs select on validation only
    assert [m.metric for m in result.metrics] == list(METRICS)
    assert all(m.value is not None and m.scenario == "all" for m in result.metrics)
    history = result.artifacts["training"]
    assert list(history["epoch"]) == [1, 2] and history["selected"].sum() == 1

    if method == "deepce":
        return  # its 978 x 978 gene self-attention is the slow part: determinism is checked on the variant
    again = TASK.run(method, 0, data, settings)
    assert [m.value for m in again.metrics] == pytest.approx([m.value for m in result.metrics])


def test_gct_without_the_landmarks_is_one_input_error(landmarks, knowledge, tmp_path) -> None:
    folder = write_dataset(tmp_path / "short", landmarks[:977])
    settings = from_mapping(Settings, SETTINGS, KEY)
    with pytest.raises(InputError) as error:
        TASK.load(
            "deepce",
            {"dataset": folder, **{k: knowledge[k] for k in ("gene2vec", "vocabulary", "gene_table")}},
            settings,
        )
    message = str(error.value)
    assert "977 genes, not the 978 L1000 landmark genes" in message and "\n" not in message


def test_gene_vectors_are_the_gene_encoder_rows(landmarks, knowledge) -> None:
    import torch

    from sclong.model.checkpoint import load_checkpoint

    genes = [*landmarks[:10], "NOTAGENE1"]
    vectors = sclong_vectors(knowledge["checkpoint"], genes)
    assert vectors.vectors.shape == (11, 16) and vectors.missing == ["NOTAGENE1"]
    loaded = load_checkpoint(knowledge["checkpoint"])
    with torch.no_grad():
        table = loaded.model.gene_encoder().numpy()
    rows = loaded.vocabulary.set_index("symbol").loc[landmarks[:10], "index"].to_numpy()
    np.testing.assert_allclose(vectors.vectors[:10], table[rows], rtol=1e-6)
    assert not vectors.vectors[10].any()

    full = gene2vec_vectors(knowledge["gene2vec"], knowledge["vocabulary"], DEMO_GENES, landmarks)
    assert full.vectors.shape == (978, 8) and full.missing == []
    with pytest.raises(InputError, match="none of the 2 landmark genes"):
        sclong_vectors(knowledge["checkpoint"], ["NOTAGENE1", "NOTAGENE2"])


def test_demo_simulator_command_writes_the_l1000_file_set(knowledge, tmp_path) -> None:
    import json

    from sclong.tasks.drugs.l1000_catalog import read_l1000_folder
    from sclong.tasks.drugs.l1000_simulate import main

    settings = {"n_drugs": 3, "cell_lines": ["A375"], "replicates": 1, "effect_scale": 1.0, "noise": 0.1, "seed": 0}
    drugs = REPO / "resources" / "demo" / "drugs.tsv"
    args = ["--genes", str(DEMO_GENES), "--vocabulary", str(knowledge["vocabulary"]), "--drugs", str(drugs),
            "--settings", json.dumps(settings), "--out", str(tmp_path / "demo")]  # fmt: skip
    assert main(args) == 0
    signatures, smiles, _ = read_l1000_folder(tmp_path / "demo")
    vocabulary = pd.read_csv(knowledge["vocabulary"], sep="\t")
    assert list(signatures.values.columns) == vocabulary["symbol"].iloc[:978].tolist() and len(smiles) == 3
