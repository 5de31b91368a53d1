"""Run jobs and Snakemake workflows on the local test cluster (tests/slurm/cluster.sh) and read sacct."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ACCOUNT = "sclong"
# The variables profiles/slurm reads, pointed at this cluster.
PROFILE_ENV = {"SCLONG_SLURM_ACCOUNT": ACCOUNT, "SCLONG_SLURM_PARTITION": "cpu", "SCLONG_SLURM_GPU_PARTITION": "gpu"}
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

    returncode: int
    output: str  # stdout and stderr together
    run_id: str | None  # the plugin's "SLURM run ID": the job name of every job it submitted
    job_ids: tuple[str, ...]  # SLURM job IDs of the jobs it submitted, in order
    started: datetime

    def jobs(self, timeout: float = 30.0) -> list[dict[str, str]]:
        """The final sacct records of the jobs this run submitted (see sacct_jobs)."""
        return sacct_jobs(self.started, job_ids=self.job_ids, timeout=timeout) if self.job_ids else []


class SnakemakeOnSlurm:
    """A ``snakemake --executor slurm`` run in progress (see start_snakemake_on_slurm)."""

    def __init__(self, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
        self._log = tempfile.NamedTemporaryFile(prefix="snakemake-slurm-", suffix=".log")  # closed by wait
        self.started = datetime.now()
        self.process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        """Everything Snakemake printed so far."""
        return Path(self._log.name).read_text(errors="replace")

    def wait(self, timeout: float = 600.0) -> SnakemakeSlurmRun:
        """Wait for Snakemake to exit. Past ``timeout`` it is killed and TimeoutExpired raised (with its
        output); its jobs are left to the cluster fixture's teardown, which cancels all jobs."""
        try:
            returncode = self.process.wait(timeout)
        except subprocess.TimeoutExpired as error:
            self.process.kill()
            self.process.wait()
            error.output = self.output()
            raise
        finally:
            output = self.output()
            self._log.close()
        run_id = re.search(r"SLURM run ID: (\S+)", output)
        job_ids = tuple(re.findall(r"has been submitted with SLURM jobid (\d+)", output))
        return SnakemakeSlurmRun(returncode, output, run_id.group(1) if run_id else None, job_ids, self.started)


def start_snakemake_on_slurm(
    workdir: Path,
    snakefile: Path,
    targets: Sequence[str] = (),
    profile_dir: Path | None = None,
    config_overrides: Mapping[str, object] | None = None,
    extra_args: Sequence[str] = (),
    jobs: int = 2,
    env: Mapping[str, str] | None = None,
) -> SnakemakeOnSlurm:
    """Start the Snakemake CLI of this interpreter with ``--executor slurm`` on the local test cluster.

    Without ``profile_dir`` every rule defaults to account ``sclong`` and partition ``cpu`` (as
    ``--default-resources``); with one, the profile is used as is (a ``--default-resources`` or
    ``--set-resources`` in ``extra_args`` replaces the profile's whole option), and PROFILE_ENV points
    its variables at this cluster. Status checks start after 2 s (plugin default 40 s).
    ``config_overrides`` become ``--config key=value``; ``env`` is added to the environment last.
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
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return SnakemakeOnSlurm(cmd, workdir, {**os.environ, **PROFILE_ENV, "PATH": path, **(env or {})})


def run_snakemake_on_slurm(
    workdir: Path,
    snakefile: Path,
    targets: Sequence[str] = (),
    profile_dir: Path | None = None,
    config_overrides: Mapping[str, object] | None = None,
    extra_args: Sequence[str] = (),
    jobs: int = 2,
    env: Mapping[str, str] | None = None,
    timeout: float = 600.0,
) -> SnakemakeSlurmRun:
    """start_snakemake_on_slurm(...).wait(timeout). Never raises on a failed run: check ``.returncode``."""
    started = start_snakemake_on_slurm(
        workdir, snakefile, targets, profile_dir, config_overrides, extra_args, jobs, env
    )
    return started.wait(timeout)


def queued_jobs_of_rule(rule: str) -> list[str]:
    """IDs of the pending or running jobs the plugin submitted for ``rule`` (their comment is rule_<rule>)."""
    out = subprocess.run(["squeue", "-h", "-o", "%i|%k"], check=True, capture_output=True, text=True).stdout
    return [
        job_id for job_id, comment in (line.split("|", 1) for line in out.splitlines()) if comment == f"rule_{rule}"
    ]
