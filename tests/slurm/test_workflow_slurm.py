"""The demo workflow on the local SLURM cluster through the real profiles/slurm, and its pretraining launcher.

One Snakemake run (module fixture ``demo``) builds the whole demo through snakemake-executor-plugin-slurm
with the profile as committed plus command-line overrides that fit this 2-CPU node (see DEMO_ARGS); its
``sclong`` pretraining job is preempted with ``scancel --signal=TERM`` once it has written a checkpoint,
and ``--retries 1`` resubmits it. The tests then read sacct and the outputs. Separately, the launcher
runs two ranks in one batch job, builds the multi-node ``srun`` command from SLURM's variables, and that
command (rehearsed on this one node) runs inside a step like the one Snakemake's jobstep holds.
"""

from __future__ import annotations

import collections
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sclong.train.launch import torchrun_command
from tests.train.synthetic import pretrain_args, write_corpus, write_knowledge

from .conftest import SlurmCluster
from .helpers import SnakemakeSlurmRun, queued_jobs_of_rule, sbatch, start_snakemake_on_slurm, wait_for_job

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[2]
WORKFLOW_PATHS = ("Snakefile", "workflow", "config", "profiles", "envs", "src", "resources/demo", "resources/paper")
PREEMPTED = "sclong"  # the variant whose pretraining job is preempted (random_leg depends on it)
# Tiny settings, merged over the demo config by a second --configfile: `--config` cannot
# do it, since Snakemake parses nested --config values as strings (YAML BaseLoader) and the schema wants
# integers. max_steps leaves time to preempt after the checkpoint at step 2; a fraction of the simulated cells,
# one embedded variant (of the demo's five) and a few task methods with two seeds still run every rule.
TINY = {
    "corpus": {"local_census": {"simulator": {"n_cells": 600}}},  # plus pbmc68k's 700 cells
    "datasets": {"simulated": {"n_cells": 300}},
    "gene2vec": {"epochs": 2, "cells": 500},
    "embed": {"variants": ["random_leg"]},  # both datasets, through the variant that needs the others
    "model": {"top_k": 64},
    "pretrain": {
        "max_steps": 8,
        "first_cycle": 8,
        "warmup": 1,
        "micro_batch_size": 4,
        "checkpoint_every": 2,
        "val_every": 4,
        "val_cells": 16,
        "eval_batch_size": 16,
        "log_every": 1,
    },
    "tasks": {
        "seeds": [0, 1],
        "grn_inference": {"methods": ["sclong", "go_graph"], "deepsem": {"epochs": 2}},
        "batch_integration": {"methods": ["sclong", "raw", "scvi"], "scvi": {"max_epochs": 1}},
        "marker_genes": {"permutations": 20},
        "genetic_perturbation": {"methods": ["sclong", "no_change"], "model": {"epochs": 1}},
        "chemical_perturbation": {"methods": ["sclong", "deepce"], "epochs": 1},
        "drug_response": {"methods": ["sclong", "linear"], "network": {"max_epochs": 1}},
        "drug_combination": {"methods": ["sclong", "random_forest"], "model": {"epochs": 1, "warmup_epochs": 0}},
    },
}
RESULTS = Path("results") / "demo"
PROFILE = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())


def profile_gpu_model(resources: dict[str, object]) -> str | None:
    """The GPU model a rule's profile resources ask for: `gpu` + `gpu_model`, or a typed `gres` gpu:<model>:<n>."""
    if resources.get("gpu"):
        return str(resources["gpu_model"])
    gres = str(resources.get("gres", "")).strip("'")
    return gres.split(":")[1] if gres.startswith("gpu:") and gres.count(":") == 2 else None


# The rules the profile sends to GPUs (pretrain, embed), with the GPU model it asks for.
GPU_RULES = {
    rule: model for rule, res in PROFILE["set-resources"].items() if (model := profile_gpu_model(res)) is not None
}
GPU_RULE_NAMES = {"pretrain", "embed", "task_grn_inference", "task_marker_genes", "task_batch_integration",
                  "task_genetic_perturbation", "task_chemical_perturbation", "task_drug_response",
                  "task_drug_combination"}
