"""Genetic perturbation: GEARS' simulation split (its rules, and GEARS' own DataSplitter), metrics and GI
scores against hand-computed values, the baselines, the reader's bad-input errors, DE genes against GEARS'
own functions on real ECCITE-seq knockouts, and the task end to end through the framework."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml

from sclong.errors import InputError
from sclong.tasks.base import METRICS_FILE
from sclong.tasks.genetic_perturbation import TASK, PerturbationData, Settings
from sclong.tasks.perturbation import baselines
from sclong.tasks.perturbation.gi import gi_metrics, gi_table, magnitude
from sclong.tasks.perturbation.metrics import NO_CONDITION, condition_metrics, condition_table, scenario_metrics
from sclong.tasks.perturbation.reader import from_targets, read_screen, screen_from_adata
from sclong.tasks.perturbation.screen import CONTROL, SCENARIOS, Screen, Split, pair_controls, perturbed_genes
from sclong.tasks.perturbation.split import simulation_split
from sclong.tasks.run import run_method

ECCITE = "perturbation/papalexi2021_thp1_eccite_subset.h5ad"
GENES = list("ABCDEFGH")
CONFIG = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "config.yaml").read_text())
SETTINGS = {**CONFIG["tasks"]["genetic_perturbation"], "dataset": "screen", "device": "cpu",
            "normalization": "paper", "go_annotations": CONFIG["go_annotations"]}  # fmt: skip


def conditions_of(genes: list[str], doubles: list[tuple[str, str]]) -> list[str]:
    return [CONTROL, *(f"{g}+{CONTROL}" for g in genes), *(f"{a}+{b}" for a, b in doubles)]


ALL_DOUBLES = list(itertools.combinations(GENES, 2))


def known_screen(n_genes: int = 12, cells: int = 4) -> ad.AnnData:
    """Every condition's cells are its known mean profile +- a small symmetric jitter (so the means are exact)."""
    rng = np.random.default_rng(0)
    control = rng.uniform(1.0, 2.0, n_genes)
    effect = {g: rng.normal(0.0, 0.5, n_genes) for g in GENES}
    rows, labels = [], []
    for condition in conditions_of(GENES, ALL_DOUBLES):
        mean = control + sum((effect[g] for g in perturbed_genes(condition)), np.zeros(n_genes))
        mean = np.clip(mean, 0.05, None)
        jitter = 0.01 * np.tile([1.0, -1.0], cells // 2)[:, None] * np.linspace(1, 2, n_genes)
        rows.append(mean + jitter)
        labels += [condition] * cells
    return ad.AnnData(X=sp.csr_matrix(np.vstack(rows).astype(np.float32)),
                      obs=pd.DataFrame({"condition": labels, "cell_type": "K562"},
                                       index=[f"cell{i}" for i in range(len(labels))]),
                      var=pd.DataFrame({"gene_name": [f"g{i}" for i in range(n_genes)]},
                                       index=[f"ENSG{i:011d}" for i in range(n_genes)]))  # fmt: skip


@pytest.fixture(scope="module")
def screen() -> Screen:
    return screen_from_adata(known_screen(), "known.h5ad")


# --- split ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 7])
def test_scenarios_hold_exactly_what_the_split_rules_say(screen: Screen, seed: int) -> None:
    split = simulation_split(screen.condition_list(), seed, 0.75, 0.75)
    singles = {c for c in screen.condition_list() if len(perturbed_genes(c)) == 1}
    train_genes = {perturbed_genes(c)[0] for c in singles if c in split.train or c in split.val}
    assert len(train_genes) == int(len(GENES) * 0.75)
    assert CONTROL in split.train and CONTROL not in split.val + split.test
    everything = split.train + split.val + split.test
    assert sorted(everything) == sorted(screen.condition_list()) and len(set(everything)) == len(everything)
    expected = {}
    for condition in screen.condition_list()[1:]:
        genes = perturbed_genes(condition)
        seen = sum(g in train_genes for g in genes)
        if len(genes) == 1:
            expected[condition] = None if seen else "seen_0_1"
        else:
            expected[condition] = {0: "seen_0_2", 1: "seen_1_2", 2: "seen_2_2"}[seen]
    for condition in split.test:
        assert split.scenario[condition] == expected[condition]
    assert {c for c, s in expected.items() if s not in (None, "seen_2_2")} == {
        c for c in split.test if split.scenario[c] != "seen_2_2"
    }
    seen_2 = [c for c, s in expected.items() if s == "seen_2_2"]
    in_training = [c for c in seen_2 if c in split.train or c in split.val]
    assert len(in_training) == int(len(seen_2) * 0.75)
    assert set(split.in_scenario("seen_2_2")) == set(seen_2) - set(in_training)
    frame = split.frame()
    assert list(frame.columns) == ["condition", "subset", "scenario"]
    assert (frame.loc[frame.subset != "test", "scenario"] == "").all()


def test_split_is_gears_own_split() -> None:
    """The same conditions as GEARS' DataSplitter (its global-seed draws) for several seeds."""
    pytest.importorskip("gears")
    from gears.data_utils import DataSplitter

    adata = known_screen(cells=2)
    conditions = list(dict.fromkeys(adata.obs["condition"]))
    for seed in (1, 3):
        _, groups = DataSplitter(adata.copy(), split_type="simulation").split_data(
            seed=seed, train_gene_set_size=0.75, combo_seen2_train_frac=0.75
        )
        ours = simulation_split(conditions, seed, 0.75, 0.75)
        names = {"combo_seen0": "seen_0_2", "combo_seen1": "seen_1_2", "combo_seen2": "seen_2_2",
                 "unseen_single": "seen_0_1"}  # fmt: skip
        for gears_name, scenario in names.items():
            assert sorted(groups["test_subgroup"][gears_name]) == sorted(ours.in_scenario(scenario))
        val = [c for group in groups["val_subgroup"].values() for c in group]
        assert sorted(val) == sorted(ours.val)


def test_pairing_is_seeded_and_controls_pair_with_themselves(screen: Screen) -> None:
    first = pair_controls(screen, ["A+ctrl", CONTROL], np.random.default_rng(3))
    again = pair_controls(screen, ["A+ctrl", CONTROL], np.random.default_rng(3))
    assert np.array_equal(first.controls, again.controls)
    assert np.isin(first.controls, screen.control_rows).all()
    is_control = first.conditions == CONTROL
    assert np.array_equal(first.rows[is_control], first.controls[is_control])


# --- metrics, hand-computed -----------------------------------------------------------------------------


def test_condition_metrics_match_hand_computed_values() -> None:
    control = np.array([1.0, 1.0, 1.0, 1.0])
    true = np.array([3.0, 0.0, 1.0, 2.0])
    pred = np.array([2.0, 0.0, 2.0, 2.0])
    got = condition_metrics(pred, true, control, np.array([0, 1, 2]))
    assert got["mse_de"] == pytest.approx(2 / 3)
    # deltas over the DE genes: pred [1, -1, 1], true [2, -1, 0]; r = 24 / sqrt(24 * 42) = sqrt(4 / 7)
    assert got["pearson_delta_de"] == pytest.approx(np.sqrt(4 / 7))
    assert got["frac_correct_direction_de"] == pytest.approx(2 / 3)
    assert got["frac_opposite_direction_de"] == 0.0
    assert got["mse"] == pytest.approx(2 / 4)
    # pred [2, 0, 2] vs true [3, 0, 1] (means 4/3): r = (2/3*5/3 + 16/9 - 2/9) / sqrt(24/9 * 42/9)
    assert got["pearson_de"] == pytest.approx(np.sqrt(4 / 7))
    # a constant vector correlates 0 (GEARS' convention)
    assert condition_metrics(control, true, control, np.array([0, 1]))["pearson_delta_de"] == 0.0


def test_scenario_means_and_empty_and_not_applicable_scenarios() -> None:
    split = Split(seed=0, train=("ctrl", "A+ctrl"), val=(), test=("A+B", "A+C", "D+ctrl"),
                  scenario={"A+B": "seen_1_2", "A+C": "seen_1_2", "D+ctrl": "seen_0_1"})  # fmt: skip
    table = pd.DataFrame({"condition": ["A+B", "A+C"], "scenario": ["seen_1_2"] * 2,
                          **{name: [1.0, 4.0] for name in ("mse_de", "pearson_delta_de", "mse", "pearson",
                             "pearson_delta", "pearson_de", "frac_correct_direction_de",
                             "frac_opposite_direction_de")}})  # fmt: skip
    got = {(m.scenario, m.metric): m for m in scenario_metrics(split, table, {"seen_0_1": "not applicable: x"})}
    assert got["seen_1_2", "mse_de"].value == 2.5
    for scenario in ("seen_0_2", "seen_2_2"):
        assert got[scenario, "mse_de"].value is None and got[scenario, "mse_de"].note == NO_CONDITION
    assert got["seen_0_1", "pearson_delta_de"].value is None
    assert got["seen_0_1", "pearson_delta_de"].note == "not applicable: x"
    assert {s for s, _ in got} == set(SCENARIOS)


def test_gi_magnitude_is_the_ols_fit_with_intercept() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=50), rng.normal(size=50)
    assert magnitude(2.0 * a + 1.0 * b + 0.5, a, b) == pytest.approx(np.sqrt(5.0))
    assert magnitude(-3.0 * a + 4.0 * b, a, b) == pytest.approx(5.0)


