import random

import numpy as np
import torch

from sclong.train import checkpoint


def test_rng_round_trip():
    state = checkpoint.rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    checkpoint.set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_save_keeps_only_the_latest_and_loads(tmp_path):
    model = torch.nn.Linear(3, 2)
    model.register_buffer("counter", torch.tensor(7))
    (tmp_path / "checkpoint" / ".step-000000009.abc.tmp").mkdir(parents=True)  # debris of a killed write
    checkpoint.save(tmp_path, 4, model, {"position": 4, "rng": checkpoint.rng_state()})
    path = checkpoint.save(tmp_path, 8, model, {"position": 8})
    assert checkpoint.latest(tmp_path) == path
    assert [p.name for p in (tmp_path / "checkpoint").iterdir()] == ["step-000000008"]
    other = torch.nn.Linear(3, 2)
    other.register_buffer("counter", torch.tensor(0))
    state = checkpoint.load(path, other, torch.device("cpu"))
    assert state == {"position": 8}
    assert torch.equal(other.weight, model.weight) and other.counter.item() == 7


def test_latest_without_checkpoints(tmp_path):
    assert checkpoint.latest(tmp_path) is None
