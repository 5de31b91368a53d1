"""Pretrain one scLong variant on a sharded corpus (``python -m sclong.train.pretrain``).

Outputs in ``--out``: ``model.safetensors`` + ``model_config.json`` (:func:`sclong.model.save_model`),
``train_config.json``, ``metrics.csv`` (one row per logged step; grows during the run), ``checkpoint/``
(resume state) and, written last when training finished, ``DONE`` (a JSON summary). Rerunning the same
command resumes from the latest checkpoint. Run under ``torchrun`` for several processes (see
:mod:`sclong.train.launch`).

Exit codes: 0 finished; 1 input or configuration error; 75 stopped by SIGTERM after writing a
checkpoint (rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import dataclasses
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
from sclong.train import distributed
from sclong.train.data import load_split
from sclong.train.loop import Trainer
from sclong.train.runtime import EXIT_DONE, StopFlag, seed_everything
from sclong.train.settings import TrainConfig

VARIANTS = {
    "sclong": {"use_leg": True, "use_go": True},
    "wo_leg": {"use_leg": False, "use_go": True},
    "wo_go": {"use_leg": True, "use_go": False},
    "random_go": {"use_leg": True, "use_go": True},  # the rule passes the random-weight graph file
}

log = logging.getLogger(__name__)


def read_model_config(source: str, key: str | None, n_genes: int, variant: str) -> ModelConfig:
    """The model config from inline JSON or a JSON/YAML file (``key``: dotted path to a sub-mapping).

    ``n_genes`` comes from the corpus when absent; the variant sets ``use_leg``/``use_go``.
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
        raise ConfigError("n_genes", f"model config says {data['n_genes']}, the corpus has {n_genes} genes")
    return dataclasses.replace(ModelConfig.from_dict(data), **VARIANTS[variant])


def build_model(config: ModelConfig, gene2vec_file: str, go_graph_file: str | None) -> ScLong:
    """Build :class:`ScLong` from the Gene2vec matrix and (unless ``use_go`` is off) the GO graph TSV."""
    try:
        gene2vec = torch.from_numpy(np.load(gene2vec_file).astype(np.float32))
    except (OSError, ValueError) as err:
        raise InputError(gene2vec_file, f"unreadable Gene2vec matrix ({err})") from None
    if config.use_go:
        if go_graph_file is None:
            raise ConfigError("go_graph", "variant needs --go-graph (use_go is on)")
        from sclong.knowledge.go_graph import read_graph

        edge_index, edge_weight = (torch.from_numpy(np.asarray(a)) for a in read_graph(go_graph_file))
    else:
        edge_index, edge_weight = torch.zeros(2, 0, dtype=torch.long), torch.zeros(0)
    return ScLong(config, gene2vec, edge_index.long(), edge_weight.float())


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    defaults = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m sclong.train.pretrain", description=__doc__.split("\n")[0])
    p.add_argument("--corpus", required=True, help="sharded CSR corpus directory (with train.npy, val.npy)")
    p.add_argument("--gene2vec", required=True, help="float32 [n_genes, gene_dim] .npy")
    p.add_argument("--go-graph", help="GO graph TSV (not needed for wo_go)")
    p.add_argument("--model-config", required=True, help="model config: inline JSON or a .json/.yaml file")
    p.add_argument(
        "--model-config-key", help="dotted key of the model mapping inside the file, e.g. pretrain.model"
    )
    p.add_argument("--variant", choices=sorted(VARIANTS), default="sclong")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    h = "global cells per optimizer step (over accumulation and processes)"
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help=h)
    p.add_argument(
        "--grad-accum", type=int, default=defaults.grad_accum, help="micro-batches per optimizer step"
    )
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--max-steps", type=int, help="optimizer steps (overrides --epochs)")
    p.add_argument("--max-lr", type=float, default=defaults.max_lr)
    p.add_argument("--min-lr", type=float, default=defaults.min_lr)
    p.add_argument(
        "--first-cycle", type=int, default=defaults.first_cycle, help="first cosine cycle, in units"
    )
    p.add_argument("--cycle-mult", type=float, default=defaults.cycle_mult)
    p.add_argument("--warmup", type=int, default=defaults.warmup, help="warm-up units at each cycle start")
    p.add_argument("--gamma", type=float, default=defaults.gamma, help="peak lr factor per cycle")
    p.add_argument("--schedule-unit", choices=["steps", "epochs"], default=defaults.schedule_unit)
    p.add_argument("--clip-norm", type=float, default=defaults.clip_norm, help="gradient norm clip (0: none)")
    p.add_argument("--mask-prob", type=float, default=defaults.mask_prob)
    p.add_argument("--mask-token-prob", type=float, default=defaults.mask_token_prob)
    p.add_argument(
        "--val-every", type=int, default=defaults.val_every, help="validate every N steps (and at end)"
    )
    p.add_argument(
        "--val-cells", type=int, help="validate on a fixed random subset of N held-out cells (default all)"
    )
    p.add_argument("--eval-batch-size", type=int, default=defaults.eval_batch_size)
    p.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    p.add_argument("--log-every", type=int, default=defaults.log_every)
    p.add_argument("--num-workers", type=int, default=defaults.num_workers, help="DataLoader workers")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16"],
        default=defaults.precision,
        help="auto: bf16 autocast on CUDA, fp32 on CPU",
    )
    p.add_argument("--deterministic", action="store_true", help="deterministic torch algorithms")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard scalars even if installed")
    return p


