"""Pretrain one scLong variant on a sharded corpus (``python -m sclong.train.pretrain``).

``--settings`` is the workflow config's ``pretrain`` section (less ``variants`` and ``threads``) as one
JSON mapping (:class:`sclong.train.settings.TrainConfig`), ``--model-config`` the ``model`` section;
paths are flags. ``--vocabulary`` and ``--gene-table`` are the files the corpus was built from: they
must match the corpus's gene count and go into the checkpoint.

Outputs in ``--out``: the checkpoint bundle (:func:`sclong.model.save_model`: ``model.safetensors``,
``model_config.json``, ``vocabulary.tsv``, ``gene_table.tsv.gz``, ``manifest.json``),
``train_config.json`` (settings, model, inputs with their sha256, world size and global batch),
``metrics.csv`` (one row per logged step; grows during the run), ``checkpoint/`` (resume state) and,
written last when training finished, ``DONE`` (a JSON summary). Rerunning the same command resumes
from the latest checkpoint. Run under ``torchrun`` for several processes (see
:mod:`sclong.train.launch`).

At start-up the process asks for SIGTERM when its parent (``torchrun``, or whatever started it) exits
(:mod:`sclong.train.lifetime`), so killing the job never leaves it training on its own.

Exit codes: 0 finished; 1 input or configuration error; 75 stopped by SIGTERM after writing a
checkpoint (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from sclong.errors import ConfigError, InputError
from sclong.io.atomic import atomic_path
from sclong.io.hashing import file_sha256
from sclong.io.shards import ShardedCSR
from sclong.model import ModelConfig, ScLong, save_model
from sclong.model.checkpoint import check_gene_files
from sclong.settings import add_settings_argument, from_mapping, parse_settings
from sclong.train import distributed
from sclong.train.data import load_split
from sclong.train.lifetime import die_with_parent, expected_parent
from sclong.train.loop import Trainer
from sclong.train.runtime import EXIT_DONE, StopFlag, seed_everything
from sclong.train.settings import SECTION, TrainConfig

VARIANTS = {
    "sclong": {"use_leg": True, "use_go": True},
    "wo_leg": {"use_leg": False, "use_go": True},
    "wo_go": {"use_leg": True, "use_go": False},
    "random_go": {"use_leg": True, "use_go": True},  # the rule passes the random-weight graph file
}

log = logging.getLogger(__name__)


def read_model_config(source: str, key: str | None, n_genes: int, variant: str) -> ModelConfig:
    """The model config from inline JSON or a JSON/YAML file (``key``: dotted path to a sub-mapping).

    ``n_genes`` comes from the corpus when absent; the variant sets ``use_leg``/``use_go`` (a mapping
    that sets them otherwise is refused).
    """
    if source.lstrip().startswith("{"):
        data: Any = json.loads(source)
    else:
        path = Path(source)
        try:
            text = path.read_text()
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, json.JSONDecodeError, yaml.YAMLError) as err:
            raise InputError(path, f"unreadable model config ({err})") from None
    for part in key.split(".") if key else []:
        if not isinstance(data, dict) or part not in data:
            raise ConfigError(key or "", f"not found in the model config {source}")
        data = data[part]
    if not isinstance(data, dict):
        raise ConfigError(key or "model", "the model config must be a mapping")
    data = dict(data)
    if data.setdefault("n_genes", n_genes) != n_genes:
        raise ConfigError("model.n_genes", f"model config says {data['n_genes']}, the corpus has {n_genes} genes")
    for name, value in VARIANTS[variant].items():
        if data.setdefault(name, value) != value:
            raise ConfigError(f"model.{name}", f"is {data[name]}, but variant {variant} needs {value}")
    return ModelConfig.from_dict(data)


def build_model(config: ModelConfig, gene2vec_file: str, go_graph_file: str | None) -> ScLong:
    """Build :class:`ScLong` from the Gene2vec matrix and (unless ``use_go`` is off) the GO graph TSV."""
    try:
        gene2vec = torch.from_numpy(np.load(gene2vec_file).astype(np.float32))
    except (OSError, ValueError) as err:
        raise InputError(gene2vec_file, f"unreadable Gene2vec matrix ({err})") from None
    if gene2vec.ndim != 2 or len(gene2vec) != config.n_genes:
        raise InputError(gene2vec_file, f"Gene2vec matrix of shape {tuple(gene2vec.shape)}, expected "
                                        f"{config.n_genes} rows (one per corpus gene)")  # fmt: skip
    if gene2vec.shape[1] != config.gene_dim:
        raise ConfigError(
            "model.gene_dim",
            f"is {config.gene_dim}, but the Gene2vec matrix {gene2vec_file} has {gene2vec.shape[1]} columns "
            "(gene2vec.dim): they must be equal",
        )
    if config.use_go:
        if go_graph_file is None:
            raise ConfigError("go_graph", "variant needs --go-graph (use_go is on)")
        from sclong.knowledge.go_graph import read_graph

        edge_index, edge_weight = (torch.from_numpy(np.asarray(a)) for a in read_graph(go_graph_file))
    else:
        edge_index, edge_weight = torch.zeros(2, 0, dtype=torch.long), torch.zeros(0)
    return ScLong(config, gene2vec, edge_index.long(), edge_weight.float())


def parser() -> argparse.ArgumentParser:
    """The command-line interface: config sections as JSON, paths and operational flags."""
    p = argparse.ArgumentParser(prog="python -m sclong.train.pretrain", description=__doc__.split("\n")[0])
    add_settings_argument(p, SECTION)
    p.add_argument("--model-config", required=True, help="model config: inline JSON or a .json/.yaml file")
    p.add_argument(
        "--model-config-key", help="dotted key of the model mapping inside the file, e.g. model"
    )
    p.add_argument("--variant", required=True, choices=sorted(VARIANTS))
    p.add_argument("--corpus", required=True, help="sharded CSR corpus directory (with train.npy, val.npy)")
    p.add_argument("--gene2vec", required=True, help="float32 [n_genes, gene_dim] .npy")
    p.add_argument("--go-graph", help="GO graph TSV (not needed for wo_go)")
    p.add_argument("--vocabulary", required=True, help="vocabulary.tsv of the corpus (copied into the checkpoint)")
    p.add_argument(
        "--gene-table", required=True, help="gene table TSV(.gz) of the vocabulary (copied into the checkpoint)"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard scalars even if installed")
    return p


def train_config(settings: str) -> TrainConfig:
    """The :class:`TrainConfig` of a ``--settings`` JSON mapping."""
    return from_mapping(TrainConfig, parse_settings(settings, SECTION), SECTION)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def main(argv: list[str]) -> int:
    """Run (or resume) one pretraining run; returns the exit code."""
    die_with_parent(expected_parent())
    opts = parser().parse_args(argv)
    config = train_config(opts.settings)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    ctx = distributed.init(opts.device)
    try:
        stop = StopFlag()
        stop.install()
        seed_everything(config.seed, config.deterministic)
        corpus = ShardedCSR(opts.corpus)
        check_gene_files(opts.vocabulary, opts.gene_table, corpus.n_genes)
        model_config = read_model_config(
            opts.model_config, opts.model_config_key, corpus.n_genes, opts.variant
        )
        model = build_model(model_config, opts.gene2vec, opts.go_graph)
        inputs = {
            "corpus_manifest": Path(opts.corpus) / "manifest.json",
            "gene2vec": opts.gene2vec,
            "vocabulary": opts.vocabulary,
            "gene_table": opts.gene_table,
            **({"go_graph": opts.go_graph} if model_config.use_go else {}),
        }
        digests = {name: file_sha256(path) for name, path in inputs.items()}
        train_cells = load_split(opts.corpus, "train", corpus.n_cells)
        val_cells = load_split(opts.corpus, "val", corpus.n_cells)
        out = Path(opts.out)
        trainer = Trainer(
            config, ctx, corpus, train_cells, val_cells, model, out, stop,
            progress=not opts.no_progress, tensorboard=not opts.no_tensorboard,
        )  # fmt: skip
        code = trainer.run()
        if code != EXIT_DONE or not ctx.is_main:
            return code
        for name, path in inputs.items():  # the checkpoint must carry the files it was trained with
            if file_sha256(path) != digests[name]:
                raise InputError(path, "changed during training: re-run pretraining")
        record = {
            "variant": opts.variant,
            "train": config.to_dict(),
            "model": model_config.to_dict(),
            "inputs": {name: {"path": str(path), "sha256": digests[name]} for name, path in inputs.items()},
            "world_size": ctx.world_size,
            "global_batch": trainer.plan.global_batch,
            "device": ctx.device.type,
            "n_train_cells": len(train_cells),
            "n_val_cells": len(trainer.val_cells),
            "steps": trainer.step,
            "sclong_version": importlib.metadata.version("sclong"),
            "torch_version": torch.__version__,
        }
        record["config_hash"] = hashlib.sha256(
            json.dumps({k: record[k] for k in ("variant", "train", "model")}, sort_keys=True).encode()
        ).hexdigest()
        save_model(out, trainer.module, vocabulary=opts.vocabulary, gene_table=opts.gene_table)
        write_json(out / "train_config.json", record)
        val_loss, baseline = trainer.last_val or (float("nan"), float("nan"))
        write_json(
            out / "DONE",
            {
                "steps": trainer.step,
                "val_loss": val_loss,
                "baseline_val_mse": baseline,
                "model_sha256": file_sha256(out / "model.safetensors"),
                "config_hash": record["config_hash"],
            },
        )
        log.info(
            "finished: val masked MSE %.4f vs gene-mean baseline %.4f; outputs in %s", val_loss, baseline, out
        )
        return EXIT_DONE
    finally:
        distributed.shutdown(ctx)


if __name__ == "__main__":
    from sclong.cli import run_module_main

    sys.exit(run_module_main("sclong.train.pretrain", sys.argv[1:]))