assert set(GPU_RULES) == GPU_RULE_NAMES and set(GPU_RULES.values()) == {"a100"}, GPU_RULES
# On top of profiles/slurm (each option replaces the profile's option of the same name as a whole):
DEMO_ARGS = [
    "--configfile", "config/config.yaml", "tiny.yaml",  # the demo, not the profile's paper.yaml
    # The profile deploys conda envs, which cannot be built here. `--sdm none` is refused by Snakemake's
    # CLI (choices: apptainer, conda, env-modules), so name a method no rule uses: no rule has
    # `envmodules:`, so every rule runs with the venv's Python (common.smk puts it on PATH).
    "--software-deployment-method", "env-modules",
    "--retries", "1",
    "--default-resources", "slurm_account='sclong'", "slurm_partition='cpu'", "runtime=30", "mem_mb=1000",
    "cpus_per_task=1",
    # The profile's GPU request (its GPU model, on the gpu partition), sized to this node: one GPU, one
    # node, both CPUs.
    "--set-resources",
    *(
        f"{rule}:{resource}"
        for rule, model in GPU_RULES.items()
        for resource in (
            "slurm_partition='gpu'", "gpu=1", f"gpu_model='{model}'", "nodes=1", "cpus_per_task=2", "mem_mb=2000",
            "runtime=30",
        )
    ),
]  # fmt: skip


@dataclass(frozen=True)
class DemoRun:
    """The finished demo run and what the test saw of the preemption."""

    run: SnakemakeSlurmRun
    workdir: Path
    preempted_job: str
    interrupted_log: str  # the preempted attempt's pretraining log, read before the retry replaced it

    @property
    def pretrain_dir(self) -> Path:
        return self.workdir / RESULTS / "pretrain"


def _wait_for(what: str, condition: Callable[[], bool], timeout: float, process: subprocess.Popen[bytes]) -> None:
    """Poll ``condition()`` every 0.2 s; fail when Snakemake exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} (snakemake exit status {process.poll()})")
        time.sleep(0.2)


def _pretrain_jobs(variant: str) -> list[str]:
    """Queued or running job IDs of the pretrain rule for ``variant``."""
    return queued_jobs_of_rule(f"pretrain_wildcards_{variant}")


@pytest.fixture(scope="module")
def demo(slurm_cluster: SlurmCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    """Run the demo workflow through profiles/slurm; TERM the ``sclong`` pretraining job after its first
    checkpoint and keep that attempt's log."""
    workdir = tmp_path_factory.mktemp("demo")
    for name in WORKFLOW_PATHS:
        source, target = REPO / name, workdir / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    started = start_snakemake_on_slurm(
        workdir, workdir / "Snakefile", profile_dir=workdir / "profiles" / "slurm", extra_args=DEMO_ARGS
    )
    out, log = workdir / RESULTS / "pretrain" / PREEMPTED, workdir / RESULTS / "logs" / "pretrain" / "sclong.log"
    try:
        _wait_for(
            "the first checkpoint", lambda: (out / "checkpoint" / "step-000000002").exists(), 420, started.process
        )
        [job] = _pretrain_jobs(PREEMPTED)
        subprocess.run(["scancel", "--signal=TERM", job], check=True)
        # The retry truncates the log: keep the preempted attempt's version once it reports the interruption.
        _wait_for("the interruption", lambda: "interrupted at step" in log.read_text(), 60, started.process)
        interrupted_log = log.read_text()
        yield DemoRun(started.wait(timeout=1200), workdir, job, interrupted_log)
    finally:
        if started.process.poll() is None:
            started.process.kill()
            started.process.wait()


def _rule(comment: str) -> str:
    """The rule name in the plugin's job comment (``rule_<name>`` or ``rule_<name>_wildcards_<values>``)."""
    return comment.removeprefix("rule_").partition("_wildcards_")[0]


def _planned_jobs(output: str) -> collections.Counter[str]:
    """The job counts per rule of Snakemake's "Job stats" table, less the rules it ran itself (``localrule``:
    the target rules, which have nothing to run)."""
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    counts = collections.Counter({m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)})
    local = set(re.findall(r"^localrule (\w+):$", output, re.MULTILINE))
    assert "all" in local
    return collections.Counter({rule: n for rule, n in counts.items() if rule not in local})


