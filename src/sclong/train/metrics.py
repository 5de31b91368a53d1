"""The metrics log of a pretraining run: ``metrics.csv`` (plus TensorBoard scalars when installed)."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

from sclong.io.atomic import atomic_path

COLUMNS = ("step", "epoch", "lr", "train_loss", "val_loss", "baseline_val_mse", "cells_per_s", "elapsed_s")

log = logging.getLogger(__name__)


class MetricsLog:
    """Append rows to ``metrics.csv``; ``rows`` (all rows so far) go into checkpoints.

    On resume the file is rewritten from the checkpoint's rows, so rows logged after the checkpoint by
    an interrupted run disappear and the log matches an uninterrupted run's row for row.
    """

    def __init__(
        self, path: str | Path, rows: list[dict[str, Any]] | None = None, tensorboard: bool = True
    ) -> None:
        self.path = Path(path)
        self.rows = list(rows or [])
        with atomic_path(self.path) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)
        self._writer = _tensorboard(self.path.parent / "tensorboard") if tensorboard else None

    def append(self, **row: Any) -> None:
        """Log one row (missing columns stay empty); flushes so the file can be watched."""
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown metrics columns {sorted(unknown)}")
        row = {key: row.get(key) for key in COLUMNS}
        self.rows.append(row)
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, COLUMNS).writerow(row)
        if self._writer is not None:
            for key in ("lr", "train_loss", "val_loss", "baseline_val_mse", "cells_per_s"):
                if row[key] is not None:
                    self._writer.add_scalar(key, row[key], row["step"])
            self._writer.flush()

    def close(self) -> None:
        """Close the TensorBoard writer, if any."""
        if self._writer is not None:
            self._writer.close()


def _tensorboard(directory: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    log.info("TensorBoard scalars in %s", directory)
    return SummaryWriter(str(directory))