def train_config(opts: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed options."""
    for name in (
        "batch_size",
        "grad_accum",
        "epochs",
        "val_every",
        "checkpoint_every",
        "log_every",
        "eval_batch_size",
        "first_cycle",
    ):
        if getattr(opts, name) < 1:
            raise ConfigError(name, f"must be at least 1, got {getattr(opts, name)}")
    return TrainConfig(
        batch_size=opts.batch_size,
        grad_accum=opts.grad_accum,
        epochs=opts.epochs,
        max_steps=opts.max_steps,
        max_lr=opts.max_lr,
        min_lr=opts.min_lr,
        first_cycle=opts.first_cycle,
        cycle_mult=opts.cycle_mult,
        warmup=opts.warmup,
        gamma=opts.gamma,
        schedule_unit=opts.schedule_unit,
        clip_norm=opts.clip_norm or None,
        mask_prob=opts.mask_prob,
        mask_token_prob=opts.mask_token_prob,
        val_every=opts.val_every,
        val_cells=opts.val_cells,
        eval_batch_size=opts.eval_batch_size,
        checkpoint_every=opts.checkpoint_every,
        log_every=opts.log_every,
        num_workers=opts.num_workers,
        seed=opts.seed,
        precision=opts.precision,
        deterministic=opts.deterministic,
        progress=not opts.no_progress,
        tensorboard=not opts.no_tensorboard,
    )


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def main(argv: list[str]) -> int:
    """Run (or resume) one pretraining run; returns the exit code."""
    opts = parser().parse_args(argv)
    config = train_config(opts)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    ctx = distributed.init(opts.device)
    try:
        stop = StopFlag()
        stop.install()
        seed_everything(config.seed, config.deterministic)
        corpus = ShardedCSR(opts.corpus)
        model_config = read_model_config(
            opts.model_config, opts.model_config_key, corpus.n_genes, opts.variant
        )
        model = build_model(model_config, opts.gene2vec, opts.go_graph)
        train_cells = load_split(opts.corpus, "train", corpus.n_cells)
        val_cells = load_split(opts.corpus, "val", corpus.n_cells)
        out = Path(opts.out)
        trainer = Trainer(config, ctx, corpus, train_cells, val_cells, model, out, stop)
        code = trainer.run()
        if code != EXIT_DONE or not ctx.is_main:
            return code
        inputs = {"corpus_manifest": Path(opts.corpus) / "manifest.json", "gene2vec": opts.gene2vec}
        if model_config.use_go:
            inputs["go_graph"] = opts.go_graph
        record = {
            "variant": opts.variant,
            "train": config.to_dict(),
            "model": model_config.to_dict(),
            "inputs": {name: {"path": str(path), "sha256": file_sha256(path)} for name, path in inputs.items()},
            "world_size": ctx.world_size,
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
        save_model(out, trainer.module)
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
