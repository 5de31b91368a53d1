"""Draw one figure from tidy tables: ``python -m sclong.figures.make --figure fig5 ...``.

Reads the runs' metrics tables (checked by :func:`sclong.stats.read_metrics`: path, seeds, one config and one
set of inputs per method), the artifact tables beside them, the figure's statistics table and the paper's
reported numbers, asks the figure's module to draw, and writes a vector PDF and a PNG, each atomically.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sclong.cli import run_module_main
from sclong.errors import InputError
from sclong.figures import FigureSpec, get_figure
from sclong.io.atomic import atomic_path
from sclong.stats import read_metrics
from sclong.tasks.base import METRICS_FILE

PNG_DPI = 200


@dataclass(frozen=True)
class FigureTables:
    """Everything a figure module may read."""

    spec: FigureSpec
    metrics: pd.DataFrame
    stats: pd.DataFrame
    reported: pd.DataFrame
    artifacts: dict[tuple[str, str, int], dict[str, pd.DataFrame]]
    methods: dict[str, list[str]]  # task -> methods shown, in order
    scale: str
    seeds: list[int]


def read_tables(spec: FigureSpec, metrics_paths: list[Path], stats_path: Path, reported_path: Path,
                scale: str) -> FigureTables:  # fmt: skip
    """Load the tables of figure ``spec``."""
    metrics = read_metrics(metrics_paths)
    try:
        stats = pd.read_csv(stats_path, sep="\t", dtype={"scenario": str}, keep_default_na=False,
                            na_values={c: [""] for c in ("p_value", "p_adjusted", "t_statistic", "cohens_d")})
        reported = pd.read_csv(reported_path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise InputError(stats_path, f"cannot read the figure's tables ({err})") from err
    artifacts = {}
    for path in metrics_paths:
        task, method, seed = path.parts[-4], path.parts[-3], int(path.parts[-2].removeprefix("seed"))
        artifacts[(task, method, seed)] = {
            file.stem: pd.read_csv(file, sep="\t") for file in sorted(path.parent.glob("*.tsv"))
            if file.name != METRICS_FILE
        }  # fmt: skip
    methods = {task: list(dict.fromkeys(metrics.loc[metrics["task"] == task, "method"])) for task in spec.tasks}
    return FigureTables(spec, metrics, stats, reported[reported["figure"] == spec.name], artifacts, methods, scale,
                        sorted(set(metrics["seed"].astype(int))))  # fmt: skip


def save(figure: object, pdf: Path, png: Path) -> None:
    """Write ``figure`` as a vector PDF (no creation date, so reruns are identical; parts drawn rasterised at
    the PNG's resolution) and a PNG."""
    with atomic_path(pdf) as tmp:
        figure.savefig(tmp, format="pdf", dpi=PNG_DPI, metadata={"CreationDate": None}, bbox_inches="tight")
    with atomic_path(png) as tmp:
        figure.savefig(tmp, format="png", dpi=PNG_DPI, bbox_inches="tight")


def main(argv: list[str] | None = None) -> int:
    """Command line: draw one figure."""
    parser = argparse.ArgumentParser(prog="python -m sclong.figures.make", description=__doc__.split("\n")[0])
    parser.add_argument("--figure", required=True, help="fig5, fig6, fig8, ...")
    parser.add_argument("--metrics", nargs="+", required=True, type=Path, help="metrics.tsv of every run shown")
    parser.add_argument("--stats", required=True, type=Path, help="the figure's statistics table")
    parser.add_argument("--reported", required=True, type=Path, help="resources/paper/reported.tsv")
    parser.add_argument("--scale", required=True, help="scale label of the config")
    parser.add_argument("--pdf", required=True, type=Path)
    parser.add_argument("--png", required=True, type=Path)
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    spec = get_figure(args.figure)
    tables = read_tables(spec, args.metrics, args.stats, args.reported, args.scale)
    figure = importlib.import_module(spec.module).draw(tables)
    save(figure, args.pdf, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
