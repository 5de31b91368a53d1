"""Figures from tidy tables only: every panel drawn, PDF (vector) and PNG written, the paper's values shown."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import leaves_list, linkage

from sclong.fidelity import fidelity, read_reported
from sclong.figures.make import main as make_figure
from sclong.stats import main as make_stats
from sclong.stats import read_metrics
from tests.tidy import write_run

REPO = Path(__file__).resolve().parents[2]
REPORTED = REPO / "resources" / "paper" / "reported.tsv"
STATS = json.dumps({"test": "welch", "alpha": 0.05})


def grn_runs(root: Path) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for method, centre in (("sclong", 1.4), ("deepsem", 1.1), ("genie3", 1.05)):
        for seed in range(3):
            values = {("all", "aupr_ratio"): centre + rng.normal(0, 0.03), ("all", "epr"): centre + rng.normal(0, 0.1)}
            paths.append(write_run(root, "grn_inference", method, seed, values))
    paths.append(write_run(root, "grn_inference", "go_graph", 0, {("all", "aupr_ratio"): 1.0, ("all", "epr"): 1.2}))
    return paths


def draw(tmp_path: Path, figure: str, paths: list[Path]) -> tuple[Path, Path]:
    stats = tmp_path / f"{figure}.tsv"
    stats_argv = ["--figure", figure, "--metrics", *map(str, paths), "--settings", STATS, "--out", str(stats)]
    assert make_stats(stats_argv) == 0
    pdf, png = tmp_path / f"{figure}.pdf", tmp_path / f"{figure}.png"
    argv = ["--figure", figure, "--metrics", *map(str, paths), "--stats", str(stats), "--reported", str(REPORTED),
            "--scale", "demo", "--pdf", str(pdf), "--png", str(png)]  # fmt: skip
    assert make_figure(argv) == 0
    return pdf, png


def test_fig5_is_a_vector_pdf_and_a_png(tmp_path: Path) -> None:
    pdf, png = draw(tmp_path, "fig5", grn_runs(tmp_path / "runs"))
    assert pdf.read_bytes().startswith(b"%PDF") and png.read_bytes().startswith(b"\x89PNG")
    text = pdf.read_bytes()
    assert b"/Subtype /Image" not in text  # bars, dots and text are vector paths, not a raster
    again_pdf, _ = draw(tmp_path / "again", "fig5", grn_runs(tmp_path / "again" / "runs"))
    assert again_pdf.read_bytes() == pdf.read_bytes()  # no timestamps: reruns are identical


def test_fig8_from_the_clustering_artifacts(tmp_path: Path) -> None:
    genes = [f"G{i}" for i in range(12)]
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(12, 4))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    paths = []
    for seed in range(2):
        similarity, clusters = [], []
        for cell_type in ("CD14+ Monocyte", "CD19+ B"):
            similarity += [(cell_type, a, b, cosine[i, j]) for i, a in enumerate(genes) for j, b in enumerate(genes)]
            clusters += [(cell_type, g, i % 3, i, g in ("G0", "G1")) for i, g in enumerate(genes)]
        tree = linkage(cosine, method="average")
        order = {leaf: i for i, leaf in enumerate(leaves_list(tree))}
        clusters = [(ct, g, i, order[i], i % 3, g in ("G0", "G1")) for ct, g, _, _, _ in clusters
                    for i in [genes.index(g)]]  # fmt: skip
        steps = [(ct, step, *row) for ct in ("CD14+ Monocyte", "CD19+ B") for step, row in enumerate(tree)]
        artifacts = {
            "similarity": pd.DataFrame(similarity, columns=["cell_type", "gene_a", "gene_b", "cosine"]),
            "clusters": pd.DataFrame(clusters, columns=["cell_type", "gene", "leaf", "order", "cluster", "is_marker"]),
            "linkage": pd.DataFrame(steps, columns=["cell_type", "step", "left", "right", "distance", "size"]),
        }
        values = {(ct, m): v for ct in ("CD14+ Monocyte", "CD19+ B")
                  for m, v in (("marker_coclustering", 0.8 + 0.1 * seed), ("marker_coclustering_null", 0.1),
                               ("marker_coclustering_p", 0.01))}
        paths.append(write_run(tmp_path / "runs", "marker_genes", "sclong", seed, values, artifacts=artifacts))
    pdf, png = draw(tmp_path, "fig8", paths)
    assert pdf.stat().st_size > 10_000 and png.stat().st_size > 10_000


def test_fidelity_has_a_row_for_every_reported_number(tmp_path: Path) -> None:
    reported = read_reported(REPORTED)
    table = fidelity(reported, read_metrics(grn_runs(tmp_path)), "demo")
    assert len(table) == len(reported)
    sclong = table[(table["figure"] == "fig5") & (table["method"] == "sclong")].iloc[0]
    assert sclong["n_runs"] == 3 and sclong["status"].startswith("reproduced at demo scale")
    assert sclong["difference"] == pytest.approx(sclong["reproduced_mean"] - 1.35)
    scgpt = table[(table["figure"] == "fig5") & (table["method"] == "scgpt")].iloc[0]
    assert scgpt["status"] == "not reproduced: foundation-model baseline not run by this workflow"
    gears = table[table["method"] == "gears"].iloc[0]
    assert gears["status"] == "not reproduced: task genetic_perturbation not computed by this run"


SCENARIOS = ("seen_0_2", "seen_1_2", "seen_2_2", "seen_0_1")


def ablation_runs(root: Path, tasks: tuple[str, ...]) -> list[Path]:
    """Tidy runs of the five model variants on ``tasks``."""
    rng = np.random.default_rng(2)
    centres = {"sclong": 1.0, "wo_leg": 0.8, "random_leg": 0.85, "wo_go": 0.9, "random_go": 0.7}
    metrics = {
        "genetic_perturbation": [(s, m) for s in SCENARIOS for m in ("mse_de", "pearson_delta_de")],
        "grn_inference": [("all", "aupr_ratio"), ("all", "epr")], "batch_integration": [("all", "batch_asw")],
    }  # fmt: skip
    paths = []
    for task in tasks:
        for method, centre in centres.items():
            for seed in range(3):
                values = {key: centre + rng.normal(0, 0.02) for key in metrics[task]}
                paths.append(write_run(root, task, method, seed, values))
    return paths


@pytest.mark.parametrize(
    "tasks", [("genetic_perturbation", "grn_inference", "batch_integration"), ("grn_inference", "batch_integration")]
)
def test_fig7_ablations_per_study(tmp_path: Path, tasks: tuple[str, ...]) -> None:
    pdf, png = draw(tmp_path, "fig7", ablation_runs(tmp_path / "runs", tasks))
    assert pdf.read_bytes().startswith(b"%PDF") and png.stat().st_size > 20_000
    stats = pd.read_csv(tmp_path / "fig7.tsv", sep="\t", keep_default_na=False, na_values={"p_value": [""]})
    assert set(stats["method"]) == {"wo_leg", "random_leg", "wo_go", "random_go"}
    shown = {("genetic_perturbation", "mse_de"), ("grn_inference", "aupr_ratio"), ("batch_integration", "batch_asw")}
    assert set(zip(stats["task"], stats["metric"], strict=True)) == {p for p in shown if p[0] in tasks}
    scenarios = SCENARIOS if "genetic_perturbation" in tasks else ()
    assert len(stats) == 4 * (len(scenarios) + 2)
    assert dict(zip(stats["method"], stats["family"], strict=False)) == {
        "wo_leg": "a_leg", "random_leg": "a_leg", "wo_go": "b_go", "random_go": "b_go"
    }  # fmt: skip
    for _, family in stats.groupby("family"):  # BH within each study: the paper's Supplementary Tables 15, 16
        p = family["p_value"].to_numpy()
        order = np.argsort(p)
        expected = np.minimum.accumulate((p[order] * len(p) / np.arange(1, len(p) + 1))[::-1])[::-1]
        np.testing.assert_allclose(family["p_adjusted"].to_numpy()[order], np.minimum(expected, 1), rtol=1e-5)


def test_fidelity_row_for_row_with_the_committed_table(tmp_path: Path) -> None:
    """Every number of reported.tsv, in its order, beside the ablation runs; the rest say why they are absent."""
    reported = read_reported(REPORTED)
    table = fidelity(reported, read_metrics(ablation_runs(tmp_path, ("grn_inference", "batch_integration"))), "demo")
    keys = ["figure", "panel", "task", "method", "scenario", "metric", "source"]
    assert table[keys].equals(reported[keys]) and (table["reported"] == reported["value"]).all()
    ablations = table[table["figure"] == "fig7"]
    assert len(ablations) == 12 and (ablations["n_runs"] == 3).all()
    assert ablations["status"].str.startswith("reproduced at demo scale").all()
    assert ablations["seeds"].eq("0,1,2").all() and ablations["difference"].notna().all()
    absent = table[table["n_runs"] == 0]
    assert absent["difference"].isna().all() and absent["status"].str.match(r"not reproduced: \S").all()
    deepsem = table[(table["figure"] == "fig5") & (table["method"] == "deepsem")].iloc[0]
    assert deepsem["status"] == "not reproduced: method deepsem not configured for grn_inference"


def drug_runs(root: Path) -> list[Path]:
    """Tidy runs of the three drug tasks: scLong and each task's baselines, 3 seeds."""
    rng = np.random.default_rng(3)
    l1000 = ("rmse", "pearson", "spearman", "pos_precision_100", "neg_precision_100")
    tasks = {
        "chemical_perturbation": ({"sclong": 0.5, "deepce": 0.4}, l1000),
        "drug_response": ({"sclong": 0.85, "deepcdr": 0.8, "linear": 0.7}, ("pearson",)),
        "drug_combination": ({"sclong": 0.65, "deepdds": 0.6, "random_forest": 0.55}, ("auroc",)),
    }
    paths = []
    for task, (centres, metrics) in tasks.items():
        for method, centre in centres.items():
            for seed in range(3):
                values = {("all", metric): centre + rng.normal(0, 0.01) for metric in metrics}
                paths.append(write_run(root, task, method, seed, values))
    return paths


