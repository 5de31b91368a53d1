"""A tiny workflow runs through snakemake-executor-plugin-slurm on the local cluster, with its GPU rule
on the gpu partition holding gres/gpu:a100."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import SlurmCluster
from .helpers import run_snakemake_on_slurm

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]

SNAKEFILE = """\
localrules: all

rule all:
    input: "gpu.txt"

rule cpu_step:
    output: "cpu.txt"
    resources: mem_mb=500, runtime=5
    shell: "echo cpu > {output}"

rule gpu_step:
    input: "cpu.txt"
    output: "gpu.txt"
    resources: gpu=1, gpu_model="a100", slurm_account="sclong", slurm_partition="gpu", mem_mb=500, runtime=5
    shell: "cat {input} > {output}; echo CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES:-unset}} >> {output}"
"""


def test_two_rule_workflow_on_slurm(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """Both rules run as SLURM jobs named by the run ID and commented with their rule; the GPU rule's job
    holds the typed GPU and its shell sees CUDA_VISIBLE_DEVICES."""
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(SNAKEFILE)
    run = run_snakemake_on_slurm(tmp_path, snakefile)
    assert run.process.returncode == 0, run.process.stdout
    assert (tmp_path / "gpu.txt").read_text().splitlines() == ["cpu", "CUDA_VISIBLE_DEVICES=0"]

    jobs = {job["Comment"]: job for job in run.jobs()}
    assert set(jobs) == {"rule_cpu_step", "rule_gpu_step"}, run.process.stdout
    assert all(job["State"] == "COMPLETED" and job["JobName"] == run.run_id for job in jobs.values())
    assert all(job["Account"] == slurm_cluster.account for job in jobs.values())
    cpu, gpu = jobs["rule_cpu_step"], jobs["rule_gpu_step"]
    assert cpu["Partition"] == slurm_cluster.cpu_partition
    assert "gres/gpu" not in cpu["AllocTRES"]
    assert gpu["Partition"] == slurm_cluster.gpu_partition
    assert "gres/gpu:a100=1" in gpu["AllocTRES"].split(",")
