"""Logging set-up shared by every command."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int = logging.INFO) -> None:
    """Send log records to stderr (Snakemake rules redirect stderr to their ``log:`` file)."""
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr, force=True)
