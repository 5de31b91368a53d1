"""The "Random GO" ablation: the GO graph's edges with weights drawn from U(0, 1).

The seed is ``go_graph.random_seed``: the command takes the whole ``go_graph`` config section.
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np
import pandas as pd

from sclong.cli import run_module_main
from sclong.knowledge.go_graph import GoGraphSettings, read_edge_table, write_edge_table
from sclong.settings import add_settings_argument, from_mapping, parse_settings

log = logging.getLogger(__name__)


def randomize_weights(edges: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Return a copy of ``edges`` whose ``weight`` column is U(0, 1) from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return edges.assign(weight=rng.uniform(0.0, 1.0, size=len(edges)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sclong.knowledge.random_go", description=__doc__.split("\n")[0])
    parser.add_argument("--in", dest="graph", required=True, help="GO graph edge list TSV")
    parser.add_argument("--out", required=True, help="edge list TSV to write")
    add_settings_argument(parser, "go_graph")
    args = parser.parse_args(argv)
    seed = from_mapping(GoGraphSettings, parse_settings(args.settings, "go_graph"), "go_graph").random_seed
    randomized = randomize_weights(read_edge_table(args.graph), seed)
    write_edge_table(randomized, args.out)
    log.info("random GO: %d edges, weights U(0,1) with seed go_graph.random_seed = %d", len(randomized), seed)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
