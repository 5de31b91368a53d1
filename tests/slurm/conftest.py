"""The ``slurm_cluster`` fixture: a real single-node SLURM controller, brought up by cluster.sh.

Needs root and apt (to install slurm-wlm, munge, slurmdbd, mariadb-server once). Without them the tests
are skipped, or fail when SCLONG_REQUIRE_SLURM=1. A cluster that is already running (cluster.sh start
by hand) is reused and left running; one the fixture started is stopped at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .helpers import ACCOUNT

CLUSTER_SH = Path(__file__).with_name("cluster.sh")


@dataclass(frozen=True)
class SlurmCluster:
    """What the tests need to know about the running cluster."""

    account: str
    cpu_partition: str  # the default partition
    gpu_partition: str
    gpu_type: str  # node localhost has one GRES gpu of this type (backed by /dev/null)
    state_dir: Path  # configs in etc/, daemon logs in log/


def _unavailable(reason: str) -> None:
    """Skip the tests, or fail them when SCLONG_REQUIRE_SLURM=1."""
    if os.environ.get("SCLONG_REQUIRE_SLURM") == "1":
        pytest.fail(f"SLURM cluster required (SCLONG_REQUIRE_SLURM=1) but {reason}", pytrace=False)
    pytest.skip(f"no local SLURM cluster: {reason}")


def _cluster_sh(action: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(CLUSTER_SH), action], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """Install (if needed) and start the local SLURM cluster for the session; stop it afterwards."""
    if os.geteuid() != 0:
        _unavailable("the tests are not running as root")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        _unavailable("SLURM is not installed and apt-get is not available")
    for action in ("install", "start"):
        proc = _cluster_sh(action)
        if proc.returncode != 0:
            _unavailable(f"cluster.sh {action} failed:\n{proc.stdout}{proc.stderr}")
    started_here = "already running" not in proc.stdout
    state_dir = Path(os.environ.get("SCLONG_SLURM_DIR", "/tmp/sclong-slurm"))
    yield SlurmCluster(ACCOUNT, "cpu", "gpu", "a100", state_dir)
    if started_here:
        proc = _cluster_sh("stop")
        assert proc.returncode == 0, f"cluster.sh stop failed:\n{proc.stdout}{proc.stderr}"
