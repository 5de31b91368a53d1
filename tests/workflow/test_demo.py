"""The demo workflow end to end: `snakemake --profile profiles/local all` in a copy of the repository, then
its report; dry runs of single targets build only what they need."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from safetensors.numpy import load_file

from sclong.figures import FIGURES

REPO = Path(__file__).resolve().parents[2]
COPIED = ["Snakefile", "workflow", "config", "resources/demo", "resources/paper", "profiles", "envs", "src"]
RESULTS = Path("results") / "demo"
VARIANTS = ["sclong", "wo_leg", "wo_go", "random_go"]
DEMO_CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

pytestmark = pytest.mark.workflow


def copy_workflow(work: Path) -> Path:
    """The tracked parts of the workflow that a run needs, copied to ``work``."""
    for item in COPIED:
        source, target = REPO / item, work / item
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return work


def snakemake(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", "2", *args],
        cwd=work, capture_output=True, text=True, check=False,
    )


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """Rule -> job count from the 'Job stats' table of a dry run."""
    lines = dry_run_output.split("Job stats:")[1].splitlines()[3:]
    jobs = {}
    for line in lines:
        fields = line.split()
        if len(fields) != 2 or fields[0] == "total":
            break
        jobs[fields[0]] = int(fields[1])
    return jobs


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = copy_workflow(tmp_path_factory.mktemp("demo"))
    result = snakemake(work, "all")
    assert result.returncode == 0, result.stderr[-6000:]
    return work


def test_knowledge_outputs(demo: Path) -> None:
    knowledge = demo / RESULTS / "knowledge"
    vocabulary = pd.read_csv(knowledge / "vocabulary.tsv", sep="\t")
    assert len(vocabulary) > 1500 and vocabulary["ensembl_id"].is_unique
    assert vocabulary["ensembl_id"].str.match(r"^ENSG\d{11}$").all()
    assert vocabulary["go"].sum() > 0.9 * len(vocabulary)
    edges = pd.read_csv(knowledge / "go_graph.tsv", sep="\t")
    assert edges.groupby("target").size().max() == 20
    assert (edges["source"] != edges["target"]).all() and edges["weight"].between(0, 1, "right").all()
    random = pd.read_csv(knowledge / "go_graph_random.tsv", sep="\t")
    assert random[["source", "target"]].equals(edges[["source", "target"]])
    assert not np.allclose(random["weight"], edges["weight"])
    gene2vec = np.load(knowledge / "gene2vec.npy")
    assert gene2vec.shape == (len(vocabulary), 64) and gene2vec.dtype == np.float32


def test_corpus_outputs(demo: Path) -> None:
    shards = demo / RESULTS / "corpus" / "shards"
    manifest = json.loads((shards / "manifest.json").read_text())
    train, val = np.load(shards / "train.npy"), np.load(shards / "val.npy")
    assert manifest["n_cells"] == len(train) + len(val) > 2500
    assert abs(len(val) / manifest["n_cells"] - 0.05) < 0.01
    assert {d["normalization"] for d in manifest["datasets"]} == {"raw", "log1p"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_pretraining_beats_the_gene_mean_baseline(demo: Path, variant: str) -> None:
    metrics = pd.read_csv(demo / RESULTS / "pretrain" / variant / "metrics.csv").dropna(subset=["val_loss"])
    final = metrics.iloc[-1]
    assert final["val_loss"] < 0.6 * final["baseline_val_mse"], final.to_dict()


def test_random_leg_changes_only_the_mini_encoder(demo: Path) -> None:
    trained = load_file(demo / RESULTS / "pretrain" / "sclong" / "model.safetensors")
    random = load_file(demo / RESULTS / "pretrain" / "random_leg" / "model.safetensors")
    changed = {name for name in trained if not np.array_equal(trained[name], random[name])}
    assert changed and all(name.startswith("mini.") for name in changed)


def test_outputs_land_under_results_only(demo: Path) -> None:
    made = {path.relative_to(demo).parts[0] for path in demo.rglob("*") if path.is_file()}
    assert made - {*{Path(item).parts[0] for item in COPIED}, ".snakemake"} == {"results"}


def test_second_run_has_nothing_to_do(demo: Path) -> None:
    result = snakemake(demo, "-n", "all")
    assert "Nothing to be done" in result.stdout + result.stderr


def planned_outputs(dry_run_output: str) -> dict[str, list[list[str]]]:
    """Rule -> the outputs of each of its planned jobs, from a dry run's job listing."""
    jobs: dict[str, list[list[str]]] = {}
    for block in re.split(r"^rule ", dry_run_output, flags=re.MULTILINE)[1:]:
        rule = block.split(":", 1)[0]
        found = re.search(r"^\s+output: (.+)$", block, flags=re.MULTILINE)
        jobs.setdefault(rule, []).append(found.group(1).split(", ") if found else [])
    return jobs


