from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sclong.errors import ConfigError, InputError
from sclong.io.shards import ShardedCSR
from sclong.settings import from_mapping
from sclong.train.data import TrainPlan, column_sums, eval_batches, load_split, loader
from sclong.train.settings import TrainConfig

CONFIG = Path(__file__).resolve().parents[2] / "config"


def plan(rank: int = 0, world: int = 1, accum: int = 1, global_batch: int = 8) -> TrainPlan:
    return TrainPlan(np.arange(100, 150), global_batch // (accum * world), accum, world, rank, seed=3)


def shipped_settings(name: str) -> TrainConfig:
    """The TrainConfig of a shipped config's pretrain section, less the workflow's own keys (as the rule passes it)."""
    section = yaml.safe_load((CONFIG / name).read_text())["pretrain"]
    settings = {key: value for key, value in section.items() if key not in ("variants", "threads")}
    return from_mapping(TrainConfig, settings, "pretrain")


def test_ranks_and_micro_batches_partition_the_global_batch():
    single = plan().micro_batches(epoch=2)
    assert len(single) == 6  # 50 // 8 steps, last partial batch dropped
    for world, accum in ((2, 1), (2, 2), (4, 2), (1, 4)):
        parts = [plan(rank, world, accum).micro_batches(epoch=2) for rank in range(world)]
        for step, whole in enumerate(single):
            split = [batch for rank in range(world) for batch in parts[rank] if batch.step[1] == step]
            cells = np.concatenate([batch.cells for batch in split])
            keys = np.concatenate([batch.mask_keys for batch in split])
            order = np.argsort(keys[:, 1])
            np.testing.assert_array_equal(cells[order], whole.cells)  # same cells, same mask keys
            np.testing.assert_array_equal(keys[order], whole.mask_keys)
    a, b = plan(0, 2, 2).micro_batches(epoch=1)[:2]
    assert a.step == (1, 0, 0) and b.step == (1, 0, 1)
    np.testing.assert_array_equal(a.mask_keys, [[1, 0], [1, 1]])
    np.testing.assert_array_equal(b.mask_keys, [[1, 4], [1, 5]])


def test_resume_skips_exactly_the_consumed_steps():
    p = plan(1, 2, 2)
    assert [b.step for b in p.micro_batches(1, 4)] == [b.step for b in p.micro_batches(1)][8:]
    assert not np.array_equal(p.order(0), p.order(1))
    assert np.array_equal(p.order(1), plan().order(1))


def test_plan_refuses_a_global_batch_larger_than_the_training_cells():
    with pytest.raises(ConfigError, match=r"'pretrain.micro_batch_size': .* = 16 x 2 x 2 = 64 exceeds the 50"):
        TrainPlan(np.arange(50), 16, 2, 2, 0, seed=0)


@pytest.mark.parametrize(
    ("name", "world_size", "global_batch"),
    [("paper.yaml", 12 * 8, 19_200), ("config.yaml", 1, 16), ("config.yaml", 2, 32)],
)
def test_shipped_configs_plan_their_global_batch(name, world_size, global_batch):
    """paper.yaml on the profile's 12 nodes x 8 GPUs: 1 cell x 200 micro-batches x 96 GPUs per step."""
    config = shipped_settings(name)
    cells = np.arange(100_000)
    plans = [TrainPlan.from_config(cells, config, world_size, rank) for rank in (0, world_size - 1)]
    assert [p.global_batch for p in plans] == [global_batch] * 2
    assert plans[0].steps_per_epoch == 100_000 // global_batch
    first = [plans[-1].micro_batches(0)[micro] for micro in range(config.grad_accum)]
    assert [len(batch.cells) for batch in first] == [config.micro_batch_size] * config.grad_accum


def test_eval_batches_cover_every_cell_once_whatever_the_world_size():
    cells = np.arange(23)
    for world in (1, 2, 3):
        parts = [b for rank in range(world) for b in eval_batches(cells, 10, world, rank)]
        assert sorted(np.concatenate([b.cells for b in parts])) == list(range(23))
        assert sorted(np.concatenate([b.mask_keys[:, 1] for b in parts])) == list(range(23))
        assert {b.step[1] for b in parts} == {0, 1, 2}


def test_loader_gives_dense_rows_and_column_sums(corpus):
    data = ShardedCSR(corpus)
    train = load_split(corpus, "train", data.n_cells)
    batches = TrainPlan(train, micro_batch_size=8, grad_accum=1, world_size=1, rank=0, seed=0).micro_batches(0)[:2]
    for batch, values in zip(
        batches, loader(data, batches, num_workers=1, device=torch.device("cpu")), strict=True
    ):
        assert values.dtype == torch.float32
        np.testing.assert_array_equal(values.numpy(), data.rows(batch.cells).toarray())
    np.testing.assert_allclose(
        column_sums(data, train, chunk=50), data.rows(train).toarray().sum(axis=0), rtol=1e-6
    )


def test_load_split_rejects_bad_ids(tmp_path):
    np.save(tmp_path / "val.npy", np.array([0, 500]))
    with pytest.raises(InputError, match="outside"):
        load_split(tmp_path, "val", 100)
    with pytest.raises(InputError):
        load_split(tmp_path, "train", 100)
