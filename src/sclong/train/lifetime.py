"""Tie a training process's life to its parent's: SIGTERM when the parent exits (Linux).

``torchrun`` starts its workers in sessions of their own, so killing the job that started a run
(``kill -9`` of Snakemake or of the job shell, a closed terminal) used to leave ``torchrun`` and the
training processes running. :func:`die_with_parent` asks the kernel (``prctl(PR_SET_PDEATHSIG,
SIGTERM)``) to send SIGTERM to the calling process when its parent exits; the setting survives
``execve`` (so the launcher sets it for the ``torchrun`` it becomes) and is cleared in forked children.
A training process meets that SIGTERM as any other: it checkpoints and exits 75.

A parent that exits while the request is being made is caught by comparing the parent pid before and
after it (the process then signals itself). One that exited even earlier, before the process could
look, is caught only when its pid is known: :mod:`sclong.train.launch` exports the pid ``torchrun``
will have as ``SCLONG_TORCHRUN_PID``, which a worker reads through :func:`expected_parent`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_ENV = "SCLONG_TORCHRUN_PID"  # set by sclong.train.launch: the pid torchrun will have


def die_with_parent(expected_parent: int | None = None) -> None:
    """Get SIGTERM when the parent process exits (no-op outside Linux)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid() if expected_parent is None else expected_parent
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_PDEATHSIG): {os.strerror(errno)}")
    if os.getppid() != parent:  # the parent exited before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def expected_parent() -> int | None:
    """The pid of the ``torchrun`` that :mod:`sclong.train.launch` became, when this process is its worker."""
    value = os.environ.get(PARENT_ENV)
    return int(value) if value and os.environ.get("TORCHELASTIC_RUN_ID") else None
