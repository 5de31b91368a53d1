"""The task runner: one directory per seed with the tidy metrics, provenance and artifacts, written whole."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sclong.errors import ConfigError, InputError
from sclong.settings import to_json
from sclong.tasks.base import METRICS_COLUMNS, Metric, RunResult, Task
from sclong.tasks.run import run_method


@dataclass(frozen=True)
class CoinSettings:
    flips: int


class CoinTask(Task[CoinSettings, np.ndarray]):
    """A task small enough to read: the mean of seeded coin flips over a file's weights."""

    name = "coin"
    baselines = ("fair", "broken")
    settings_type = CoinSettings

    def seeded(self, method: str) -> bool:
        return method != "fair"

    def inputs(self, method: str) -> tuple[str, ...]:
        return ("dataset",)

    def load(self, method: str, inputs, settings: CoinSettings) -> np.ndarray:
        return np.loadtxt(inputs["dataset"])

    def run(self, method: str, seed: int, data: np.ndarray, settings: CoinSettings) -> RunResult:
        if method == "broken":
            raise InputError("coin", "the broken method fails")
        flips = np.random.default_rng(seed).random(settings.flips) < data.mean()
        metrics = [Metric("all", "heads", float(flips.mean())), Metric("all", "tails", None, "not defined here")]
        return RunResult(metrics, {"flips": pd.DataFrame({"flip": flips.astype(int)})})


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "weights.txt"
    np.savetxt(path, [0.2, 0.8])
    return path


def test_every_seed_gets_metrics_provenance_and_artifacts(tmp_path: Path, dataset: Path) -> None:
    out = tmp_path / "tasks" / "coin" / "sclong"
    settings = to_json({"flips": 50})
    run_method(CoinTask(), "sclong", [0, 1], settings, {"dataset": dataset}, out, "demo")
    tables = [pd.read_csv(out / f"seed{s}" / "metrics.tsv", sep="\t") for s in (0, 1)]
    assert list(tables[0].columns) == list(METRICS_COLUMNS)
    assert tables[0]["value"].iloc[0] != tables[1]["value"].iloc[0]
    assert np.isnan(tables[0]["value"].iloc[1]) and tables[0]["note"].iloc[1] == "not defined here"
    provenance = json.loads((out / "seed1" / "provenance.json").read_text())
    assert provenance["seed"] == 1 and provenance["scale"] == "demo" and provenance["settings"] == {"flips": 50}
    assert len(provenance["inputs"]["dataset"]["sha256"]) == 64
    assert (out / "seed0" / "flips.tsv").is_file()
    again = tmp_path / "again"
    run_method(CoinTask(), "sclong", [0], settings, {"dataset": dataset}, again, "demo")
    assert (again / "seed0" / "metrics.tsv").read_bytes() == (out / "seed0" / "metrics.tsv").read_bytes()


def test_unknown_method_missing_input_and_failures_leave_nothing(tmp_path: Path, dataset: Path) -> None:
    with pytest.raises(ConfigError, match="'tasks.coin.methods': unknown method 'gears' for coin"):
        run_method(CoinTask(), "gears", [0], to_json({"flips": 5}), {"dataset": dataset}, tmp_path / "x", "demo")
    with pytest.raises(ConfigError, match="'tasks.coin.flips': is required"):
        run_method(CoinTask(), "fair", [0], "{}", {"dataset": dataset}, tmp_path / "x", "demo")
    with pytest.raises(InputError, match="dataset input of coin/fair not found"):
        run_method(CoinTask(), "fair", [0], to_json({"flips": 5}), {"dataset": tmp_path / "no"}, tmp_path / "x", "demo")
    with pytest.raises(InputError, match="the broken method fails"):
        run_method(CoinTask(), "broken", [0], to_json({"flips": 5}), {"dataset": dataset}, tmp_path / "x", "demo")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").rglob("*.tsv"))


def test_a_metric_without_value_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="no value and no note"):
        Metric("all", "x", None)
    with pytest.raises(ValueError, match="give None and a note"):
        Metric("all", "x", float("nan"))


def test_an_embedding_input_records_the_checkpoint_it_was_made_with(tmp_path: Path) -> None:
    import anndata as ad

    from sclong.tasks.run import input_record

    cells = ad.AnnData(np.zeros((2, 3), dtype=np.float32))
    cells.uns["sclong"] = {"checkpoint_sha256": "ab" * 32, "input_kind": "counts"}
    cells.write_h5ad(tmp_path / "embedded.h5ad")
    record = input_record("embedding", tmp_path / "embedded.h5ad")
    assert record["checkpoint_sha256"] == "ab" * 32 and len(record["sha256"]) == 64
    del cells.uns["sclong"]
    cells.write_h5ad(tmp_path / "plain.h5ad")
    assert "checkpoint_sha256" not in input_record("embedding", tmp_path / "plain.h5ad")
    assert "checkpoint_sha256" not in input_record("dataset", tmp_path / "embedded.h5ad")
