"""Statistics of the paper's figures: t-tests of scLong against every other method, Cohen's d, BH.

For every (task, scenario, metric) of a figure and every method other than the reference (``sclong``): a
two-sided two-sample t-test over the seeds (``welch``: unequal variances, the default; ``student``: pooled
variance), Cohen's d = (mean_reference - mean_method) / pooled SD (n - 1 weighted), and the
Benjamini-Hochberg adjustment over the whole figure's family of tests (statsmodels' ``fdr_bh``). A
comparison that cannot be tested gets an empty P and a ``note`` saying why: fewer than two runs on a side
(deterministic methods run once), no variance on either side, or values not applicable. The table is the
analogue of the paper's Supplementary Tables 11-16.

``python -m sclong.stats --figure fig5 --metrics <metrics.tsv ...> --settings JSON --out stats/fig5.tsv``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sclong.cli import run_module_main
from sclong.errors import InputError
from sclong.io.atomic import atomic_path
from sclong.settings import add_settings_argument, from_mapping, parse_settings
from sclong.tasks.base import METRICS_COLUMNS, PROVENANCE_FILE

REFERENCE = "sclong"
STATS_COLUMNS = (
    "figure", "task", "scenario", "metric", "method", "reference", "n_method", "n_reference", "mean_method",
    "sd_method", "mean_reference", "sd_reference", "test", "t_statistic", "p_value", "p_adjusted", "cohens_d",
    "significance", "note",
)  # fmt: skip


@dataclass(frozen=True)
class StatsSettings:
    """The ``stats`` config section."""

    test: Literal["welch", "student"]
    alpha: float


def significance(p_adjusted: float) -> str:
    """Stars of an adjusted P: ``***`` < 0.001, ``**`` < 0.01, ``*`` < 0.05, ``ns`` otherwise, '' untested."""
    if math.isnan(p_adjusted):
        return ""
    return "***" if p_adjusted < 0.001 else "**" if p_adjusted < 0.01 else "*" if p_adjusted < 0.05 else "ns"


def cohens_d(reference: np.ndarray, other: np.ndarray) -> float:
    """(mean reference - mean other) / pooled SD; NaN when the pooled SD is 0 or a side has < 2 values."""
    n1, n2 = len(reference), len(other)
    if n1 < 2 or n2 < 2:
        return math.nan
    pooled = ((n1 - 1) * reference.var(ddof=1) + (n2 - 1) * other.var(ddof=1)) / (n1 + n2 - 2)
    return float((reference.mean() - other.mean()) / math.sqrt(pooled)) if pooled > 0 else math.nan


def _test(reference: np.ndarray, other: np.ndarray, test: str) -> tuple[float, float, str]:
    """(t, two-sided P, note); NaNs and a reason when the test is undefined."""
    from scipy import stats

    if len(reference) < 2 or len(other) < 2:
        sides = [f"{name} has {len(v)} run" for name, v in (("reference", reference), ("method", other)) if len(v) < 2]
        return math.nan, math.nan, f"not tested: {' and '.join(sides)} (a t-test needs >= 2 per side)"
    if reference.var(ddof=1) == 0 and other.var(ddof=1) == 0:
        return math.nan, math.nan, "not tested: no variance in either group"
    result = stats.ttest_ind(reference, other, equal_var=test == "student")
    return float(result.statistic), float(result.pvalue), ""


def compare(metrics: pd.DataFrame, figure: str, settings: StatsSettings, reference: str = REFERENCE) -> pd.DataFrame:
    """The statistics table (columns :data:`STATS_COLUMNS`) of one figure's tidy metrics."""
    from statsmodels.stats.multitest import multipletests

    rows = []
    for (task, scenario, metric), group in metrics.groupby(["task", "scenario", "metric"], sort=True):
        ref_rows = group[group["method"] == reference]
        ref = ref_rows["value"].dropna().to_numpy(float)
        for method, other_rows in group[group["method"] != reference].groupby("method", sort=False):
            other = other_rows["value"].dropna().to_numpy(float)
            t_stat, p_value, note = _test(ref, other, settings.test)
            if other_rows["value"].isna().all():
                reason = next((n for n in other_rows["note"] if isinstance(n, str) and n), "no value")
                note = reason if reason.startswith("not applicable") else f"not applicable: {reason}"
            elif ref_rows.empty or ref_rows["value"].isna().all():
                note = f"not tested: no {reference} value"
            rows.append({
                "figure": figure, "task": task, "scenario": scenario, "metric": metric, "method": method,
                "reference": reference, "n_method": len(other), "n_reference": len(ref),
                "mean_method": other.mean() if len(other) else math.nan,
                "sd_method": other.std(ddof=1) if len(other) > 1 else math.nan,
                "mean_reference": ref.mean() if len(ref) else math.nan,
                "sd_reference": ref.std(ddof=1) if len(ref) > 1 else math.nan,
                "test": f"{settings.test} two-sided t-test", "t_statistic": t_stat, "p_value": p_value,
                "cohens_d": cohens_d(ref, other), "note": note,
            })  # fmt: skip
    table = pd.DataFrame(rows, columns=[c for c in STATS_COLUMNS if c not in ("p_adjusted", "significance")])
    table["p_adjusted"] = math.nan
    tested = table["p_value"].notna()
    if tested.any():
        table.loc[tested, "p_adjusted"] = multipletests(table.loc[tested, "p_value"], method="fdr_bh")[1]
    table["significance"] = table["p_adjusted"].map(significance)
    return table[list(STATS_COLUMNS)]


