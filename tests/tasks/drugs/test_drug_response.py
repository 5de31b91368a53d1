"""The drug-response task end to end on a tiny simulated screen: deepcdr, linear and a model variant write the
Pearson metric and their artifacts; the test pairs are predicted once, after training; IC50 ids matching no
cell line are one InputError line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sclong.errors import InputError
from sclong.knowledge.genes import read_gene_table
from sclong.tasks.drug_response import TASK
from sclong.tasks.drugs.drug_response_demo import DemoParams, main, simulate_drug_response
from tests.embed.conftest import DEMO_GENES, tiny_model, write_vocabulary

DEMO_DRUGS = Path(__file__).resolve().parents[3] / "resources" / "demo" / "drugs.tsv"
N_GENES = 120
SETTINGS = {
    "dataset": "gdsc", "methods": ["sclong", "deepcdr", "linear"], "expression_kind": "log",
    "test_fraction": 0.1, "validation_fraction": 0.1, "embed_batch_size": 8,
    "network": {"gcn_units": [16], "batch_size": 64, "learning_rate": 1.0e-3, "max_epochs": 2, "patience": 2},
    "linear": {"alphas": [1.0, 100.0], "fingerprint_bits": 256, "fingerprint_radius": 2},
    "device": "cpu", "normalization": "paper",
}  # fmt: skip



@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 types x 5 cell lines x the demo drugs, on the first demo genes."""
    genes = read_gene_table(DEMO_GENES).frame["display_symbol"].iloc[:N_GENES].tolist()
    folder = tmp_path_factory.mktemp("gdsc")
    params = DemoParams(n_types=3, lines_per_type=5, cells_per_line=4, missing=0.2, seed=0)
    simulate_drug_response(genes, pd.read_csv(DEMO_DRUGS, sep="\t"), params, folder)
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random scLong over the demo gene table's genes."""
    from sclong.model import save_model

    table = read_gene_table(DEMO_GENES)
    directory = tmp_path_factory.mktemp("drug_response_ckpt")
    vocabulary = write_vocabulary(table.frame, directory / "vocabulary.tsv")
    save_model(directory / "ckpt", tiny_model(len(table.frame)), vocabulary=vocabulary, gene_table=DEMO_GENES)
    return directory / "ckpt"


@pytest.mark.parametrize("method", ["deepcdr", "linear", "sclong"])
def test_runs_end_to_end(method: str, dataset: Path, checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sclong.tasks.drugs.cell_lines as cell_lines

    calls = []
    original = cell_lines.cell_line_values
    monkeypatch.setattr(cell_lines, "cell_line_values", lambda *a, **k: calls.append(1) or original(*a, **k))
    inputs = {"dataset": dataset, "checkpoint": checkpoint} if method == "sclong" else {"dataset": dataset}
    settings = TASK.settings_type(**SETTINGS)
    data = TASK.load(method, inputs, settings)
    results = [TASK.run(method, seed, data, settings) for seed in (0, 1)]
    assert len(calls) == (method == "sclong")  # the scLong values are computed once per job, for every seed
    for result in results:
        metrics = {m.metric: m.value for m in result.metrics}
        assert -1 <= metrics["pearson"] <= 1
        predictions = result.artifacts["predictions"]
        assert len(predictions) == metrics["n_test_pairs"] > 0 and np.isfinite(predictions["predicted"]).all()
        assert ("alphas" if method == "linear" else "training") in result.artifacts
        assert ("coverage" in result.artifacts) == (method == "sclong")
    if method == "sclong":
        coverage = results[0].artifacts["coverage"]
        assert len(coverage) == N_GENES and (coverage["status"] == "used").all()
        assert data.features.shape[1] == N_GENES
    first, second = (result.artifacts["predictions"][["cell_line", "drug_id"]] for result in results)
    assert not first.equals(second)  # the seeds split differently


def test_network_predicts_the_test_pairs_once_after_training(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    import sclong.tasks.drugs.deepcdr as deepcdr

    events: list[tuple[str, int]] = []
    predict, step = deepcdr.predict, torch.optim.Adam.step

    def recorded_predict(model, batches, device):  # noqa: ANN001, ANN202
        predicted, measured = predict(model, batches, device)
        events.append(("predict", len(measured)))
        return predicted, measured

    def recorded_step(self, *args, **kwargs):  # noqa: ANN001, ANN202
        events.append(("step", 0))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(deepcdr, "predict", recorded_predict)
    monkeypatch.setattr(torch.optim.Adam, "step", recorded_step)
    settings = TASK.settings_type(**{**SETTINGS, "network": {**SETTINGS["network"], "max_epochs": 3, "patience": 3}})
    data = TASK.load("deepcdr", {"dataset": dataset}, settings)
    result = TASK.run("deepcdr", 0, data, settings)
    n_test = len(result.artifacts["predictions"])
    predicts = [i for i, (kind, _) in enumerate(events) if kind == "predict"]
    assert len(predicts) == 3 + 1  # one validation pass per epoch, then the test pairs
    assert events[-1] == ("predict", n_test) and all(kind == "predict" for kind, _ in events[predicts[-2] :])
    validation = {n for kind, n in events[:-1] if kind == "predict"}
    assert len(validation) == 1 and len(result.artifacts["training"]) == 3


def test_linear_predicts_the_test_pairs_once_after_choosing_alpha(dataset: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from sklearn.pipeline import Pipeline

    events: list[tuple[str, int]] = []
    fit, predict = Pipeline.fit, Pipeline.predict
    monkeypatch.setattr(Pipeline, "fit", lambda self, x, y, **k: events.append(("fit", len(x))) or fit(self, x, y, **k))
    monkeypatch.setattr(Pipeline, "predict", lambda self, x: events.append(("predict", len(x))) or predict(self, x))
    settings = TASK.settings_type(**SETTINGS)
    result = TASK.run("linear", 0, TASK.load("linear", {"dataset": dataset}, settings), settings)
    n_alphas = len(SETTINGS["linear"]["alphas"])
    assert [kind for kind, _ in events] == ["fit", "predict"] * n_alphas + ["predict"]
    assert events[-1] == ("predict", len(result.artifacts["predictions"]))
    assert result.artifacts["alphas"]["chosen"].sum() == 1


def test_ic50_ids_matching_no_cell_line_are_one_line(dataset: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for path in dataset.iterdir():
        (bad / path.name).write_bytes(path.read_bytes())
    ic50 = pd.read_csv(bad / "GDSC_IC50.csv", index_col=0)
    ic50.columns = [f"CVCL_{i:04d}" for i in range(ic50.shape[1])]
    ic50.to_csv(bad / "GDSC_IC50.csv", na_rep="NA")
    with pytest.raises(InputError) as error:
        TASK.load("deepcdr", {"dataset": bad}, TASK.settings_type(**SETTINGS))
    message = str(error.value)
    assert "\n" not in message and "GDSC_IC50.csv" in message and "cell-line id" in message


def test_demo_command_line_writes_the_folder(tmp_path: Path) -> None:
    settings = json.dumps({"n_types": 2, "lines_per_type": 3, "cells_per_line": 2, "missing": 0.1, "seed": 1})
    assert main(["--genes", str(DEMO_GENES), "--vocabulary", str(tmp_path / "unread.tsv"), "--drugs",
                 str(DEMO_DRUGS), "--settings", settings, "--out", str(tmp_path / "gdsc")]) == 0  # fmt: skip
    from sclong.data.file_sets import folder_files

    assert len(folder_files(tmp_path / "gdsc", "deepcdr")) == 5
