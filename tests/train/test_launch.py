import sys

import pytest

from sclong.errors import ConfigError
from sclong.train.launch import torchrun_command

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def test_single_node_is_standalone():
    command = torchrun_command(4, ["--out", "x"], env={})
    assert command == [
        *TORCHRUN,
        "--standalone",
        "--nproc_per_node=4",
        "-m",
        "sclong.train.pretrain",
        "--out",
        "x",
    ]


def test_multi_node_runs_one_torchrun_per_node_through_srun():
    env = {"SLURM_NNODES": "3", "SLURM_JOB_ID": "42", "SLURM_JOB_NODELIST": "gpu[1-3]"}
    command = torchrun_command(8, ["--out", "x"], env=env, master="gpu1", port=29400)
    assert command[:5] == ["srun", "--nodes=3", "--ntasks-per-node=1", "--overlap", "--mem=0"]
    assert command[5:8] == TORCHRUN
    assert "--nnodes=3" in command and "--nproc_per_node=8" in command and "--rdzv_id=42" in command
    assert "--rdzv_backend=c10d" in command and "--rdzv_endpoint=gpu1:29400" in command
    assert command[-4:] == ["-m", "sclong.train.pretrain", "--out", "x"]


def test_rejects_zero_processes():
    with pytest.raises(ConfigError):
        torchrun_command(0, [], env={})
