"""Run jobs and Snakemake workflows on the local test cluster (tests/slurm/cluster.sh) and read sacct."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ACCOUNT = "sclong"
SACCT_FIELDS = ("JobID", "JobName", "State", "ExitCode", "Comment", "Account", "Partition", "AllocTRES")
_UNSETTLED_STATES = {"PENDING", "CONFIGURING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED", "COMPLETING"}


def _settled(job: dict[str, str]) -> bool:
    return bool(job["Partition"]) and job["State"].split()[0] not in _UNSETTLED_STATES


def sacct_jobs(since: datetime, job_ids: Collection[str] | None = None, timeout: float = 30.0) -> list[dict[str, str]]:
    """Return the allocations (``sacct -X``) active since ``since``, one dict per job keyed by SACCT_FIELDS.

    With ``job_ids``, only those jobs, and only once slurmdbd has a final record of each: a job that just
    ended may be missing, or recorded partially (JobName ``allocation``, no partition) or in an old state.
    Without, every record since ``since`` must be final. Polls, and raises TimeoutError (with the
    records) if that does not happen within ``timeout`` seconds.
    """
    cmd = ["sacct", "-X", "-n", "-P", "-S", since.strftime("%Y-%m-%dT%H:%M:%S"), "-o", ",".join(SACCT_FIELDS)]
    wanted = set(job_ids or ())
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        jobs = [dict(zip(SACCT_FIELDS, line.split("|"), strict=True)) for line in out.splitlines() if line]
        jobs = [j for j in jobs if not wanted or j["JobID"] in wanted]
        if wanted <= {j["JobID"] for j in jobs} and all(map(_settled, jobs)):
            return jobs
        if time.monotonic() > deadline:
            raise TimeoutError(f"sacct records of {sorted(wanted) or 'all jobs'} not final in {timeout}s: {jobs}")
        time.sleep(0.5)


def sbatch(args: Sequence[str]) -> str:
    """Submit a batch job (``sbatch --parsable -A sclong *args``) and return its job ID."""
    proc = subprocess.run(["sbatch", "--parsable", "-A", ACCOUNT, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sbatch failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout.split(";")[0].strip()


def wait_for_job(job_id: str, timeout: float = 300.0) -> str:
    """Poll slurmctld every 0.5 s until the job ends and return its final state (COMPLETED, FAILED, ...).

    Not ``sbatch --wait``: it polls after 2, 10 and 42 s, so a 3 s job seems to take 10 s.
    """
    deadline = time.monotonic() + timeout
    while True:
        out = subprocess.run(["scontrol", "-o", "show", "job", job_id], check=True, capture_output=True, text=True)
        state = re.search(r"\bJobState=(\S+)", out.stdout)
        if state and state.group(1) not in _UNSETTLED_STATES:
            return state.group(1)
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} did not end within {timeout}s: {out.stdout.strip()}")
        time.sleep(0.5)


@dataclass(frozen=True)
class SnakemakeSlurmRun:
    """One finished ``snakemake --executor slurm`` run."""

    process: subprocess.CompletedProcess[str]  # stdout holds stdout and stderr together
    run_id: str | None  # the plugin's "SLURM run ID": the job name of every job it submitted
    job_ids: tuple[str, ...]  # SLURM job IDs of the jobs it submitted, in order
    started: datetime

    def jobs(self, timeout: float = 30.0) -> list[dict[str, str]]:
        """The final sacct records of the jobs this run submitted (see sacct_jobs)."""
        return sacct_jobs(self.started, job_ids=self.job_ids, timeout=timeout) if self.job_ids else []


def run_snakemake_on_slurm(
    workdir: Path,
    snakefile: Path,
    targets: Sequence[str] = (),
    profile_dir: Path | None = None,
    config_overrides: Mapping[str, object] | None = None,
    extra_args: Sequence[str] = (),
    jobs: int = 2,
    timeout: float = 600.0,
) -> SnakemakeSlurmRun:
    """Run the Snakemake CLI of this interpreter with ``--executor slurm`` on the local test cluster.

    Without ``profile_dir`` every rule defaults to account ``sclong`` and partition ``cpu`` (as
    ``--default-resources``); with one, the profile is used as is, and a ``--default-resources`` in
    ``extra_args`` would replace the profile's. Status checks start after 2 s (default 40 s).
    ``config_overrides`` become ``--config key=value``. The run is never raised on: check
    ``.process.returncode``. A run past ``timeout`` raises subprocess.TimeoutExpired; its jobs are left
    to the cluster fixture's teardown (which cancels all jobs).
    """
    cmd = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(snakefile),
        "--directory", str(workdir),
        "--executor", "slurm",
        "--jobs", str(jobs),
        "--slurm-init-seconds-before-status-checks", "2",
        "--latency-wait", "5",
        "--printshellcmds",
    ]  # fmt: skip
    if profile_dir is None:
        cmd += ["--default-resources", f"slurm_account={ACCOUNT}", "slurm_partition=cpu"]
    else:
        cmd += ["--profile", str(profile_dir)]
    if config_overrides:
        cmd += ["--config", *(f"{key}={value}" for key, value in config_overrides.items())]
    cmd += [*extra_args, *targets]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    started = datetime.now()
    proc = subprocess.run(
        cmd, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    run_id = re.search(r"SLURM run ID: (\S+)", proc.stdout)
    job_ids = tuple(re.findall(r"has been submitted with SLURM jobid (\d+)", proc.stdout))
    return SnakemakeSlurmRun(proc, run_id.group(1) if run_id else None, job_ids, started)
