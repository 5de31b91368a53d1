"""Build (and run) the ``torchrun`` command of a pretraining run on one or several nodes.

One node: ``torchrun --standalone --nproc_per_node=N -m sclong.train.pretrain ...`` (``torchrun`` run as
``python -m torch.distributed.run`` of this interpreter). Several nodes of a SLURM allocation: ``srun``
starts one ``torchrun`` per node (``--ntasks-per-node=1``, sharing the resources of the step it runs in),
which meet through the c10d rendezvous on the allocation's first host (``scontrol show hostnames
$SLURM_JOB_NODELIST | head -1``); ``SLURM_NNODES`` gives the node count and ``SLURM_JOB_ID`` the
rendezvous id.

Usage: ``python -m sclong.train.launch --nproc-per-node 8 [--print] -- <sclong.train.pretrain args>``

The launcher replaces itself with the command (``exec``), so that a SIGTERM sent to every process of the
job (preemption, ``scancel --signal=TERM``, the time limit) meets ``torchrun`` and the training processes
only: ``torchrun`` passes it on and waits for them to checkpoint (up to its 30 s shutdown timeout), where a
launcher process in between would die at once and take the job's process tree down with it. The exit
status is ``torchrun``'s: 0 when every process finished, non-zero otherwise (a preempted run included).

Before the ``exec`` the launcher asks for SIGTERM on its parent's death (:mod:`sclong.train.lifetime`),
a setting ``torchrun`` (or ``srun``) inherits: when the job that started it dies (Snakemake or the job
shell killed, even by SIGKILL), ``torchrun`` gets SIGTERM and passes it on; each training process
asks the same of ``torchrun`` (whose pid it learns from ``SCLONG_TORCHRUN_PID``), so it checkpoints
and exits even when ``torchrun`` itself is killed outright.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping

from sclong.errors import ConfigError
from sclong.train.lifetime import PARENT_ENV, die_with_parent

MODULE = "sclong.train.pretrain"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]  # ``torchrun`` of this interpreter


def first_host(nodelist: str) -> str:
    """The first host name of a SLURM node list (through ``scontrol show hostnames``)."""
    result = subprocess.run(
        ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, check=False
    )
    hosts = result.stdout.split()
    if result.returncode != 0 or not hosts:
        raise ConfigError(
            "SLURM_JOB_NODELIST", f"scontrol cannot expand {nodelist!r}: {result.stderr.strip()}"
        )
    return hosts[0]


def torchrun_command(
    nproc_per_node: int,
    args: list[str],
    env: Mapping[str, str] | None = None,
    *,
    port: int = 29500,
    master: str | None = None,
) -> list[str]:
    """The command that runs ``sclong.train.pretrain args`` on ``nproc_per_node`` processes per node.

    With ``SLURM_NNODES`` > 1 in ``env`` the command is an ``srun`` over the allocation's nodes;
    ``master`` overrides the rendezvous host (default: the first host of ``SLURM_JOB_NODELIST``).
    """
    if nproc_per_node < 1:
        raise ConfigError("nproc_per_node", f"must be at least 1, got {nproc_per_node}")
    env = os.environ if env is None else env
    nnodes = int(env.get("SLURM_NNODES", "1"))
    target = ["-m", MODULE, *args]
    if nnodes <= 1:
        return [*TORCHRUN, "--standalone", f"--nproc_per_node={nproc_per_node}", *target]
    host = master or first_host(env["SLURM_JOB_NODELIST"])
    return [
        "srun",
        f"--nodes={nnodes}",
        "--ntasks-per-node=1",
        # Under Snakemake this srun runs inside the jobstep's step, which holds the first node's CPUs and
        # memory: without sharing them (--overlap: CPUs, --mem=0: all of the job's memory) the step waits.
        "--overlap",
        "--mem=0",
        *TORCHRUN,
        f"--nnodes={nnodes}",
        f"--nproc_per_node={nproc_per_node}",
        f"--rdzv_id={env.get('SLURM_JOB_ID', 'sclong')}",
        "--rdzv_backend=c10d",
        f"--rdzv_endpoint={host}:{port}",
        *target,
    ]


def main(argv: list[str]) -> int:
    """Print the launch command (returns 0), or replace this process with it (does not return)."""
    parser = argparse.ArgumentParser(prog="python -m sclong.train.launch", description=__doc__.split("\n")[0])
    parser.add_argument("--nproc-per-node", type=int, required=True, help="processes (GPUs) per node")
    parser.add_argument("--port", type=int, default=29500, help="rendezvous port on the first node")
    parser.add_argument("--print", action="store_true", help="print the command instead of running it")
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, help="-- then the arguments of sclong.train.pretrain"
    )
    opts = parser.parse_args(argv)
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    command = torchrun_command(opts.nproc_per_node, args, port=opts.port)
    if opts.print:
        print(shlex.join(command))
        return 0
    die_with_parent()
    if command[: len(TORCHRUN)] == TORCHRUN:  # this process becomes torchrun, its workers' parent
        os.environ[PARENT_ENV] = str(os.getpid())
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(command[0], command)


if __name__ == "__main__":
    from sclong.cli import run_module_main

    sys.exit(run_module_main("sclong.train.launch", sys.argv[1:]))
