"""Downstream tasks of the paper: one module per task, each exposing ``TASK`` (see :mod:`sclong.tasks.base`)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from sclong.errors import ConfigError
from sclong.tasks.base import Task

TASK_MODULES = {
    "grn_inference": "sclong.tasks.grn_inference",
    "batch_integration": "sclong.tasks.batch_integration",
    "marker_genes": "sclong.tasks.marker_genes",
    "genetic_perturbation": "sclong.tasks.genetic_perturbation",
    "chemical_perturbation": "sclong.tasks.chemical_perturbation",
    "drug_response": "sclong.tasks.drug_response",
    "drug_combination": "sclong.tasks.drug_combination",
}


def get_task(name: str) -> Task:
    """The task called ``name`` (its module is imported on first use)."""
    if name not in TASK_MODULES:
        raise ConfigError("task", f"unknown task {name!r} (known: {', '.join(TASK_MODULES)})")
    return importlib.import_module(TASK_MODULES[name]).TASK


def task_settings(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The one settings mapping task ``name`` runs with: its config section plus the settings it shares,
    ``tasks.device``, ``embed.normalization`` and the top-level sections it names (its ``shared_sections``)."""
    return {
        **config["tasks"][name],
        "device": config["tasks"]["device"],
        "normalization": config["embed"]["normalization"],
        **{section: config[section] for section in get_task(name).shared_sections},
    }
