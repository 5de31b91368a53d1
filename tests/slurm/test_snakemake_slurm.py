"""A tiny workflow runs through snakemake-executor-plugin-slurm on the local cluster: its GPU rule lands on
the gpu partition holding gres/gpu:a100, is preempted with SIGTERM, checkpoints, and resumes in its retry
(the mechanism the pretraining preemption test relies on)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import SlurmCluster
from .helpers import queued_jobs_of_rule, start_snakemake_on_slurm

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]

SNAKEFILE = """\
localrules: all

rule all:
    input: "gpu.txt"

rule cpu_step:
    output: "cpu.txt"
    resources: mem_mb=500, runtime=5
    shell: "echo cpu > {{output}}"

rule gpu_step:
    input: "cpu.txt"
    output: "gpu.txt"
    resources: gpu=1, gpu_model="a100", slurm_account="sclong", slurm_partition="gpu", mem_mb=500, runtime=5
    shell: "{python} preemptible.py {{input}} {{output}} checkpoint.txt"
"""

# Copies its input and CUDA_VISIBLE_DEVICES to its output, but only in an attempt that finds a checkpoint;
# the first attempt waits for SIGTERM and then writes the checkpoint (slowly, like a real one).
PREEMPTIBLE_PY = """\
import os, pathlib, signal, sys, time
inp, out, checkpoint = map(pathlib.Path, sys.argv[1:])
if checkpoint.exists():
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    out.write_text(f"{inp.read_text()}CUDA_VISIBLE_DEVICES={cvd}\\nresumed from {checkpoint.read_text()}\\n")
    sys.exit(0)
def on_term(signum, frame):
    time.sleep(3)
    checkpoint.write_text("SIGTERM")
    sys.exit(143)
signal.signal(signal.SIGTERM, on_term)
pathlib.Path("running").touch()
time.sleep(100)
"""


def test_gpu_rule_preempted_and_resumed_on_slurm(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """Every rule runs as a SLURM job named by the run ID and commented with its rule. ``scancel
    --signal=TERM`` on the GPU rule's job reaches the rule's process (through the jobstep's srun step),
    which takes seconds to checkpoint before it exits; the job fails, ``--retries 1`` resubmits it, and
    the retry resumes from the checkpoint with the typed GPU again."""
    (tmp_path / "preemptible.py").write_text(PREEMPTIBLE_PY)
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(SNAKEFILE.format(python=sys.executable))
    started = start_snakemake_on_slurm(tmp_path, snakefile, extra_args=["--retries", "1"])
    deadline = time.monotonic() + 120
    while not (tmp_path / "running").exists():
        assert started.process.poll() is None and time.monotonic() < deadline, started.output()
        time.sleep(0.2)
    [preempted_id] = queued_jobs_of_rule("gpu_step")
    subprocess.run(["scancel", "--signal=TERM", preempted_id], check=True)
    run = started.wait(timeout=240)

    assert run.returncode == 0, run.output
    lines = (tmp_path / "gpu.txt").read_text().splitlines()
    assert lines == ["cpu", "CUDA_VISIBLE_DEVICES=0", "resumed from SIGTERM"]
    jobs = run.jobs()
    assert [job["Comment"] for job in jobs] == ["rule_cpu_step", "rule_gpu_step", "rule_gpu_step"], run.output
    assert all(job["JobName"] == run.run_id and job["Account"] == slurm_cluster.account for job in jobs)
    cpu, preempted, retried = jobs
    assert (cpu["State"], cpu["Partition"]) == ("COMPLETED", slurm_cluster.cpu_partition)
    assert "gres/gpu" not in cpu["AllocTRES"]
    assert (preempted["JobID"], preempted["State"], preempted["ExitCode"]) == (preempted_id, "FAILED", "1:0")
    assert retried["State"] == "COMPLETED"
    for gpu in preempted, retried:
        assert gpu["Partition"] == slurm_cluster.gpu_partition
        assert "gres/gpu:a100=1" in gpu["AllocTRES"].split(",")