def test_gi_scores_against_hand_computed_overlaps() -> None:
    table = pd.DataFrame({"condition": list("abcdef"), "magnitude_true": [1.0, 2, 3, 4, 5, 6],
                          "magnitude_pred": [2.0, 1, 3, 6, 4, 5]})  # fmt: skip
    got = {m.metric: m for m in gi_metrics(table)}
    expected = np.corrcoef(table.magnitude_true, table.magnitude_pred)[0, 1]
    assert got["gi_magnitude_pearson"].value == pytest.approx(expected)
    # k = 6 // 2 = 3: true top {d, e, f}, predicted top {d, e, f}; true bottom {a, b, c}, predicted {a, b, c}
    assert got["gi_synergy_overlap"].value == 3 and got["gi_suppressor_overlap"].value == 3
    assert "top/bottom 3 of 6" in got["gi_synergy_overlap"].note
    table["magnitude_pred"] = [1.0, 5, 2, 6, 3, 4]  # top {b, d, f}: 2 shared; bottom {a, c, e}: 2 shared
    got = {m.metric: m.value for m in gi_metrics(table)}
    assert got["gi_synergy_overlap"] == 2 and got["gi_suppressor_overlap"] == 2
    table["magnitude_pred"] = np.sqrt(2.0)
    assert all(m.value is None for m in gi_metrics(table))