ABLATION_TASKS = [task for task in FIGURES["fig7"].tasks if task in DEMO_CONFIG["tasks"]]


@pytest.mark.parametrize(
    ("variant", "build"),
    [("wo_go", {"pretrain": 1}), ("random_leg", {"random_leg": 1}), ("sclong", {"pretrain": 1, "random_leg": 1})],
)
def test_one_ablation_reruns_alone(demo: Path, variant: str, build: dict[str, int]) -> None:
    """The README's command reruns only that variant's jobs (sclong: with Random LEG, derived from it) and the
    Fig. 7, statistics and fidelity jobs: no job writes another variant's outputs (checked on a dry run)."""
    weights = str(RESULTS / "pretrain" / variant / "model.safetensors")
    result = snakemake(demo, "-n", f"ablation_{variant}", "--forcerun", weights)
    assert result.returncode == 0, result.stderr[-3000:]
    rebuilt = [variant, "random_leg"] if variant == "sclong" else [variant]
    jobs = planned_jobs(result.stdout)
    tasks = {rule: n for rule, n in jobs.items() if rule.startswith("task_")}
    assert {rule: n for rule, n in jobs.items() if rule not in tasks} == {
        **build, "embed": 2 * len(rebuilt), "stats": 1, "figure": 1, "fidelity": 1, f"ablation_{variant}": 1,
    }  # fmt: skip
    # one job per rebuilt variant and task running it (job_per: method): Fig. 7's tasks, and the others' runs
    # that the reproduced-vs-reported table reads (it reads every run)
    runs_of = [task for task, section in DEMO_CONFIG["tasks"].items() if isinstance(section, dict) for v in rebuilt
               if v in section["methods"]]  # fmt: skip
    assert sum(tasks.values()) == len(runs_of)
    outputs = [path for runs in planned_outputs(result.stdout).values() for job in runs for path in job]
    shared = {str(RESULTS / name) for name in ("stats/fig7.tsv", "figures/fig7.pdf", "figures/fig7.png",
                                                "report/fidelity.tsv")}  # fmt: skip
    of_variant = re.compile(rf"{RESULTS}/(pretrain|embeddings|tasks/\w+)/({'|'.join(rebuilt)})/")
    assert outputs and all(path in shared or of_variant.match(path) for path in outputs), outputs
    for task in ABLATION_TASKS:  # every run of the variant in Fig. 7's tasks is rebuilt
        assert any(path.startswith(f"{RESULTS}/tasks/{task}/{variant}/seed") for path in outputs)


def test_one_target_builds_only_what_it_needs(tmp_path: Path) -> None:
    result = snakemake(copy_workflow(tmp_path), "-n", str(RESULTS / "knowledge" / "go_graph.tsv"))
    assert set(planned_jobs(result.stdout)) == {
        "gene_table", "simulate_demo_cells", "local_census", "corpus_gene_counts", "vocabulary", "go_graph"
    }


@pytest.mark.parametrize("variant", [*VARIANTS, "random_leg"])
def test_embeddings_of_every_variant(demo: Path, variant: str) -> None:
    import anndata as ad

    cells = ad.read_h5ad(demo / RESULTS / "embeddings" / variant / "pbmc68k.h5ad")
    assert cells.obsm["X_sclong"].shape == (700, 65)
    assert np.isfinite(cells.obsm["X_sclong"]).all()
    assert cells.uns["sclong"]["coverage"]["input_mapped"] > 700


@pytest.mark.parametrize("figure", ["fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig8"])
def test_figures_and_their_statistics(demo: Path, figure: str) -> None:
    pdf, png = (demo / RESULTS / "figures" / f"{figure}.{ext}" for ext in ("pdf", "png"))
    assert pdf.read_bytes().startswith(b"%PDF") and png.read_bytes().startswith(b"\x89PNG")
    stats = pd.read_csv(demo / RESULTS / "stats" / f"{figure}.tsv", sep="\t")
    assert (stats["reference"] == "sclong").all() and "sclong" not in set(stats["method"])
    tested = stats.dropna(subset=["p_value"])
    assert ((tested["p_adjusted"] >= tested["p_value"] - 1e-12) & (tested["p_adjusted"] <= 1)).all()
    untested = stats.loc[stats["p_value"].isna(), "note"].astype(str)  # every test ran: an empty float column
    assert untested.str.startswith(("not tested", "not applicable")).all()


