"""Reproduced vs reported: every number of the paper's table beside what this run computed.

One row per row of ``resources/paper/reported.tsv`` (see its README): the paper's value, this run's mean,
SD and number of runs of the same (task, method, scenario, metric), their difference, the scale and seeds,
and a ``status``: ``reproduced`` (at this scale), or why not (a foundation-model baseline the workflow does
not run, a method not configured, a task or metric not computed by this run).

``python -m sclong.fidelity --reported resources/paper/reported.tsv --metrics <metrics.tsv ...> --scale demo
--out results/demo/report/fidelity.tsv``
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import pandas as pd

from sclong.cli import run_module_main
from sclong.errors import InputError
from sclong.stats import read_metrics, write_table

NOT_RUN = {
    "geneformer": "foundation-model baseline not run by this workflow",
    "scgpt": "foundation-model baseline not run by this workflow",
    "scfoundation": "foundation-model baseline not run by this workflow",
    "uce": "foundation-model baseline not run by this workflow",
}
COLUMNS = ("figure", "panel", "task", "method", "scenario", "metric", "reported", "reproduced_mean", "reproduced_sd",
           "n_runs", "difference", "scale", "seeds", "status", "source")  # fmt: skip


def fidelity(reported: pd.DataFrame, metrics: pd.DataFrame, scale: str) -> pd.DataFrame:
    """The reproduced-vs-reported table (columns :data:`COLUMNS`)."""
    rows = []
    for row in reported.itertuples(index=False):
        runs = metrics[(metrics["task"] == row.task) & (metrics["method"] == row.method)
                       & (metrics["metric"] == row.metric)]  # fmt: skip
        if row.scenario != "all" or set(runs["scenario"]) != {"all"}:
            runs = runs[runs["scenario"] == row.scenario]
        values = runs["value"].dropna()
        paper = pd.to_numeric(pd.Series([row.value]), errors="coerce").iloc[0]
        mean = values.mean() if len(values) else math.nan
        rows.append({
            "figure": row.figure, "panel": row.panel, "task": row.task, "method": row.method, "scenario": row.scenario,
            "metric": row.metric, "reported": row.value, "reproduced_mean": mean,
            "reproduced_sd": values.std(ddof=1) if len(values) > 1 else math.nan, "n_runs": len(values),
            "difference": mean - paper if len(values) and math.isfinite(paper) else math.nan, "scale": scale,
            "seeds": ",".join(map(str, sorted(set(runs.loc[values.index, "seed"].astype(int))))),
            "status": _status(row, metrics, runs, values, scale), "source": row.source,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _status(row: object, metrics: pd.DataFrame, runs: pd.DataFrame, values: pd.Series, scale: str) -> str:
    if len(values):
        return f"reproduced at {scale} scale" + ("" if scale == "paper" else " (not comparable with the paper's)")
    if row.method in NOT_RUN:
        return f"not reproduced: {NOT_RUN[row.method]}"
    if not (metrics["task"] == row.task).any():
        return f"not reproduced: task {row.task} not computed by this run"
    if not ((metrics["task"] == row.task) & (metrics["method"] == row.method)).any():
        return f"not reproduced: method {row.method} not configured for {row.task}"
    if len(runs):
        return f"not reproduced: {runs['note'].iloc[0]}"
    return f"not reproduced: no {row.metric} ({row.scenario}) in this run"


def read_reported(path: Path) -> pd.DataFrame:
    """The committed table of the paper's numbers."""
    required = ("figure", "panel", "task", "method", "scenario", "metric", "value", "source")
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise InputError(path, f"cannot read the paper's numbers ({err})") from err
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(path, f"lacks column(s) {', '.join(missing)}")
    return table


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`fidelity`."""
    parser = argparse.ArgumentParser(prog="python -m sclong.fidelity", description=__doc__.split("\n")[0])
    parser.add_argument("--reported", required=True, type=Path, help="resources/paper/reported.tsv")
    parser.add_argument("--metrics", nargs="*", default=[], type=Path, help="metrics.tsv of every run")
    parser.add_argument("--scale", required=True, help="scale label of the config")
    parser.add_argument("--out", required=True, help="TSV to write")
    args = parser.parse_args(argv)
    write_table(fidelity(read_reported(args.reported), read_metrics(args.metrics), args.scale), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