def test_additive_is_exact_on_an_additive_screen_and_not_applicable_to_unseen_singles(screen: Screen) -> None:
    split = simulation_split(screen.condition_list(), 0, 0.75, 0.75)
    predictions = baselines.additive(screen, split)
    doubles = [c for c in split.test if len(perturbed_genes(c)) == 2]
    assert set(predictions) == set(doubles)
    table = condition_table(screen, split, predictions)
    unclipped = table[table["mse"] < 1e-6]
    assert len(unclipped) >= len(doubles) // 2  # the known screen is additive but for its clipped values
    result = TASK.run("additive", 0, PerturbationData(screen, None, None), Settings(**SETTINGS))
    metric = {(m.scenario, m.metric): m for m in result.metrics}
    assert metric["seen_0_1", "mse_de"].value is None
    assert metric["seen_0_1", "mse_de"].note.startswith("not applicable")
    for scenario in ("seen_0_2", "seen_1_2"):  # reads test singles: its values there say so
        if metric[scenario, "mse_de"].value is not None:
            assert metric[scenario, "mse_de"].note.startswith("oracle")
    assert metric["seen_2_2", "mse_de"].value is None or not metric["seen_2_2", "mse_de"].note
    gi = gi_table(screen, split, predictions)
    assert np.allclose(gi["magnitude_pred"], np.sqrt(2.0))


def test_no_change_predicts_the_paired_controls(screen: Screen) -> None:
    split = simulation_split(screen.condition_list(), 2, 0.75, 0.75)
    predictions = baselines.no_change(screen, split, np.random.default_rng(2))
    pairs = pair_controls(screen, split.test, np.random.default_rng(2))
    condition = split.test[0]
    rows = pairs.controls[pairs.conditions == condition]
    assert np.allclose(predictions[condition], screen.adata.X[rows].toarray().mean(axis=0))


# --- reader ---------------------------------------------------------------------------------------------


