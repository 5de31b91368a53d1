"""Process-level set-up of a run: exit codes, the SIGTERM flag, seeds, determinism and precision."""

from __future__ import annotations

import logging
import os
import random
import signal
from types import FrameType

import numpy as np
import torch

EXIT_DONE = 0
EXIT_INTERRUPTED = 75  # EX_TEMPFAIL: stopped by SIGTERM after writing a checkpoint; rerun to resume

log = logging.getLogger(__name__)


class StopFlag:
    """Set by SIGTERM; the loop checkpoints at the next step boundary and exits with ``EXIT_INTERRUPTED``."""

    def __init__(self) -> None:
        self.raised = False

    def install(self) -> None:
        """Handle SIGTERM in this (main) thread."""
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        log.warning(
            "SIGTERM received: will checkpoint at the next step boundary and exit %d", EXIT_INTERRUPTED
        )
        self.raised = True


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed python, numpy and torch; optionally make torch deterministic (CPU tests, exact resume)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """bf16 on CUDA (``auto``) or when asked; ``None`` (float32) otherwise."""
    if precision not in {"auto", "fp32", "bf16"}:
        raise ValueError(f"precision must be auto, fp32 or bf16, not {precision!r}")
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.bfloat16
    return None
