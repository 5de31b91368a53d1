"""Write run directories as the task runner does, for tests of what reads them (stats, figures, fidelity)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sclong.tasks.base import METRICS_COLUMNS


def write_run(root: Path, task: str, method: str, seed: int, values: dict[tuple[str, str], float | None], *,
              settings_sha: str = "s1", digest: str = "d1", table_seed: int | None = None,
              artifacts: dict[str, pd.DataFrame] | None = None, inputs: dict[str, dict] | None = None,
              scale: str = "demo") -> Path:  # fmt: skip
    """``root/task/method/seed<seed>/`` with metrics ((scenario, metric) -> value), provenance and artifacts;
    the provenance's inputs are ``inputs`` (name -> record), else one dataset of sha256 ``digest``."""
    folder = root / task / method / f"seed{seed}"
    folder.mkdir(parents=True)
    rows = [(task, method, seed if table_seed is None else table_seed, scenario, metric, value,
             "" if value is not None else "not applicable here") for (scenario, metric), value in values.items()]
    pd.DataFrame(rows, columns=list(METRICS_COLUMNS)).to_csv(folder / "metrics.tsv", sep="\t", index=False)
    provenance = {"task": task, "method": method, "scale": scale, "settings_sha256": settings_sha,
                  "inputs": inputs or {"dataset": {"path": "x", "sha256": digest}}}  # fmt: skip
    (folder / "provenance.json").write_text(json.dumps(provenance))
    for name, table in (artifacts or {}).items():
        table.to_csv(folder / f"{name}.tsv", sep="\t", index=False)
    return folder / "metrics.tsv"
