"""Statistics: Welch/Student t-tests, Cohen's d and BH against hand-computed values; stated NAs; input checks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from sclong.errors import InputError
from sclong.stats import StatsSettings, cohens_d, compare, main, read_metrics, significance
from tests.tidy import write_run

WELCH = StatsSettings(test="welch", alpha=0.05)


def runs(values: dict[str, list[float | None]], metric: str = "auc", scenario: str = "all") -> pd.DataFrame:
    rows = [("t", method, seed, scenario, metric, v, "" if v is not None else "not applicable here")
            for method, vs in values.items() for seed, v in enumerate(vs)]  # fmt: skip
    return pd.DataFrame(rows, columns=["task", "method", "seed", "scenario", "metric", "value", "note"])


def test_welch_and_cohens_d_match_hand_computation() -> None:
    ref, other = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0]
    table = compare(runs({"sclong": ref, "base": other}), "figX", WELCH)
    row = table.iloc[0]
    # Welch: t = (2 - 5) / sqrt(1/3 + 6.6667/4) = -3 / sqrt(2.0) ; df by Welch-Satterthwaite
    assert row["t_statistic"] == pytest.approx(-3 / math.sqrt(1 / 3 + (20 / 3) / 4))
    assert row["p_value"] == pytest.approx(scipy_stats.ttest_ind(ref, other, equal_var=False).pvalue)
    pooled = math.sqrt((2 * 1.0 + 3 * (20 / 3)) / 5)
    assert row["cohens_d"] == pytest.approx((2 - 5) / pooled)
    assert row["p_adjusted"] == pytest.approx(row["p_value"])  # a family of one test
    student = compare(runs({"sclong": ref, "base": other}), "figX", StatsSettings("student", 0.05)).iloc[0]
    assert student["p_value"] == pytest.approx(scipy_stats.ttest_ind(ref, other).pvalue)
    assert student["test"] == "student two-sided t-test"


def test_benjamini_hochberg_over_the_figure_family() -> None:
    frames = []
    rng = np.random.default_rng(0)
    for metric, shift in (("m1", 0.5), ("m2", 1.0), ("m3", 3.0)):
        frames.append(runs({"sclong": list(rng.normal(shift, 1, 5)), "base": list(rng.normal(0, 1, 5))}, metric))
    table = compare(pd.concat(frames), "figX", WELCH).sort_values("p_value")
    p = table["p_value"].to_numpy()
    expected = np.minimum.accumulate((p * 3 / np.arange(1, 4))[::-1])[::-1]
    np.testing.assert_allclose(table["p_adjusted"], np.minimum(expected, 1))


def test_untestable_comparisons_say_why() -> None:
    table = compare(runs({"sclong": [0.9], "single": [0.8], "flat": [0.5]}), "figX", WELCH)
    assert table["p_value"].isna().all() and table["significance"].eq("").all()
    assert table["note"].str.contains("reference has 1 run").all()
    flat = compare(runs({"sclong": [1.0, 1.0, 1.0], "flat": [2.0, 2.0, 2.0]}), "figX", WELCH).iloc[0]
    assert math.isnan(flat["p_value"]) and flat["note"] == "not tested: no variance in either group"
    na = compare(runs({"sclong": [1.0, 2.0], "additive": [None, None]}), "figX", WELCH).iloc[0]
    assert math.isnan(na["p_value"]) and na["note"] == "not applicable here"  # the run's note, not repeated


def test_not_applicable_values_and_seeds_without_a_value() -> None:
    rows = [
        *runs({"sclong": [0.8, 0.9, 0.85], "additive": [None] * 3}, "pearson_delta_de", "seen_0_1").itertuples(),
        *runs({"sclong": [0.2, None, 0.3], "gears": [0.5, 0.6, None]}, "mse_de", "seen_0_2").itertuples(),
        *runs({"sclong": [None] * 3, "gears": [None] * 3}, "mse_de", "seen_1_2").itertuples(),
        *runs({"sclong": [9.0, 11.0, 10.0], "gears": [5.0, 6.0, 4.0]}, "gi_synergy_overlap").itertuples(),
    ]
    metrics = pd.DataFrame(rows).drop(columns="Index")
    metrics.loc[metrics["method"] == "additive", "note"] = "not applicable: needs both single genes in training"
    metrics.loc[metrics["scenario"] == "seen_1_2", "note"] = "no test condition in this scenario"
    table = compare(metrics, "fig2", WELCH).set_index(["scenario", "metric", "method"])
    additive = table.loc[("seen_0_1", "pearson_delta_de", "additive")]
    assert additive["note"] == "not applicable: needs both single genes in training" and additive["n_method"] == 0
    empty = table.loc[("seen_1_2", "mse_de", "gears")]
    assert empty["note"] == "not applicable: no test condition in this scenario" and math.isnan(empty["p_value"])
    partial = table.loc[("seen_0_2", "mse_de", "gears")]  # a seed whose split had no such condition: left out
    assert (partial["n_reference"], partial["n_method"]) == (2, 2)
    assert partial["p_value"] == pytest.approx(scipy_stats.ttest_ind([0.2, 0.3], [0.5, 0.6], equal_var=False).pvalue)
    synergy = table.loc[("all", "gi_synergy_overlap", "gears")]
    assert synergy["p_value"] == pytest.approx(scipy_stats.ttest_ind([9, 11, 10], [5, 6, 4], equal_var=False).pvalue)
    tested = table["p_value"].notna()
    assert tested.sum() == 2 and (table.loc[tested, "p_adjusted"] >= table.loc[tested, "p_value"]).all()


def test_significance_marks() -> None:
    assert [significance(p) for p in (0.0005, 0.005, 0.03, 0.2, math.nan)] == ["***", "**", "*", "ns", ""]
    assert math.isnan(cohens_d(np.array([1.0]), np.array([1.0, 2.0])))


def test_read_metrics_refuses_mixed_or_misplaced_runs(tmp_path: Path) -> None:
    good = [write_run(tmp_path, "t", "sclong", s, {("all", "auc"): 0.5 + s}) for s in (0, 1)]
    assert len(read_metrics(good)) == 2
    wrong_seed = write_run(tmp_path, "t", "other", 0, {("all", "auc"): 0.1}, table_seed=3)
    with pytest.raises(InputError, match=r"other/seed0/metrics.tsv: holds runs \[\('t', 'other', '3'\)\]"):
        read_metrics([*good, wrong_seed])
    other_settings = write_run(tmp_path, "t", "base", 0, {("all", "auc"): 0.1}, settings_sha="s2")
    with pytest.raises(InputError, match=r"base/seed0/metrics.tsv: t settings not the same as in .*sclong/seed0/"
                                         r"metrics.tsv \(s2 here, s1 there\): rerun every t run with one config"):
        read_metrics([*good, other_settings])
    other_inputs = write_run(tmp_path, "t", "sclong", 2, {("all", "auc"): 0.1}, digest="d2")
    with pytest.raises(InputError, match=r"seed2/metrics.tsv: t input 'dataset' not the same as in .*seed0/metrics"):
        read_metrics([*good, other_inputs])
    other_scale = write_run(tmp_path, "t", "sclong", 3, {("all", "auc"): 0.1}, scale="paper")
    with pytest.raises(InputError, match=r"scale not the same as in .* \(paper here, demo there\)"):
        read_metrics([*good, other_scale])


def weights(sha: str, dataset: str = "d1") -> dict[str, dict]:
    return {"dataset": {"path": "x", "sha256": dataset}, "checkpoint": {"path": "ckpt", "sha256": sha}}


def test_every_method_of_a_task_reads_the_same_dataset(tmp_path: Path) -> None:
    ours = write_run(tmp_path, "grn", "sclong", 0, {("all", "auc"): 1.0}, inputs=weights("w1"))
    theirs = write_run(tmp_path, "grn", "genie3", 0, {("all", "auc"): 0.5}, digest="d9")
    with pytest.raises(InputError, match=r"genie3/seed0/metrics.tsv: grn input 'dataset' not the same as in "
                                         r".*grn/sclong/seed0/metrics.tsv \(d9 here, d1 there\)"):
        read_metrics([ours, theirs])


def test_every_run_of_a_variant_shares_its_checkpoint_across_tasks(tmp_path: Path) -> None:
    """A GRN run reads the checkpoint, a batch-integration run an embedding made from one: both must agree."""
    grn = [write_run(tmp_path, "grn", "wo_go", s, {("all", "auc"): 1.0}, inputs=weights("w1")) for s in (0, 1)]
    same = {"embedding": {"path": "e", "sha256": "e1", "checkpoint_sha256": "w1"}}
    batch = write_run(tmp_path, "batch", "wo_go", 0, {("all", "asw"): 0.9}, inputs=same)
    assert len(read_metrics([*grn, batch])) == 3
    stale = {"embedding": {"path": "e", "sha256": "e2", "checkpoint_sha256": "w0"}}
    old = write_run(tmp_path / "old", "batch", "wo_go", 0, {("all", "asw"): 0.9}, inputs=stale)
    with pytest.raises(InputError, match=r"old/batch/wo_go/seed0/metrics.tsv: wo_go checkpoint not the same as in "
                                         r".*grn/wo_go/seed0/metrics.tsv \(w0 here, w1 there\): every task's wo_go"):
        read_metrics([*grn, old])
    retrained = write_run(tmp_path, "grn", "wo_go", 2, {("all", "auc"): 1.0}, inputs=weights("w2"))
    with pytest.raises(InputError, match=r"grn/wo_go/seed2/metrics.tsv: grn/wo_go inputs not the same as in "
                                         r".*grn/wo_go/seed0/metrics.tsv \(differing: checkpoint\)"):
        read_metrics([*grn, retrained])
    other_variant = write_run(tmp_path, "batch", "wo_leg", 0, {("all", "asw"): 0.9}, inputs=stale)
    assert len(read_metrics([*grn, other_variant])) == 3  # each variant has its own checkpoint


def test_benjamini_hochberg_within_each_family() -> None:
    rng = np.random.default_rng(3)
    values = {m: list(rng.normal(c, 0.3, 4)) for m, c in (("sclong", 1.0), ("a1", 0.2), ("a2", 0.6), ("b1", 0.4))}
    table = compare(runs(values), "figX", WELCH, families={"a": ["a1", "a2"], "b": ["b1"]}).set_index("method")
    assert table.loc["b1", "family"] == "b"
    assert table.loc["b1", "p_adjusted"] == pytest.approx(table.loc["b1", "p_value"])  # a family of one
    a = table.loc[["a1", "a2"]].sort_values("p_value")
    expected = np.minimum.accumulate((a["p_value"].to_numpy() * 2 / np.arange(1, 3))[::-1])[::-1]
    np.testing.assert_allclose(a["p_adjusted"], expected)
    assert (compare(runs(values), "figX", WELCH)["family"] == "figX").all()
    with pytest.raises(ValueError, match="method b1 belongs to none of the families a"):
        compare(runs(values), "figX", WELCH, families={"a": ["a1", "a2"]})


def test_cli_writes_the_table(tmp_path: Path) -> None:
    paths = [write_run(tmp_path / "r", "t", m, s, {("all", "auc"): v})
             for m, vs in (("sclong", (1, 2, 3)), ("base", (0, 0.5, 1))) for s, v in enumerate(vs)]  # fmt: skip
    out = tmp_path / "stats.tsv"
    assert main(["--figure", "fig5", "--metrics", *map(str, paths), "--settings", '{"test": "welch", "alpha": 0.05}',
                 "--out", str(out)]) == 0  # fmt: skip
    table = pd.read_csv(out, sep="\t")
    assert list(table["method"]) == ["base"] and table["n_reference"].iloc[0] == 3
    assert list(table["family"]) == ["fig5"]


def test_cli_refuses_a_method_outside_the_figures_comparisons(tmp_path: Path) -> None:
    paths = [write_run(tmp_path, "grn_inference", m, 0, {("all", "aupr_ratio"): 1.0}) for m in ("sclong", "genie3")]
    with pytest.raises(InputError, match="genie3/seed0/metrics.tsv: method genie3 is in none of fig7's comparisons"):
        main(["--figure", "fig7", "--metrics", *map(str, paths), "--settings", '{"test": "welch", "alpha": 0.05}',
              "--out", str(tmp_path / "fig7.tsv")])  # fmt: skip
