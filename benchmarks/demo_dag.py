"""Time the whole demo DAG (`snakemake --profile profiles/local all`) and each rule's share of it.

Runs the workflow in a fresh copy of the repository's tracked workflow files, then reads Snakemake's own log:
each job's start (the timestamp before ``rule <name>:`` and its ``jobid``) and end (``Finished jobid: N``).
Prints the wall time and, per rule, the jobs, their summed seconds and the share of all job-seconds (two
jobs run side by side on two cores, so job-seconds add up to about twice the wall time).

Usage: ``python benchmarks/demo_dag.py [--cores 2] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ["Snakefile", "workflow", "config", "resources/demo", "resources/paper", "profiles", "envs", "src"]
STAMP = re.compile(r"^\[(\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def job_seconds(log: str) -> dict[str, list[float]]:
    """Rule -> the seconds of each of its jobs, from a Snakemake log."""
    stamp, pending, started, seconds = None, None, {}, collections.defaultdict(list)
    for line in log.splitlines():
        if match := STAMP.match(line):
            stamp = datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
        elif match := START.match(line):
            pending = match.group(1)
        elif (match := JOBID.match(line)) and pending:
            started[match.group(1)] = stamp
            pending = None
        elif match := FINISHED.match(line):
            begin = started.get(match.group(1))
            if begin is not None:
                seconds[match.group(2)].append((stamp - begin).total_seconds())
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="run in this directory and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="sclong-demo-"))
    for item in COPIED:
        source, target = REPO / item, work / item
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    started = time.perf_counter()
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", str(args.cores), "all"]
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stderr[-3000:], file=sys.stderr)
        return 1
    seconds = job_seconds(result.stdout + result.stderr)
    total = sum(map(sum, seconds.values()))
    print(f"demo DAG: {sum(map(len, seconds.values()))} jobs, {wall:.0f} s wall ({wall / 60:.1f} min), "
          f"{total:.0f} job-seconds on {args.cores} cores\n")
    print("| rule | jobs | job-seconds | share |\n|---|---|---|---|")
    for rule, values in sorted(seconds.items(), key=lambda item: -sum(item[1])):
        print(f"| {rule} | {len(values)} | {sum(values):.0f} | {100 * sum(values) / total:.1f}% |")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
