"""Validation of the workflow configuration against config/schema.yaml, reported as one line."""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sclong.data.file_sets import check_roles, dataset_layout
from sclong.errors import ConfigError

SCALE_STAMP = ".sclong-scale"


def load_schema(path: str | Path) -> dict[str, Any]:
    """Read the JSON Schema (written as YAML)."""
    with open(path) as handle:
        return yaml.safe_load(handle)


def _key_of(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def _specificity(error: jsonschema.ValidationError) -> tuple[int, int]:
    rank = {"additionalProperties": 0, "type": 2, "required": 2}.get(str(error.validator), 1)
    return (-len(error.absolute_path), rank)


def _describe(error: jsonschema.ValidationError) -> ConfigError:
    if error.context:  # a oneOf/anyOf: report the branch error that says most about the value
        return _describe(min(error.context, key=_specificity))
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        prefix = _key_of(error)
        key = f"{prefix}.{unknown[0]}" if prefix != "<top level>" else unknown[0]
        return ConfigError(key, f"unknown key (allowed here: {', '.join(allowed)})")
    if error.validator == "required":
        missing = next(k for k in error.validator_value if k not in error.instance)
        prefix = _key_of(error)
        return ConfigError(f"{prefix}.{missing}" if prefix != "<top level>" else missing, "is required")
    return ConfigError(_key_of(error), error.message)


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first offending key, deepest error first."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (-len(e.absolute_path), e.path))
    if errors:
        raise _describe(errors[0])


def check_source_paths(sources: Mapping[str, Any], root: Path) -> None:
    """Every source given as a local ``path`` must exist."""
    for name, source in sources.items():
        if source and "path" in source and not (root / source["path"]).exists():
            raise ConfigError(f"sources.{name}.path", f"file not found: {source['path']}")


def check_config(config: Mapping[str, Any], root: Path) -> None:
    """Checks across keys that the schema cannot express; raise :class:`ConfigError` naming the key.

    Run after :func:`validate_config`, before any job starts: local files exist, names refer to defined
    datasets and variants, sizes agree, and no input comes from another config's result tree.
    """
    check_source_paths(config["sources"], root)
    _check_results_dir(config, root)
    corpus = config["corpus"]
    if corpus["local_census"] and corpus["census"]["uri"] is not None:
        raise ConfigError("corpus.census.uri", "must be null with corpus.local_census (its store is built for you)")
    for name, dataset in config["datasets"].items():
        if dataset.get("builtin") in ("simulated", "perturbseq") and not corpus["local_census"]:
            raise ConfigError(f"datasets.{name}.builtin", f"'{dataset['builtin']}' needs corpus.local_census (the "
                                                          "demo simulator)")  # fmt: skip
        if "path" in dataset:
            _check_input_path(config, root, f"datasets.{name}.path", dataset["path"])
        for role, file in dataset.get("files", {}).items():
            if not config["sources"].get(file["source"]):
                raise ConfigError(f"datasets.{name}.files.{role}.source", f"{file['source']!r} is not a source")
        if "files" in dataset and dataset_layout(dataset) != "h5ad":
            check_roles(dataset["format"], set(dataset["files"]), f"datasets.{name}.files")
        if "folder" in dataset:
            _check_input_path(config, root, f"datasets.{name}.folder", dataset["folder"])
    _check_subset(config["embed"]["datasets"], config["datasets"], "embed.datasets", "datasets")
    _check_subset(config["embed"]["variants"], config["pretrain"]["variants"], "embed.variants", "pretrain.variants")
    if config["gene2vec"]["dim"] != config["model"]["gene_dim"]:
        raise ConfigError(
            "gene2vec.dim", f"is {config['gene2vec']['dim']} but model.gene_dim is {config['model']['gene_dim']}"
        )
    _check_tasks(config)
    n_genes = _local_gene_count(config["sources"]["gene_table"], root)
    for key, value in (("model.top_k", config["model"]["top_k"]), ("go_graph.top_k", config["go_graph"]["top_k"])):
        if n_genes is not None and value >= n_genes:
            raise ConfigError(key, f"is {value}, but the gene table has only {n_genes} genes")


def _check_tasks(config: Mapping[str, Any]) -> None:
    """Each task's methods are known to it, its model variants are built, its dataset is defined, and its
    settings build (the checks across keys that the schema cannot state fail here, before any job)."""
    from sclong.settings import from_mapping
    from sclong.tasks import TASK_MODULES, get_task, task_settings
    from sclong.tasks.base import MODEL_METHODS

    for name in TASK_MODULES:
        section = config["tasks"][name]
        key = f"tasks.{name}"
        _check_subset([section["dataset"]], config["datasets"], f"{key}.dataset", "datasets")
        task = get_task(name)
        layout = dataset_layout(config["datasets"][section["dataset"]])
        if layout not in task.dataset_layouts:
            raise ConfigError(f"{key}.dataset", f"{section['dataset']!r} is a dataset of kind {layout}; {name} reads "
                                                f"{' or '.join(task.dataset_layouts)} datasets")  # fmt: skip
        for method in section["methods"]:
            task.check_method(method, f"{key}.methods")
        variants = [m for m in section["methods"] if m in MODEL_METHODS]
        _check_subset(variants, config["pretrain"]["variants"], f"{key}.methods", "pretrain.variants")
        from_mapping(task.settings_type, task_settings(config, name), key)
    perturbation = config["tasks"]["genetic_perturbation"]
    width, gene_dim = perturbation["model"]["mlp_sizes"][0], config["model"]["gene_dim"]
    if width != gene_dim and any(m in MODEL_METHODS for m in perturbation["methods"]):
        raise ConfigError(
            "tasks.genetic_perturbation.model.mlp_sizes",
            f"starts with {width}, but the model's representations have model.gene_dim {gene_dim}",
        )


def _check_results_dir(config: Mapping[str, Any], root: Path) -> None:
    """``results_dir`` holds one scale: a stamp written by the first run names it."""
    stamp = root / config["results_dir"] / SCALE_STAMP
    if stamp.is_file() and (found := stamp.read_text().strip()) != config["scale"]:
        raise ConfigError(
            "results_dir", f"{config['results_dir']} holds {found}-scale results; give {config['scale']} its own tree"
        )


def write_scale_stamp(config: Mapping[str, Any], root: Path) -> None:
    """Mark ``results_dir`` as holding ``scale`` (checked by :func:`check_config` on every later run)."""
    stamp = root / config["results_dir"] / SCALE_STAMP
    stamp.parent.mkdir(parents=True, exist_ok=True)
    if not stamp.is_file():
        stamp.write_text(config["scale"] + "\n")


def _check_input_path(config: Mapping[str, Any], root: Path, key: str, path: str) -> None:
    results = Path(config["results_dir"])
    if Path(path).parts[:1] == ("results",) and not Path(path).is_relative_to(results):
        raise ConfigError(key, f"{path} lies in another result tree than results_dir ({results})")
    if not Path(path).is_relative_to(results) and not (root / path).exists():
        raise ConfigError(key, f"file not found: {path}")


def _check_subset(names: list[str], defined: Any, key: str, where: str) -> None:
    unknown = [name for name in names if name not in defined]
    if unknown:
        raise ConfigError(key, f"{unknown[0]!r} is not in {where} ({', '.join(defined) or 'none defined'})")


def _local_gene_count(source: Mapping[str, Any] | None, root: Path) -> int | None:
    """Rows of a committed gene table in the workflow's own format (``None`` for downloads)."""
    if not source or "path" not in source or source.get("format", "sclong") != "sclong":
        return None
    path = root / source["path"]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return sum(1 for _ in handle) - 1