def test_fig3_shows_the_five_l1000_metrics(tmp_path: Path) -> None:
    paths = [p for p in drug_runs(tmp_path / "runs") if p.parts[-4] == "chemical_perturbation"]
    pdf, png = draw(tmp_path, "fig3", paths)
    assert pdf.read_bytes().startswith(b"%PDF") and png.stat().st_size > 20_000
    stats = pd.read_csv(tmp_path / "fig3.tsv", sep="\t")
    assert set(stats["metric"]) == {"rmse", "pearson", "spearman", "pos_precision_100", "neg_precision_100"}
    assert set(stats["method"]) == {"deepce"} and (stats["family"] == "fig3").all()


def test_fig4_adjusts_each_task_on_its_own(tmp_path: Path) -> None:
    paths = [p for p in drug_runs(tmp_path / "runs") if p.parts[-4] != "chemical_perturbation"]
    pdf, png = draw(tmp_path, "fig4", paths)
    assert pdf.read_bytes().startswith(b"%PDF") and png.stat().st_size > 20_000
    stats = pd.read_csv(tmp_path / "fig4.tsv", sep="\t")
    assert dict(zip(stats["method"], stats["family"], strict=True)) == {
        "deepcdr": "b_drug_response", "linear": "b_drug_response",
        "deepdds": "c_drug_combination", "random_forest": "c_drug_combination",
    }  # fmt: skip
    assert set(zip(stats["task"], stats["metric"], strict=True)) == {("drug_response", "pearson"),
                                                                     ("drug_combination", "auroc")}
