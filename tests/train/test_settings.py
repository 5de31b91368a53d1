"""The pretrain settings: one mapping, every key required, null kept, invalid values named; clipping."""

import json

import pytest
import torch
from synthetic import pretrain_args, train_settings

from sclong.errors import ConfigError
from sclong.io.shards import ShardedCSR
from sclong.train import distributed
from sclong.train.data import DenseRows, load_split
from sclong.train.loop import Trainer
from sclong.train.pretrain import build_model, parser, read_model_config, train_config
from sclong.train.runtime import StopFlag


def test_null_means_none_and_every_key_is_required():
    assert train_config(json.dumps(train_settings(clip_norm=None, val_cells=None))).clip_norm is None
    settings = train_settings()
    del settings["clip_norm"]
    with pytest.raises(ConfigError, match=r"'pretrain.clip_norm': is required"):
        train_config(json.dumps(settings))
    with pytest.raises(ConfigError, match=r"'pretrain.batch_size': unknown key"):
        train_config(json.dumps({**train_settings(), "batch_size": 8}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clip_norm": 0}, "'pretrain.clip_norm': must be a number > 0, or null for no clipping, got 0"),
        ({"micro_batch_size": 0}, "'pretrain.micro_batch_size': must be an integer >= 1, got 0"),
        ({"grad_accum": True}, "'pretrain.grad_accum': must be an integer >= 1, got True"),
        ({"schedule_unit": "cycles"}, "'pretrain.schedule_unit': must be one of steps, epochs, got 'cycles'"),
        ({"min_lr": 1.0}, "'pretrain.min_lr': must be a number in [0, max_lr = 0.001], got 1.0"),
    ],
)
def test_invalid_values_are_named(change, message):
    with pytest.raises(ConfigError) as err:
        train_config(json.dumps(train_settings(**change)))
    assert str(err.value) == f"config key {message}"


def optimizer_step_gradient_norm(corpus, knowledge, tmp_path, clip_norm) -> float:
    """The total gradient norm the optimizer steps with, after a gradient made a million times too large.

    The run is configured as the command line configures it (its parser, its settings reader)."""
    opts = parser().parse_args(pretrain_args(corpus, knowledge, tmp_path, clip_norm=clip_norm))
    config = train_config(opts.settings)
    data = ShardedCSR(corpus)
    model_config = read_model_config(opts.model_config, None, data.n_genes, opts.variant)
    model = build_model(model_config, opts.gene2vec, opts.go_graph)
    ctx = distributed.Context(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"))
    split = load_split(corpus, "train", data.n_cells)
    trainer = Trainer(config, ctx, data, split, split, model, tmp_path, StopFlag(), progress=False, tensorboard=False)
    batch = trainer.plan.micro_batches(0)[1]
    totals = trainer._micro_step(batch, DenseRows(data, [batch])[0], last=True)
    for parameter in model.parameters():
        parameter.grad.mul_(1e6)
    seen = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        seen.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())

    trainer.optimizer.register_step_pre_hook(record)
    trainer._optimizer_step(totals)
    return seen[0]


def test_clip_norm_null_does_not_clip(corpus, knowledge, tmp_path):
    assert optimizer_step_gradient_norm(corpus, knowledge, tmp_path / "none", None) > 1e3
    assert optimizer_step_gradient_norm(corpus, knowledge, tmp_path / "one", 1.0) == pytest.approx(1.0, rel=1e-4)
