"""Statistics of the paper's figures: t-tests of scLong against every other method, Cohen's d, BH.

For every (task, scenario, metric) of a figure and every method other than the reference (``sclong``): a
two-sided two-sample t-test over the seeds (``welch``: unequal variances, the default; ``student``: pooled
variance), Cohen's d = (mean_reference - mean_method) / pooled SD (n - 1 weighted), and the
Benjamini-Hochberg adjustment (statsmodels' ``fdr_bh``) within each family of tests: the whole figure, or
the families its :class:`~sclong.figures.FigureSpec` names (Fig. 7: one per ablation study, as the paper's
Supplementary Tables 15 and 16 are one table each). A figure whose spec lists the metrics it shows is tested
on those only. A comparison that cannot be tested gets an empty P and a ``note`` saying why: fewer than two
runs on a side (deterministic methods run once), no variance on either side, or values not applicable. The table is the
analogue of the paper's Supplementary Tables 11-16.

``python -m sclong.stats --figure fig5 --metrics <metrics.tsv ...> --settings JSON --out stats/fig5.tsv``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from sclong.cli import run_module_main
from sclong.errors import InputError
from sclong.figures import get_figure
from sclong.io.atomic import atomic_path
from sclong.settings import add_settings_argument, from_mapping, parse_settings
from sclong.tasks.base import METRICS_COLUMNS, PROVENANCE_FILE

REFERENCE = "sclong"
STATS_COLUMNS = (
    "figure", "family", "task", "scenario", "metric", "method", "reference", "n_method", "n_reference", "mean_method",
    "sd_method", "mean_reference", "sd_reference", "test", "t_statistic", "p_value", "p_adjusted", "cohens_d",
    "significance", "note",
)  # fmt: skip
METHOD_INPUTS = ("embedding", "checkpoint")  # inputs of one method; every other input is the task's, shared


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


def compare(metrics: pd.DataFrame, figure: str, settings: StatsSettings, reference: str = REFERENCE,
            families: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:  # fmt: skip
    """The statistics table (columns :data:`STATS_COLUMNS`) of one figure's tidy metrics.

    ``families`` (name -> methods compared with the reference) splits the tests into Benjamini-Hochberg
    families, each adjusted on its own; without it the whole figure is one family, named after it.
    """
    from statsmodels.stats.multitest import multipletests

    family_of = {method: name for name, methods in (families or {}).items() for method in methods}
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
            if families is not None and method not in family_of:
                raise ValueError(f"{figure}: method {method} belongs to none of the families {', '.join(families)}")
            rows.append({
                "figure": figure, "family": family_of.get(method, figure), "task": task, "scenario": scenario,
                "metric": metric, "method": method, "reference": reference, "n_method": len(other),
                "n_reference": len(ref),
                "mean_method": other.mean() if len(other) else math.nan,
                "sd_method": other.std(ddof=1) if len(other) > 1 else math.nan,
                "mean_reference": ref.mean() if len(ref) else math.nan,
                "sd_reference": ref.std(ddof=1) if len(ref) > 1 else math.nan,
                "test": f"{settings.test} two-sided t-test", "t_statistic": t_stat, "p_value": p_value,
                "cohens_d": cohens_d(ref, other), "note": note,
            })  # fmt: skip
    table = pd.DataFrame(rows, columns=[c for c in STATS_COLUMNS if c not in ("p_adjusted", "significance")])
    table["p_adjusted"] = math.nan
    for _, family in table[table["p_value"].notna()].groupby("family"):
        table.loc[family.index, "p_adjusted"] = multipletests(family["p_value"], method="fdr_bh")[1]
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


def checkpoint_digest(record: dict) -> str | None:
    """sha256 of the weights a run of a model variant used: its checkpoint input, or the checkpoint its
    embedding input was made from; ``None`` for a run without either (a baseline)."""
    inputs = record["inputs"]
    if "checkpoint" in inputs:
        return inputs["checkpoint"]["sha256"]
    return inputs.get("embedding", {}).get("checkpoint_sha256")


def _check_consistency(provenance: dict[Path, dict]) -> None:
    """Refuse to mix runs made differently: one scale; per task one settings hash and the same task inputs
    (dataset, graphs, ...) for every method; per method the same inputs for every seed and the same
    checkpoint in every task. The error names the two runs and what differs."""
    first: dict[tuple, tuple[object, object, Path]] = {}

    def agree(key: tuple, value: object, path: Path, what: str, fix: str, shown: object = None) -> None:
        seen, seen_shown, where = first.setdefault(key, (value, shown, path))
        if seen != value:
            both_shown = shown is not None and seen_shown is not None
            detail = _difference(seen_shown, shown) if both_shown else _difference(seen, value)
            raise InputError(path, f"{what} not the same as in {where} ({detail}): {fix}")

    for path, record in provenance.items():
        task, method, inputs = record["task"], record["method"], record["inputs"]
        if "scale" in record:
            agree(("scale",), record["scale"], path, "scale", "never mix scales in one table")
        agree(("settings", task), record["settings_sha256"], path, f"{task} settings",
              f"rerun every {task} run with one config", record.get("settings"))  # fmt: skip
        for name, item in inputs.items():
            if name not in METHOD_INPUTS:
                agree(("task input", task, name), item["sha256"], path, f"{task} input {name!r}",
                      f"every {task} method must read the same {name}; rerun the task")  # fmt: skip
        digests = {name: item["sha256"] for name, item in inputs.items()}
        agree(("method inputs", task, method), digests, path, f"{task}/{method} inputs",
              "every seed of a method must read the same inputs; rerun it")  # fmt: skip
        checkpoint = checkpoint_digest(record)
        if checkpoint is not None:
            agree(("checkpoint", method), checkpoint, path, f"{method} checkpoint",
                  f"every task's {method} runs must come from one pretraining; rerun the stale ones")  # fmt: skip


def _difference(first: object, second: object) -> str:
    """What differs between two provenance values, briefly: the keys of mappings, else both values."""
    if isinstance(first, dict) and isinstance(second, dict):
        changed = sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))
        return f"differing: {', '.join(changed)}"
    return f"{str(second)[:12]} here, {str(first)[:12]} there"


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
    spec = get_figure(args.figure)
    compared = {REFERENCE, *(method for _, methods in spec.families for method in methods)}
    for path in map(Path, args.metrics):
        if spec.families and path.parts[-3] not in compared:
            raise InputError(path, f"method {path.parts[-3]} is in none of {spec.name}'s comparisons")
    metrics = read_metrics(args.metrics)
    if spec.shown:
        shown = pd.MultiIndex.from_frame(metrics[["task", "metric"]]).isin(list(spec.shown))
        metrics = metrics[shown]
    write_table(compare(metrics, args.figure, settings, families=dict(spec.families) or None), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
