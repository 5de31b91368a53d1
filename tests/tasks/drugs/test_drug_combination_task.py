"""The drug-combination task end to end: tiny simulated screens for every kind of method (one model variant
on a tiny checkpoint), the real O'Neil files with held-out cell lines as the test set, the independent set
predicted once after training, and the refusals of inputs that cannot select or score."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sclong.data.simulate import read_gene_ids
from sclong.errors import ConfigError, InputError
from sclong.knowledge.genes import read_gene_table
from sclong.settings import from_mapping
from sclong.tasks import drug_combination as task_module
from sclong.tasks import get_task
from sclong.tasks.drugs import combination_train
from sclong.tasks.drugs.combination_simulate import ComboSimParams, simulate_screen, write_screen
from sclong.tasks.run import run_method
from tests.embed.conftest import DEMO_GENES, tiny_model, write_vocabulary

REPO = Path(__file__).resolve().parents[3]
TASK = get_task("drug_combination")
N_GENES, N_VOCABULARY = 100, 80  # feature genes; the first 80 of them are in the tiny checkpoint's vocabulary
TEST_CELLS = ["A2780", "HT29", "NCIH460", "SKOV3", "T47D"]  # real cell lines held out as the independent set
NET = {"epochs": 2, "batch_size": 64, "lr": 1e-3, "warmup_epochs": 0, "final_lr": 1e-3, "eval_every": 1, "dropout": 0.2}


def settings(**changes: object) -> dict:
    """Tiny settings of the task (the rule's device and normalization included)."""
    base = {"dataset": "oneil", "methods": ["sclong", "deepdds", "random_forest"], "validation_fraction": 0.2,
            "validation_by": "pairs", "missing_genes": "zero", "embed_batch_size": 4, "deepdds": NET, "model": NET,
            "random_forest": {"n_trees": 10, "n_bits": 64, "radius": 2}, "device": "cpu",
            "normalization": "paper"}  # fmt: skip
    return {**base, **changes}



@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random scLong whose vocabulary holds the first 80 of the 100 feature genes."""
    from sclong.model import save_model

    frame = read_gene_table(DEMO_GENES).frame.iloc[:N_VOCABULARY]
    directory = tmp_path_factory.mktemp("combo_ckpt")
    vocabulary = write_vocabulary(frame, directory / "vocabulary.tsv")
    return save_model(directory / "ckpt", tiny_model(len(frame)), vocabulary=vocabulary, gene_table=DEMO_GENES)


@pytest.fixture(scope="module")
def screen_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    drugs = pd.read_csv(REPO / "resources" / "demo" / "drugs.tsv", sep="\t")
    genes = read_gene_ids(DEMO_GENES)[:N_GENES]
    params = ComboSimParams(n_train_cells=4, n_test_cells=2, n_train_drugs=12, n_train_pairs=120, n_test_pairs=40,
                            n_programs=2, noise=0.1, seed=0)  # fmt: skip
    folder = tmp_path_factory.mktemp("combo") / "oneil"
    write_screen(simulate_screen(drugs, genes, params), folder)
    return folder


def run(method: str, folder: Path, out: Path, checkpoint: Path | None = None, seeds=(0,), **changes) -> Path:
    inputs = {"dataset": folder} | ({"checkpoint": checkpoint} if checkpoint else {})
    run_method(TASK, method, list(seeds), json.dumps(settings(**changes)), inputs, out / method, "demo")
    return out / method


@pytest.mark.parametrize("method", ["deepdds", "random_forest", "sclong"])
def test_end_to_end(method: str, screen_dir: Path, checkpoint: Path, tmp_path: Path) -> None:
    out = run(method, screen_dir, tmp_path, checkpoint if method == "sclong" else None)
    metrics = pd.read_csv(out / "seed0" / "metrics.tsv", sep="\t")
    assert metrics[["scenario", "metric"]].values.tolist() == [["all", "auroc"]]
    assert 0.0 <= metrics["value"].iloc[0] <= 1.0
    predictions = pd.read_csv(out / "seed0" / "predictions.tsv", sep="\t")
    independent = pd.read_csv(screen_dir / "independent_set" / "independent_input.csv")
    assert len(predictions) == 40 and predictions["label"].tolist() == independent["label"].tolist()
    artifacts = {p.name for p in (out / "seed0").iterdir()}
    assert ("training.tsv" in artifacts) == (method != "random_forest")
    provenance = json.loads((out / "seed0" / "provenance.json").read_text())
    assert len(provenance["inputs"]["dataset"]["sha256"]) == 64  # the folder's files, hashed
    if method != "random_forest":
        training = pd.read_csv(out / "seed0" / "training.tsv", sep="\t")
        assert training["epoch"].tolist() == [1, 2] and training["selected"].sum() == 1
    if method == "sclong":
        coverage = pd.read_csv(out / "seed0" / "coverage.tsv", sep="\t")
        assert len(coverage) == N_GENES and (coverage["status"] == "used").sum() == N_VOCABULARY


def test_same_seed_same_result_and_values_computed_once(
    screen_dir: Path, checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    original = task_module._sclong_inputs
    monkeypatch.setattr(task_module, "_sclong_inputs", lambda *a: calls.append(a[3]) or original(*a))
    out = run("wo_go", screen_dir, tmp_path, checkpoint, seeds=(0, 1))
    assert len(calls) == 2  # the training and the independent cell lines, once each for both seeds
    again = run("wo_go", screen_dir, tmp_path / "again", checkpoint, seeds=(0,))
    first, second = (pd.read_csv(d / "seed0" / "predictions.tsv", sep="\t") for d in (out, again))
    pd.testing.assert_frame_equal(first, second)


def test_independent_set_predicted_once_after_training(
    screen_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every evaluation pass is recorded by its size: validation (24 pairs) after each epoch, the
    independent set (40 pairs) exactly once and last; the forest sees the independent pairs once."""
    passes: list[int] = []
    predict = combination_train.predict
    monkeypatch.setattr(combination_train, "predict", lambda m, d, loader, dev: passes.append(len(loader))
                        or predict(m, d, loader, dev))  # fmt: skip
    run("deepdds", screen_dir, tmp_path, deepdds={**NET, "epochs": 3})
    assert passes == [24, 24, 24, 40]
    from sclong.tasks.drugs import combination_rf

    seen: list[int] = []
    forest = combination_rf.random_forest_scores
    monkeypatch.setattr(combination_rf, "random_forest_scores",
                        lambda tx, ty, test_x, *a: seen.append(len(test_x)) or forest(tx, ty, test_x, *a))  # fmt: skip
    run("random_forest", screen_dir, tmp_path)
    assert seen == [40]


def test_single_class_independent_set_gives_a_note(screen_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "oneil"
    shutil.copytree(screen_dir, folder)
    labels = pd.read_csv(folder / "independent_set" / "independent_input.csv").assign(label=0)
    labels.to_csv(folder / "independent_set" / "independent_input.csv", index=False)
    out = run("random_forest", folder, tmp_path)
    metrics = pd.read_csv(out / "seed0" / "metrics.tsv", sep="\t", keep_default_na=False)
    assert metrics["value"].iloc[0] == "" and "one class" in metrics["note"].iloc[0]


def test_single_class_validation_split_is_one_error() -> None:
    parsed = from_mapping(task_module.Settings, settings(validation_by="cells", validation_fraction=0.3), "k")
    pairs = pd.DataFrame({"drug1": "a", "drug2": "b", "cell": list("AABBCC"), "label": [1, 1, 0, 1, 0, 1]})
    pairs.loc[pairs["cell"] == "A", "label"] = 1
    with pytest.raises(InputError, match="holds label 1 only"):
        for seed in range(20):  # some seed draws cell line A alone
            task_module._validation_split(pairs, parsed, seed, "oneil")
    with pytest.raises(InputError, match="every training pair has label 1"):
        task_module._validation_split(pairs.assign(label=1), parsed, 0, "oneil")


def test_bad_settings_and_mismatched_genes(screen_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="validation_by"):
        from_mapping(task_module.Settings, settings(validation_by="drugs"), "k")
    with pytest.raises(ConfigError, match="warmup_epochs"):
        from_mapping(task_module.Settings, settings(model={**NET, "warmup_epochs": 2}), "k")
    folder = tmp_path / "oneil"
    shutil.copytree(screen_dir, folder)
    cells_file = folder / "independent_set" / "independent_cell_features_954.csv"
    rows = cells_file.read_text().splitlines()
    cells_file.write_text("\n".join(row.rsplit(",", 1)[0] for row in rows) + "\n")
    with pytest.raises(InputError, match="feature genes differ"):
        run("random_forest", folder, tmp_path)
    assert not (tmp_path / "random_forest").exists()


def test_real_oneil_files_with_held_out_cell_lines(shared_data: Path, tmp_path: Path) -> None:
    """The real O'Neil pairs and features in DeepDDS' layout, five cell lines held out as the independent set."""
    source = shared_data / "drug_combination"
    labels = pd.read_csv(source / "labels_0_10.csv.gz")
    held = labels["cell"].isin(TEST_CELLS)
    folder = tmp_path / "oneil"
    (folder / "independent_set").mkdir(parents=True)
    labels[~held].iloc[:1500].to_csv(folder / "labels_0_10.csv", index=False)
    labels[held].iloc[:300].to_csv(folder / "independent_set" / "independent_input.csv", index=False)
    shutil.copy(source / "new_cell_features_954.csv", folder / "new_cell_features_954.csv")
    shutil.copy(source / "new_cell_features_954.csv", folder / "independent_set" / "independent_cell_features_954.csv")
    shutil.copy(source / "smiles.csv", folder / "smiles.csv")
    for method in ("deepdds", "random_forest"):  # the network's epoch chosen on whole held-out training cell lines
        out = run(method, folder, tmp_path, deepdds={**NET, "epochs": 1, "batch_size": 512}, validation_by="cells")
        metrics = pd.read_csv(out / "seed0" / "metrics.tsv", sep="\t")
        predictions = pd.read_csv(out / "seed0" / "predictions.tsv", sep="\t")
        assert 0.0 <= metrics["value"].iloc[0] <= 1.0
        assert set(predictions["cell"]) <= set(TEST_CELLS) and len(predictions) == 300
        assert np.isfinite(predictions["score"]).all()


def test_simulator_cli_takes_the_demo_dataset_entry(tmp_path: Path, checkpoint: Path) -> None:
    """The rule's call: the config's ``datasets.oneil`` minus ``builtin`` as settings; vocabulary genes first."""
    import yaml

    from sclong.tasks.drugs.combination_simulate import main

    entry = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["datasets"]["oneil"]
    assert entry.pop("builtin") == "deepdds"
    small = {**entry, "n_train_pairs": 50, "n_test_pairs": 20}
    vocabulary = checkpoint / "vocabulary.tsv"
    assert main(["--genes", str(DEMO_GENES), "--vocabulary", str(vocabulary), "--drugs",
                 str(REPO / "resources" / "demo" / "drugs.tsv"), "--settings", json.dumps(small),
                 "--out", str(tmp_path / "oneil")]) == 0  # fmt: skip
    header = (tmp_path / "oneil" / "new_cell_features_954.csv").read_text().splitlines()[0].split(",")[1:]
    assert len(header) == 954 and header[:N_VOCABULARY] == read_gene_ids(vocabulary)
    with pytest.raises(ConfigError, match="unknown key"):
        main(["--genes", str(DEMO_GENES), "--vocabulary", str(vocabulary), "--drugs", "x", "--settings",
              json.dumps({**small, "n_genes": 3}), "--out", str(tmp_path / "bad")])  # fmt: skip
