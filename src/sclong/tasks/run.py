"""Run one method of one task for every given seed: ``python -m sclong.tasks.run``.

Writes, under ``--out-dir`` (``<results_dir>/tasks/<task>/<method>``), one directory per seed holding
``metrics.tsv`` (the tidy table of :mod:`sclong.tasks.base`), ``provenance.json`` and the run's artifact
tables, each seed directory renamed into place only when complete. Provenance: the task settings as given
and their sha256, the seed, the scale, the package version and the sha256 of every input file (for a
checkpoint, of its weights; an embedding also records the sha256 of the weights it was made with, so that
figures can check that every task's runs of a model variant share one checkpoint).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
import time
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from sclong.cli import run_module_main
from sclong.errors import ConfigError, InputError
from sclong.io.atomic import atomic_path
from sclong.io.hashing import file_sha256
from sclong.settings import add_settings_argument, from_mapping, parse_settings
from sclong.tasks import get_task
from sclong.tasks.base import METRICS_FILE, PROVENANCE_FILE, RunResult, Task, metrics_frame

log = logging.getLogger(__name__)

CHECKPOINT_WEIGHTS = "model.safetensors"
EMBEDDING_UNS_KEY = "sclong"  # sclong.embedding.UNS_KEY (that module imports torch)


def input_digest(name: str, path: Path) -> str:
    """sha256 of an input file; for a checkpoint directory, of its weights; for another folder (a folder
    dataset of the drug tasks), of the lines ``<relative path> <sha256>`` of its files in sorted order."""
    if path.is_dir() and name == "checkpoint":
        path = path / CHECKPOINT_WEIGHTS
    elif path.is_dir():
        files = sorted(f for f in path.rglob("*") if f.is_file())
        lines = "\n".join(f"{f.relative_to(path).as_posix()} {file_sha256(f)}" for f in files)
        return hashlib.sha256(lines.encode()).hexdigest()
    return file_sha256(path)


def input_record(name: str, path: Path) -> dict[str, str]:
    """Provenance of one input: path and sha256, and for an embedding the checkpoint it was made with."""
    record = {"path": str(path), "sha256": input_digest(name, path)}
    if name == "embedding":
        checkpoint = embedding_checkpoint(path)
        if checkpoint is not None:
            record["checkpoint_sha256"] = checkpoint
    return record


def embedding_checkpoint(path: Path) -> str | None:
    """The weights sha256 ``sclong embed`` recorded in an embedding file, or ``None`` if it records none."""
    import anndata as ad

    adata = ad.read_h5ad(path, backed="r")
    try:
        value = adata.uns.get(EMBEDDING_UNS_KEY, {}).get("checkpoint_sha256")
    finally:
        adata.file.close()
    return None if value is None else str(value)


def seed_dir(out_dir: Path, seed: int) -> Path:
    """Where the outputs of one seed go."""
    return out_dir / f"seed{seed}"


def run_method(
    task: Task,
    method: str,
    seeds: Sequence[int],
    settings_json: str,
    inputs: Mapping[str, Path],
    out_dir: Path,
    scale: str,
) -> None:
    """Load the inputs of ``method`` once, then run and write every seed."""
    key = f"tasks.{task.name}"
    task.check_method(method, f"{key}.methods")
    settings = from_mapping(task.settings_type, parse_settings(settings_json, key), key)
    needed = task.inputs(method)
    missing = [name for name in needed if name not in inputs]
    if missing:
        raise ConfigError(key, f"method {method} needs input(s) {', '.join(missing)}")
    for name in needed:
        if not inputs[name].exists():
            raise InputError(inputs[name], f"{name} input of {task.name}/{method} not found")
    provenance: dict[str, Any] = {
        "task": task.name,
        "method": method,
        "scale": scale,
        "settings": json.loads(settings_json),
        "settings_sha256": hashlib.sha256(settings_json.encode()).hexdigest(),
        "package_version": version("sclong"),
        "inputs": {name: input_record(name, inputs[name]) for name in needed},
    }
    started = time.perf_counter()
    data = task.load(method, {name: inputs[name] for name in needed}, settings)
    log.info("%s/%s: inputs loaded in %.1f s", task.name, method, time.perf_counter() - started)
    for seed in seeds:
        started = time.perf_counter()
        _seed_everything(seed)
        result = task.run(method, seed, data, settings)
        _write_seed(task, method, seed, result, {**provenance, "seed": seed}, seed_dir(out_dir, seed))
        log.info("%s/%s seed %d: %d metrics in %.1f s", task.name, method, seed, len(result.metrics),
                 time.perf_counter() - started)  # fmt: skip


def _seed_everything(seed: int) -> None:
    """Seed the global generators too, for libraries that draw from them."""
    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def _write_seed(task: Task, method: str, seed: int, result: RunResult, provenance: dict[str, Any], path: Path) -> None:
    frame = metrics_frame(task.name, method, seed, result.metrics)
    with atomic_path(path, directory=True) as tmp:
        frame.to_csv(tmp / METRICS_FILE, sep="\t", index=False, float_format="%.10g")
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
        for name, table in result.artifacts.items():
            table.to_csv(tmp / f"{name}.tsv", sep="\t", index=False, float_format="%.8g")


def _parse_inputs(pairs: Sequence[str]) -> dict[str, Path]:
    inputs = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise ConfigError("--input", f"expected NAME=PATH, got {pair!r}")
        inputs[name] = Path(path)
    return inputs


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`run_method`."""
    parser = argparse.ArgumentParser(prog="python -m sclong.tasks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--task", required=True, help="task name, e.g. grn_inference")
    parser.add_argument("--method", required=True, help="a model variant or one of the task's baselines")
    parser.add_argument("--seeds", type=int, nargs="+", required=True, help="seeds to run (each its own directory)")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=PATH", help="an input file of the task")
    parser.add_argument("--scale", required=True, help="the config's scale label (recorded)")
    parser.add_argument("--out-dir", required=True, type=Path, help="results/<...>/tasks/<task>/<method>")
    add_settings_argument(parser, "tasks.<task>")
    args = parser.parse_args(argv)
    task = get_task(args.task)
    run_method(task, args.method, args.seeds, args.settings, _parse_inputs(args.input), args.out_dir, args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
