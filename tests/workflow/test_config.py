"""The configuration: schema validation from the command line, the paper config, env/pyproject agreement."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from sclong.config import check_config, load_schema, validate_config, write_scale_stamp
from sclong.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
CONDA_TO_PYPI = {"pytorch": "torch", "pytorch_geometric": "torch-geometric", "python-xxhash": "xxhash"}


def snakemake(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, check=False)


def demo_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    validate_config(yaml.safe_load((REPO / "config" / name).read_text()), load_schema(REPO / "config" / "schema.yaml"))


def test_every_schema_key_is_described() -> None:
    def walk(node: dict, where: str) -> list[str]:
        missing = []
        for key, sub in node.get("properties", {}).items():
            if "description" not in sub:
                missing.append(f"{where}{key}")
            missing += walk(sub, f"{where}{key}.")
        return missing

    assert walk(load_schema(REPO / "config" / "schema.yaml"), "") == []


def test_every_schema_key_is_documented_in_config_readme() -> None:
    readme = (REPO / "config" / "README.md").read_text()
    schema = load_schema(REPO / "config" / "schema.yaml")
    top_level = list(schema["properties"])
    nested = [f"{k}.{sub}" for k, v in schema["properties"].items() for sub in v.get("properties", {})]
    assert [key for key in top_level + nested if f"`{key}`" not in readme] == []


def test_misspelled_key_fails_fast_with_one_line(tmp_path: Path) -> None:
    config = demo_config()
    config["corpus"]["min_nonzeros"] = config["corpus"].pop("min_nonzero")
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(config))
    started = time.monotonic()
    result = snakemake("-n", "--configfile", str(bad))
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 5, f"config error took {elapsed:.1f} s"
    lines = [line for line in result.stderr.splitlines() if "corpus.min_nonzeros" in line]
    assert lines == ["invalid configuration: config key 'corpus.min_nonzeros': unknown key (allowed here: "
                     "cells_per_shard, census, local_census, max_value, min_genes_per_dataset, min_nonzero, "
                     "normalization, split_seed, val_fraction)"]


def test_wrong_type_and_missing_file_name_the_key(tmp_path: Path) -> None:
    schema = load_schema(REPO / "config" / "schema.yaml")
    config = demo_config()
    config["go_graph"]["top_k"] = "twenty"
    with pytest.raises(ConfigError, match="'go_graph.top_k'"):
        validate_config(config, schema)
    config = demo_config()
    config["sources"]["go_obo"] = {"path": "resources/demo/nope.obo"}
    bad = tmp_path / "missing.yaml"
    bad.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--configfile", str(bad))
    assert "config key 'sources.go_obo.path': file not found: resources/demo/nope.obo" in result.stderr


def test_paper_config_dry_runs() -> None:
    result = snakemake("-n", "all", "--configfile", "config/paper.yaml")
    assert result.returncode == 0, result.stderr[-3000:]


def pyproject_requirements() -> dict[str, SpecifierSet]:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    return {r.name.lower(): r.specifier for r in requirements}


CONDA_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)\s*(?:\[version='(?P<bracketed>[^']*)'.*\]|(?P<plain>.*))$")


def env_requirements(path: Path) -> dict[str, SpecifierSet]:
    """Package -> version range of a conda env file (conda and pip entries, PyPI names)."""
    specs: dict[str, SpecifierSet] = {}
    for entry in yaml.safe_load(path.read_text())["dependencies"]:
        for line in entry["pip"] if isinstance(entry, dict) else [entry]:
            match = CONDA_SPEC.match(line)
            version = match["bracketed"] or match["plain"] or ""
            if version.startswith("=") and not version.startswith("=="):
                version = f"=={version[1:]}.*"
            name = CONDA_TO_PYPI.get(match["name"], match["name"]).lower()
            specs[name] = SpecifierSet(version)
    return specs


@pytest.mark.parametrize("env", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_env_versions_match_pyproject(env: Path) -> None:
    project = pyproject_requirements()
    mismatched = {
        name: (str(spec), str(project[name]))
        for name, spec in env_requirements(env).items()
        if name in project and spec != project[name]
    }
    assert mismatched == {}


def _with(path: str, value: object) -> dict:
    config = demo_config()
    *parents, last = path.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("gene2vec.dim", 32, "config key 'gene2vec.dim': is 32 but model.gene_dim is 64"),
        ("model.top_k", 5000, "config key 'model.top_k': is 5000, but the gene table has only 2000 genes"),
        ("go_graph.top_k", 2000, "config key 'go_graph.top_k': is 2000, but the gene table has only 2000 genes"),
        ("embed.variants", ["sclong", "wo_go"], "config key 'embed.variants': 'wo_go' is not in pretrain.variants"),
        ("embed.datasets", ["pbmc68k", "missing"], "config key 'embed.datasets': 'missing' is not in datasets"),
        ("datasets.mine", {"path": "data/mine.h5ad"},
         "config key 'datasets.mine.path': file not found: data/mine.h5ad"),
        ("datasets.mine", {"path": "results/paper/datasets/x.h5ad"},
         "config key 'datasets.mine.path': results/paper/datasets/x.h5ad lies in another result tree than results_dir"),
        ("tasks.grn_inference.methods", ["sclong", "gears"],
         "config key 'tasks.grn_inference.methods': unknown method 'gears' for grn_inference"),
        ("tasks.batch_integration.dataset", "pancreas",
         "config key 'tasks.batch_integration.dataset': 'pancreas' is not in datasets"),
        ("corpus.census.uri", "results/demo/corpus/local_census",
         "config key 'corpus.census.uri': must be null with corpus.local_census"),
        ("tasks.genetic_perturbation.model.mlp_sizes", [200, 400, 200],
         "config key 'tasks.genetic_perturbation.model.mlp_sizes': starts with 200, but the model's representations "
         "have model.gene_dim 64"),
        ("tasks.drug_combination.model.epochs", 1,  # a task's own settings check, before any job
         "config key 'tasks.drug_combination.model.warmup_epochs': must be >= 0 and below epochs (1)"),
    ],
)
def test_cross_key_errors_name_the_key(path: str, value: object, message: str) -> None:
    config = _with(path, value)
    if path == "embed.variants":
        config["pretrain"]["variants"] = ["sclong"]
        config["tasks"]["grn_inference"]["methods"] = ["sclong"]
    validate_config(config, load_schema(REPO / "config" / "schema.yaml"))
    with pytest.raises(ConfigError) as caught:
        check_config(config, REPO)
    assert str(caught.value).startswith(message)


def test_a_result_tree_holds_one_scale(tmp_path: Path) -> None:
    config = demo_config()
    config["results_dir"] = str(tmp_path / "results")
    write_scale_stamp(config, REPO)
    check_config(config, REPO)
    config["scale"] = "paper"
    with pytest.raises(ConfigError, match="holds demo-scale results; give paper its own tree"):
        check_config(config, REPO)


def test_demo_and_paper_trees_differ() -> None:
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
    assert demo_config()["results_dir"] != paper["results_dir"]
    result = snakemake("-n", "--configfile", "config/paper.yaml", "--", "results/paper/knowledge/vocabulary.tsv")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "results/demo" not in result.stdout