def test_every_run_has_tidy_metrics_and_provenance(demo: Path) -> None:
    runs = sorted((demo / RESULTS / "tasks").glob("*/*/seed*/metrics.tsv"))
    tasks = {path.parts[-4] for path in runs}
    assert tasks == {"grn_inference", "batch_integration", "marker_genes", "genetic_perturbation",
                     "chemical_perturbation", "drug_response", "drug_combination"}
    for path in runs:
        table = pd.read_csv(path, sep="\t")
        assert list(table.columns) == ["task", "method", "seed", "scenario", "metric", "value", "note"]
        provenance = json.loads((path.parent / "provenance.json").read_text())
        assert provenance["scale"] == "demo" and len(provenance["settings_sha256"]) == 64
    seeded = {path.parts[-2] for path in runs if path.parts[-3] == "deepsem"}
    assert seeded == {"seed0", "seed1", "seed2"}
    assert {path.parts[-2] for path in runs if path.parts[-3] == "raw"} == {"seed0"}  # deterministic: once


def test_fidelity_has_a_row_for_every_reported_number(demo: Path) -> None:
    reported = pd.read_csv(REPO / "resources" / "paper" / "reported.tsv", sep="\t")
    table = pd.read_csv(demo / RESULTS / "report" / "fidelity.tsv", sep="\t")
    assert len(table) == len(reported)
    ours = table[(table["figure"] == "fig5") & (table["method"] == "sclong")].iloc[0]
    assert ours["n_runs"] == 3 and ours["status"].startswith("reproduced at demo scale")
    ablation = table[(table["figure"] == "fig7") & (table["method"] == "wo_leg") & (table["metric"] == "aupr_ratio")]
    assert ablation["status"].iloc[0].startswith("reproduced at demo scale")  # every task run, not only figures'


def test_report_is_one_html_page_with_figures_and_captions(demo: Path) -> None:
    result = snakemake(demo, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-4000:]
    html = (demo / "report.html").read_text()
    assert "fig5.png" in html and "fig8.png" in html and "fidelity.tsv" in html
    assert "Gene regulatory network inference" in html or "gene regulatory network" in html


DRUG_JOBS = {"task_chemical_perturbation", "task_drug_response", "task_drug_combination", "dataset_folder_demo"}
CELL_JOBS = {"task_grn_inference", "task_batch_integration", "task_marker_genes", "task_genetic_perturbation",
             "dataset_pbmc68k", "dataset_simulated", "dataset_perturbseq", "embed"}


@pytest.mark.parametrize(
    ("figure", "absent"),
    [
        ("fig2", {"task_grn_inference", "task_batch_integration", "task_marker_genes", "dataset_pbmc68k",
                  "dataset_simulated", "embed", *DRUG_JOBS}),
        ("fig3", {"task_drug_response", "task_drug_combination", *CELL_JOBS}),
        ("fig4", {"task_chemical_perturbation", *CELL_JOBS}),
        ("fig5", {"task_batch_integration", "task_marker_genes", "dataset_pbmc68k", "embed", *DRUG_JOBS}),
        ("fig6", {"task_grn_inference", "task_marker_genes", "dataset_pbmc68k", *DRUG_JOBS}),
        ("fig7", {"task_marker_genes", "dataset_pbmc68k", "task_batch_integration",
                  "task_grn_inference_deterministic", *DRUG_JOBS}),
        ("fig8", {"task_grn_inference", "task_batch_integration", "dataset_simulated", "embed", *DRUG_JOBS}),
    ],
)
def test_one_figure_builds_only_what_it_needs(tmp_path: Path, figure: str, absent: set[str]) -> None:
    result = snakemake(copy_workflow(tmp_path), "-n", str(RESULTS / "figures" / f"{figure}.pdf"))
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = planned_jobs(result.stdout)
    assert {"stats", "figure", "pretrain"} <= set(jobs) and not absent & set(jobs), jobs
    assert "fidelity" not in jobs
