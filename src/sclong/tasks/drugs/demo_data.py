"""The drug tasks' demo folder datasets: ``python -m sclong.tasks.drugs.demo_data --builtin FORMAT ...``.

A builtin folder dataset (``datasets.<name>.builtin``: a folder format of :data:`sclong.data.file_sets.FILE_SETS`)
is simulated offline by its format's simulator, which writes the format's files; the task then reads them with
the same readers as the paper-scale data. The remaining arguments (``--genes``, ``--vocabulary``, ``--drugs``,
``--settings``, ``--out``) go to the simulator's ``main``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sclong.cli import run_module_main

SIMULATORS = {
    "l1000": "sclong.tasks.drugs.l1000_simulate",
    "deepcdr": "sclong.tasks.drugs.drug_response_demo",
    "deepdds": "sclong.tasks.drugs.combination_simulate",
}


def main(argv: list[str] | None = None) -> int:
    """Run the simulator of ``--builtin`` with the other arguments."""
    parser = argparse.ArgumentParser(prog="python -m sclong.tasks.drugs.demo_data", description=__doc__)
    parser.add_argument("--builtin", required=True, choices=sorted(SIMULATORS))
    args, rest = parser.parse_known_args(argv)
    return importlib.import_module(SIMULATORS[args.builtin]).main(rest) or 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