@pytest.mark.timeout(1800)  # includes the module fixture: the whole demo on 2 shared cores
def test_every_rule_runs_as_its_own_slurm_job(demo: DemoRun, slurm_cluster: SlurmCluster) -> None:
    """Snakemake finished, and sacct holds one COMPLETED job per planned job (commented with its rule,
    under the run ID and the account), plus the preempted attempt, which FAILED."""
    run = demo.run
    assert run.returncode == 0, run.output
    jobs = run.jobs()
    assert all(job["JobName"] == run.run_id and job["Account"] == slurm_cluster.account for job in jobs), jobs
    completed = [job for job in jobs if job["State"] == "COMPLETED"]
    assert collections.Counter(_rule(job["Comment"]) for job in completed) == _planned_jobs(run.output), jobs
    [failed] = [job for job in jobs if job["State"] != "COMPLETED"]
    assert (failed["JobID"], failed["State"], failed["Comment"]) == (
        demo.preempted_job,
        "FAILED",
        f"rule_pretrain_wildcards_{PREEMPTED}",
    )


def test_only_the_profiles_gpu_rules_get_the_typed_gpu(demo: DemoRun, slurm_cluster: SlurmCluster) -> None:
    """Jobs of the rules the profile gives GPUs (pretrain, embed, the seeded task rules) run on the gpu partition with
    gres/gpu:a100=1; every other job on the cpu partition without any GPU."""
    assert GPU_RULES == dict.fromkeys(GPU_RULE_NAMES, "a100")
    jobs = demo.run.jobs()
    assert {_rule(job["Comment"]) for job in jobs} >= {*GPU_RULES, "random_leg", "gene2vec"}
    for job in jobs:
        tres = job["AllocTRES"].split(",")
        if _rule(job["Comment"]) in GPU_RULES:
            assert job["Partition"] == slurm_cluster.gpu_partition and "gres/gpu:a100=1" in tres, job
        else:
            assert job["Partition"] == slurm_cluster.cpu_partition, job
            assert not any(t.startswith("gres/gpu") for t in tres), job


def test_every_variant_has_weights_trained_on_cpu(demo: DemoRun) -> None:
    """Weights of every configured variant (Random LEG included); the trained ones fell back to the CPU
    inside their GPU job (this torch has no CUDA) and ran all the configured steps."""
    variants = yaml.safe_load((demo.workdir / "config" / "config.yaml").read_text())["pretrain"]["variants"]
    for variant in variants:
        assert (demo.pretrain_dir / variant / "model.safetensors").stat().st_size > 0, variant
    for variant in set(variants) - {"random_leg"}:
        record = json.loads((demo.pretrain_dir / variant / "train_config.json").read_text())
        assert (record["device"], record["world_size"], record["steps"]) == ("cpu", 1, TINY["pretrain"]["max_steps"])


def test_preempted_pretraining_resumes_where_it_stopped(demo: DemoRun) -> None:
    """TERM made the preempted attempt checkpoint at its next step boundary and exit; the retry resumed
    from that very checkpoint (no step lost), and every step was logged exactly once."""
    interrupted = re.search(r"interrupted at step (\d+); checkpoint written", demo.interrupted_log)
    assert interrupted, demo.interrupted_log
    stopped = int(interrupted.group(1))
    assert 2 <= stopped < TINY["pretrain"]["max_steps"]
    retry_log = (demo.workdir / RESULTS / "logs" / "pretrain" / f"{PREEMPTED}.log").read_text()
    resumed = re.search(r"resumed from \S+step-(\d+) \(epoch \d+, step (\d+)\)", retry_log)
    assert resumed, retry_log
    assert int(resumed.group(1)) == int(resumed.group(2)) == stopped
    metrics = (demo.pretrain_dir / PREEMPTED / "metrics.csv").read_text().splitlines()
    steps = [int(line.split(",")[0]) for line in metrics[1:]]
    assert steps == list(range(1, TINY["pretrain"]["max_steps"] + 1))


def _tiny_pretrain_args(tmp_path: Path) -> list[str]:
    """``sclong.train.pretrain`` arguments for 4 steps of 8 cells on two ranks (4 each) of a synthetic corpus,
    outputs in ``tmp_path/run``."""
    corpus = write_corpus(tmp_path / "corpus")
    knowledge = write_knowledge(tmp_path / "knowledge")
    changes = {"max_steps": 4, "micro_batch_size": 4, "val_every": 2, "checkpoint_every": 2}
    return pretrain_args(corpus, knowledge, tmp_path / "run", **changes)


