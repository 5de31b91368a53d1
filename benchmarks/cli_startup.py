"""Start-up time of `sclong` commands' help (nothing heavy may be imported before a command runs).

Usage: python benchmarks/cli_startup.py [--repeats 5] [--commands embed,download]

Each row: the median wall time of ``python -m sclong.cli [COMMAND] --help`` in a fresh interpreter over
``--repeats`` runs, and which heavy modules (torch, anndata, scanpy, scipy, pandas, numpy) it imported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "anndata", "scanpy", "scipy", "pandas", "numpy")
SCRIPT = f"""
import json, sys
from sclong.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]), file=sys.stderr)
"""


def measure(argv: list[str], repeats: int) -> tuple[float, list[str]]:
    """Median seconds of one help call and the heavy modules it imported."""
    times, heavy = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        heavy = json.loads(result.stderr.strip().splitlines()[-1])
    return statistics.median(times), heavy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--commands", default="embed,download")
    args = parser.parse_args(argv)
    rows = [["--help"]] + [[command, "--help"] for command in args.commands.split(",")]
    print(f"{'command':<24}  {'median s':>8}  heavy modules imported")
    for row in rows:
        seconds, heavy = measure(row, args.repeats)
        print(f"{'sclong ' + ' '.join(row):<24}  {seconds:>8.2f}  {', '.join(heavy) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