def read_metrics(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Concatenate metrics tables, checking each against the ``<task>/<method>/seed<seed>/`` it lies in and
    that all runs of one task share settings and all seeds of one method share their inputs."""
    frames, provenance = [], {}
    for path in map(Path, paths):
        try:
            frame = pd.read_csv(path, sep="\t", dtype={"scenario": str, "note": str}, keep_default_na=False,
                                na_values={"value": [""]})  # fmt: skip
        except (OSError, ValueError) as err:
            raise InputError(path, f"cannot read metrics table ({err})") from err
        missing = [c for c in METRICS_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError(path, f"metrics table lacks column(s) {', '.join(missing)}")
        task, method, seed_name = path.parts[-4:-1]
        expected = (task, method, seed_name.removeprefix("seed"))
        found = {(str(t), str(m), str(s)) for t, m, s in frame[["task", "method", "seed"]].itertuples(index=False)}
        if found != {expected}:
            raise InputError(path, f"holds runs {sorted(found)} but lies in {task}/{method}/{seed_name}")
        provenance[path] = _read_provenance(path.parent / PROVENANCE_FILE)
        frames.append(frame)
    _check_consistency(provenance)
    if not frames:
        return pd.DataFrame(columns=list(METRICS_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _read_provenance(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(path, f"cannot read the run's provenance ({err})") from err


def _check_consistency(provenance: dict[Path, dict]) -> None:
    """One settings hash per task, one set of input digests per method: never mix runs of other configs."""
    settings: dict[str, tuple[str, Path]] = {}
    inputs: dict[tuple[str, str], tuple[dict, Path]] = {}
    for path, record in provenance.items():
        task, method = record["task"], record["method"]
        digest = record["settings_sha256"]
        first = settings.setdefault(task, (digest, path))
        if first[0] != digest:
            raise InputError(path, f"was made with other {task} settings than {first[1]}: rerun the task")
        digests = {name: item["sha256"] for name, item in record["inputs"].items()}
        seen = inputs.setdefault((task, method), (digests, path))
        if seen[0] != digests:
            changed = sorted(name for name in digests if seen[0].get(name) != digests[name])
            raise InputError(path, f"was made from other inputs ({', '.join(changed)}) than {seen[1]}: rerun it")


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a TSV atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, float_format="%.6g")


def main(argv: list[str] | None = None) -> int:
    """Command line: the statistics table of one figure."""
    parser = argparse.ArgumentParser(prog="python -m sclong.stats", description=__doc__.split("\n")[0])
    parser.add_argument("--figure", required=True, help="figure name, e.g. fig5")
    parser.add_argument("--metrics", nargs="+", required=True, help="metrics.tsv of every run in the figure")
    parser.add_argument("--out", required=True, help="statistics TSV to write")
    add_settings_argument(parser, "stats")
    args = parser.parse_args(argv)
    settings = from_mapping(StatsSettings, parse_settings(args.settings, "stats"), "stats")
    write_table(compare(read_metrics(args.metrics), args.figure, settings), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