def _run_job(tmp_path: Path, body: str, sbatch_args: list[str]) -> str:
    """Run a bash batch job (sclong's sources on PYTHONPATH); returns its output once it COMPLETED."""
    script = tmp_path / "job.sh"
    script.write_text(f"#!/bin/bash\nexport PYTHONPATH={REPO / 'src'}\n{body}\n")
    log = tmp_path / "job.out"
    job = sbatch([*sbatch_args, "-o", str(log), str(script)])
    try:
        state = wait_for_job(job, timeout=200)  # ~15 s when it works
    except TimeoutError as error:  # say where it hangs: the job's steps, its processes and its output so far
        steps = subprocess.run(["squeue", "-s", "-j", job], capture_output=True, text=True).stdout
        processes = subprocess.run(["ps", "-eo", "pid,ppid,stat,etime,args"], capture_output=True, text=True).stdout
        output = log.read_text() if log.exists() else "(none: the job never started)"
        raise AssertionError(f"{error}\nsteps:\n{steps}\nprocesses:\n{processes}\noutput:\n{output}") from None
    finally:
        subprocess.run(["scancel", job], check=False, capture_output=True)  # a job that hangs
    assert state == "COMPLETED", log.read_text()
    return log.read_text()


def _free_port_below_ephemeral_range() -> int:
    """A free TCP port for the rendezvous, below Linux's ephemeral range (32768-60999 here) as torchrun's
    default 29500 is: a port from ``bind(0)`` lies inside it, where the sockets that srun, slurmstepd and
    the TCPStore clients open meanwhile may take it before torchrun binds it."""
    for port in range(29600, 30000):
        with socket.socket() as sock:
            try:
                sock.bind(("localhost", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 29600-29999")


def _assert_trained_once_on_two_ranks(out: Path, output: str) -> None:
    """DDP world size 2 on CPU, 4 steps, and rank 0 alone wrote the outputs, once."""
    record = json.loads((out / "train_config.json").read_text())
    assert (record["world_size"], record["device"], record["steps"]) == (2, "cpu", 4)
    assert output.count("sclong.train.pretrain: finished") == 1, output
    steps = [int(line.split(",")[0]) for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == [1, 2, 3, 4]
    assert (out / "DONE").is_file() and (out / "model.safetensors").is_file()


@pytest.mark.timeout(300)
def test_launcher_runs_two_ranks_in_a_batch_job(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """``python -m sclong.train.launch --nproc-per-node 2`` in a 2-CPU job trains with DDP world size 2
    (gloo on CPU); rank 0 alone writes the outputs, once."""
    command = [sys.executable, "-m", "sclong.train.launch", "--nproc-per-node", "2", "--"]
    output = _run_job(tmp_path, f"exec {shlex.join([*command, *_tiny_pretrain_args(tmp_path)])}", ["-c", "2"])
    _assert_trained_once_on_two_ranks(tmp_path / "run", output)


@pytest.mark.timeout(300)
def test_multi_node_command_runs_inside_a_jobstep_step(slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """The launcher's multi-node command, rehearsed on this one node: its ``srun`` starts inside a step that
    holds the job's CPUs, memory and GPU (as Snakemake's jobstep does), and torchrun's c10d rendezvous on
    the allocation's first host brings two ranks together. (Without ``--overlap --mem=0`` that srun waits
    for resources the outer step holds.)"""
    env = {"SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "localhost", "SLURM_JOB_ID": tmp_path.name}
    port = _free_port_below_ephemeral_range()
    command = torchrun_command(2, _tiny_pretrain_args(tmp_path), env=env, port=port)
    assert f"--rdzv_endpoint=localhost:{port}" in command
    single_node = [{"--nodes=2": "--nodes=1", "--nnodes=2": "--nnodes=1"}.get(arg, arg) for arg in command]
    jobstep = f"srun -n1 -c2 --gpus=1 --nodes=1 {shlex.join(single_node)}"
    gpu = ["-p", slurm_cluster.gpu_partition, f"--gpus={slurm_cluster.gpu_type}:1", "-c", "2"]
    output = _run_job(tmp_path, jobstep, gpu)
    _assert_trained_once_on_two_ranks(tmp_path / "run", output)


def test_multi_node_launch_meets_on_the_first_host_of_the_allocation(slurm_cluster: SlurmCluster) -> None:
    """With SLURM_NNODES=2 the launcher runs one torchrun per node through srun, meeting at the first host
    that scontrol expands from SLURM_JOB_NODELIST."""
    env = {"SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "gpu[07-08]", "SLURM_JOB_ID": "123"}
    command = torchrun_command(4, ["--out", "x"], env=env)
    assert command[:5] == ["srun", "--nodes=2", "--ntasks-per-node=1", "--overlap", "--mem=0"]
    assert {"--nnodes=2", "--nproc_per_node=4", "--rdzv_id=123", "--rdzv_endpoint=gpu07:29500"} <= set(command)
