"""The local SLURM cluster does what the workflow's tests rely on: typed GPU GRES in accounting,
signals reaching a job's processes (preemption), and a 2-rank torchrun inside a job."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from .conftest import SlurmCluster
from .helpers import sacct_jobs, sbatch, wait_for_job

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(120)]

TRAP_PY = """\
import pathlib, signal, sys, time
marker = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGTERM, lambda signum, frame: (marker.write_text("SIGTERM"), sys.exit(0)))
marker.with_suffix(".ready").touch()
time.sleep(100)
"""

ALL_REDUCE_PY = """\
import torch, torch.distributed as dist
dist.init_process_group("gloo")
t = torch.tensor([float(dist.get_rank() + 1)])
dist.all_reduce(t)
print(f"rank {dist.get_rank()}/{dist.get_world_size()} sum {t.item()}", flush=True)
dist.destroy_process_group()
"""


def _bash_script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "job.sh"
    path.write_text(f"#!/bin/bash\n{body}\n")
    return path


def _wait_for_file(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout}s"
        time.sleep(0.2)


def test_gpu_job_gets_typed_gres(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """A ``--gpus=a100:1`` job runs with CUDA_VISIBLE_DEVICES and sacct records gres/gpu:a100."""
    since = datetime.now()
    out = tmp_path / "cvd.txt"
    name = f"gpu-{tmp_path.name}"
    script = _bash_script(tmp_path, f'echo "${{CUDA_VISIBLE_DEVICES:-unset}}" > {out}')
    gpus = f"--gpus={slurm_cluster.gpu_type}:1"
    job_id = sbatch(["-J", name, "-p", slurm_cluster.gpu_partition, gpus, "-o", str(tmp_path / "job.out"), str(script)])
    assert wait_for_job(job_id) == "COMPLETED"
    assert out.read_text().strip() == "0"
    [job] = sacct_jobs(since, job_ids=[job_id])
    assert job["JobName"] == name
    assert job["State"] == "COMPLETED"
    assert job["Partition"] == slurm_cluster.gpu_partition
    assert "gres/gpu:a100=1" in job["AllocTRES"].split(",")


def test_unknown_gpu_type_is_rejected(slurm_cluster: SlurmCluster) -> None:
    """The GPU type is really matched: a type the node lacks cannot be submitted."""
    with pytest.raises(RuntimeError, match="Requested node configuration is not available"):
        sbatch(["--gpus=h100:1", "--wrap", "true"])


@pytest.mark.parametrize(
    ("where", "scancel_args"),
    [("step", []), ("batch", ["--full"])],
    ids=["srun-step-plain-scancel", "batch-script-scancel-full"],
)
def test_scancel_term_reaches_job_process(
    slurm_cluster: SlurmCluster, tmp_path: Path, where: str, scancel_args: list[str]
) -> None:
    """``scancel --signal=TERM`` reaches a Python process in an srun step (how Snakemake's jobstep runs a
    rule) and, with ``--full``, one started by the batch script, whose shell traps TERM and waits."""
    (tmp_path / "trap.py").write_text(TRAP_PY)
    marker = tmp_path / "got.txt"
    run = f"{sys.executable} {tmp_path / 'trap.py'} {marker}"
    if where == "step":
        script = _bash_script(tmp_path, f"srun {run}")
    else:  # the shell's first wait returns when the trapped TERM arrives; the second lets Python finish
        script = _bash_script(tmp_path, f"trap 'echo shell got TERM' TERM\n{run} &\nwait $!\nwait $!")
    job_id = sbatch(["-o", str(tmp_path / "job.out"), str(script)])
    try:
        _wait_for_file(marker.with_suffix(".ready"), timeout=60)
        subprocess.run(["scancel", "--signal=TERM", *scancel_args, job_id], check=True)
        _wait_for_file(marker, timeout=30)
        assert marker.read_text() == "SIGTERM"
    finally:
        subprocess.run(["scancel", job_id], check=False)


@pytest.mark.timeout(240)  # three cold torch imports on 2 shared cores
def test_torchrun_two_ranks_in_a_job(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """``torchrun --standalone --nproc_per_node=2`` (gloo, CPU) all-reduces inside a 2-CPU batch job."""
    pytest.importorskip("torch")
    torchrun = Path(sys.executable).with_name("torchrun")
    (tmp_path / "all_reduce.py").write_text(ALL_REDUCE_PY)
    log = tmp_path / "job.out"
    cmd = f"{torchrun} --standalone --nproc_per_node=2 {tmp_path / 'all_reduce.py'}"
    job_id = sbatch(["-c", "2", "-o", str(log), str(_bash_script(tmp_path, cmd))])
    state = wait_for_job(job_id)
    output = log.read_text()
    assert state == "COMPLETED", output
    assert "rank 0/2 sum 3.0" in output and "rank 1/2 sum 3.0" in output, output