def write(adata: ad.AnnData, tmp_path: Path) -> Path:
    path = tmp_path / "screen.h5ad"
    adata.write_h5ad(path)
    return path


def rename(adata: ad.AnnData, renames: dict[str, str]) -> None:
    adata.obs["condition"] = adata.obs["condition"].astype(str).replace(renames)


BAD = {
    "three genes": (lambda a: rename(a, {"A+B": "A+B+C"}), "condition 'A+B+C' is not in GEARS' grammar"),
    "one gene twice": (lambda a: rename(a, {"A+B": "A+A"}), "condition 'A+A' is not in GEARS' grammar"),
    "other separator": (lambda a: rename(a, {"A+B": "A_B"}), "condition 'A_B' is not in GEARS' grammar"),
    "two names": (lambda a: rename(a, {"A+B": "B+A", "A+C": "A+B"}), "name the same perturbation"),
    "no control": (lambda a: a._inplace_subset_obs((a.obs["condition"] != CONTROL).to_numpy()), "no control cells"),
    "no cell type": (lambda a: a.obs.drop(columns="cell_type", inplace=True), "obs has no column 'cell_type'"),
    "no condition": (lambda a: a.obs.drop(columns="condition", inplace=True), "obs has no column 'condition'"),
    "no gene names": (lambda a: a.var.drop(columns="gene_name", inplace=True), "var has no column 'gene_name'"),
    "repeated gene": (lambda a: a.var.__setitem__("gene_name", ["g0"] * a.n_vars), "repeats gene 'g0'"),
    "two cell types": (lambda a: a.obs.__setitem__("cell_type", ["K562", "A549"] * (a.n_obs // 2)), "has 2 values"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_screens_fail_with_one_line_naming_the_file(tmp_path: Path, case: str) -> None:
    change, message = BAD[case]
    adata = known_screen(n_genes=6, cells=2)
    change(adata)
    path = write(adata, tmp_path)
    with pytest.raises(InputError, match=re.escape(message)) as err:
        read_screen(path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_ctrl_first_singles_are_read_as_gears_does(tmp_path: Path) -> None:
    adata = known_screen(n_genes=6, cells=2)
    adata.obs["condition"] = adata.obs["condition"].replace({"A+ctrl": "ctrl+A"})
    screen = read_screen(write(adata, tmp_path))
    assert "A+ctrl" in screen.condition_list() and "ctrl+A" not in screen.condition_list()
    names = {c: "ctrl+A" if c == "A+ctrl" else c for c in screen.condition_list()[1:]}
    adata.uns["rank_genes_groups_cov_all"] = {f"K562_{names[c]}_1+1": np.array(screen.genes)[screen.de_genes_50[c]]
                                              for c in names}  # fmt: skip
    adata.var_names = screen.genes
    shipped = read_screen(write(adata, tmp_path))
    assert np.array_equal(shipped.de_genes_50["A+ctrl"], screen.de_genes_50["A+ctrl"])


def test_unreadable_file_and_negative_values(tmp_path: Path) -> None:
    (tmp_path / "broken.h5ad").write_text("not hdf5")
    with pytest.raises(InputError, match="unreadable AnnData"):
        read_screen(tmp_path / "broken.h5ad")
    adata = known_screen(n_genes=6, cells=2)
    adata.X = -adata.X
    with pytest.raises(InputError, match="negative or non-finite"):
        read_screen(write(adata, tmp_path))


# --- real ECCITE-seq knockouts --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def eccite(shared_data: Path) -> ad.AnnData:
    cells = ad.read_h5ad(shared_data / ECCITE)
    keep = cells.obs["target"].isin(["non-targeting", "IFNGR1", "IRF1", "STAT1", "CD86"])
    return from_targets(cells[keep.to_numpy()].copy(), "target", "non-targeting", "THP-1", str(shared_data / ECCITE))


def test_eccite_knockouts_read_with_gears_de_genes(eccite: ad.AnnData) -> None:
    """Our DE genes are those of GEARS' own get_DE_genes + get_dropout_non_zero_genes on real cells."""
    screen = screen_from_adata(eccite, "eccite")
    assert screen.condition_list() == ["ctrl", *sorted(screen.condition_list()[1:], key=screen.condition_list().index)]
    assert set(screen.condition_list()) == {"ctrl", "IFNGR1+ctrl", "IRF1+ctrl", "STAT1+ctrl", "CD86+ctrl"}
    assert all(len(screen.de_genes[c]) == 20 and len(screen.de_genes_50[c]) == 50 for c in screen.condition_list()[1:])
    pytest.importorskip("gears")
    from gears.data_utils import get_DE_genes, get_dropout_non_zero_genes

    gears = get_dropout_non_zero_genes(get_DE_genes(eccite.copy(), skip_calc_de=False))
    for condition in screen.condition_list()[1:]:
        key = f"THP-1_{condition}_1+1"
        assert [screen.genes[i] for i in screen.de_genes[condition]] == list(gears.uns["top_non_dropout_de_20"][key])
        ranking = gears.uns["rank_genes_groups_cov_all"][key]
        assert [screen.genes[i] for i in screen.de_genes_50[condition]] == list(ranking[:50])


def test_shipped_gears_ranking_is_used_and_checked(eccite: ad.AnnData) -> None:
    computed = screen_from_adata(eccite, "eccite")
    shipped = eccite.copy()
    reversed_ranking = {f"THP-1_{c}_1+1": np.array(computed.genes)[computed.de_genes_50[c][::-1]]
                        for c in computed.condition_list()[1:]}  # fmt: skip
    shipped.uns["rank_genes_groups_cov_all"] = reversed_ranking
    screen = screen_from_adata(shipped, "eccite")
    assert np.array_equal(screen.de_genes_50["IRF1+ctrl"], computed.de_genes_50["IRF1+ctrl"][::-1])
    del reversed_ranking["THP-1_IRF1+ctrl_1+1"]
    with pytest.raises(InputError, match=re.escape("has no entry 'THP-1_IRF1+ctrl_1+1'")):
        screen_from_adata(shipped, "eccite")


def test_eccite_singles_run_through_the_task(eccite: ad.AnnData, tmp_path: Path) -> None:
    """Singles only: the double scenarios are empty (None with a note), GI has no doubles."""
    path = write(eccite, tmp_path)
    run_method(TASK, "no_change", [0], json.dumps(SETTINGS), {"dataset": path}, tmp_path / "out", "test")
    metrics = pd.read_csv(tmp_path / "out" / "seed0" / METRICS_FILE, sep="\t", keep_default_na=False)
    doubles = metrics[metrics.scenario.isin(["seen_0_2", "seen_1_2", "seen_2_2"])]
    assert (doubles.value == "").all() and (doubles.note == NO_CONDITION).all()
    seen_0_1 = metrics[(metrics.scenario == "seen_0_1") & (metrics.metric == "mse_de")]
    assert float(seen_0_1.value.iloc[0]) > 0
    for name in ("split", "conditions", "gi", "double_errors"):
        assert (tmp_path / "out" / "seed0" / f"{name}.tsv").is_file()


# --- end to end on the known screen ---------------------------------------------------------------------


def test_task_end_to_end_writes_every_artifact(tmp_path: Path) -> None:
    path = write(known_screen(), tmp_path)
    for method in ("additive", "no_change"):
        run_method(TASK, method, [0, 1], json.dumps(SETTINGS), {"dataset": path}, tmp_path / method, "test")
    for method in ("additive", "no_change"):
        seed_dir = tmp_path / method / "seed1"
        split = pd.read_csv(seed_dir / "split.tsv", sep="\t", keep_default_na=False)
        conditions = pd.read_csv(seed_dir / "conditions.tsv", sep="\t")
        errors = pd.read_csv(seed_dir / "double_errors.tsv", sep="\t")
        gi = pd.read_csv(seed_dir / "gi.tsv", sep="\t")
        test_doubles = split[(split.subset == "test") & split.condition.str.count(r"\+ctrl").eq(0)
                             & (split.condition != "ctrl")]  # fmt: skip
        assert set(errors.condition) == set(test_doubles.condition) == set(gi.condition)
        assert len(errors) == len(test_doubles) * 12 and not gi.isna().any().any()
        assert set(conditions.condition) <= set(split[split.subset == "test"].condition)
    assert not (tmp_path / "no_change" / "seed0" / "split.tsv").read_text() == (
        tmp_path / "no_change" / "seed1" / "split.tsv"
    ).read_text()
