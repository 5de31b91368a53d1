"""Seconds of the genetic-perturbation task per method at demo size (the demo's budget: 3 minutes in all).

Runs every method of the demo config's ``tasks.genetic_perturbation`` (or ``--methods``) on the demo's
screen (``<results>/datasets/perturbseq.h5ad``, the model variants with ``<results>/pretrain/<variant>``),
each in a fresh process through ``sclong.tasks.run`` with every seed of the demo config, as the workflow's
job does. ``job s`` is that process's wall clock (start-up, imports, load, every seed), ``job CPU-s`` its
CPU time (the fairer number on a shared machine); ``load s`` and ``seed s`` come from its log; the last
columns are seed 0's ``pearson_delta_de`` and ``mse_de`` in ``seen_2_2``. Usage (after ``make demo`` or
the task's dataset rule): ``python benchmarks/genetic_perturbation.py [--results results/demo]``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from sclong.settings import to_json
from sclong.tasks.genetic_perturbation import TASK

REPO = Path(__file__).resolve().parents[1]
LOADED = re.compile(r"inputs loaded in ([\d.]+) s")
SEED = re.compile(r"seed (\d+): \d+ metrics in ([\d.]+) s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "results" / "demo")
    parser.add_argument("--methods", nargs="+", help="default: the demo config's methods")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of each job (the demo's: 1)")
    args = parser.parse_args()
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    block = {**config["tasks"]["genetic_perturbation"], "device": "cpu", "normalization": "paper",
             "go_annotations": config["go_annotations"]}  # fmt: skip
    seeds = config["tasks"]["seeds"]
    paths = {"dataset": args.results / "datasets" / f"{block['dataset']}.h5ad",
             **{name: REPO / config["sources"][name]["path"] for name in ("go_gaf", "go_obo")}}  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "NUMBA_NUM_THREADS": str(args.threads)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.methods or block["methods"]:
            inputs = {**paths, "checkpoint": args.results / "pretrain" / method}
            flags = [f for name in TASK.inputs(method) for f in ("--input", f"{name}={inputs[name]}")]
            command = [sys.executable, "-m", "sclong.tasks.run", "--task", TASK.name, "--method", method,
                       "--seeds", *map(str, seeds), *flags, "--scale", "demo", "--out-dir", str(Path(tmp) / method),
                       "--settings", to_json(block)]  # fmt: skip
            started, cpu_before = time.perf_counter(), _children_cpu()
            result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            wall, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
            if result.returncode:
                sys.exit(f"{method} failed:\n{result.stderr[-3000:]}")
            metrics = pd.read_csv(Path(tmp) / method / f"seed{seeds[0]}" / "metrics.tsv", sep="\t")
            value = metrics[metrics.scenario == "seen_2_2"].set_index("metric")["value"]
            rows.append((method, len(seeds), wall, cpu, float(LOADED.search(result.stderr).group(1)),
                         [float(s) for _, s in SEED.findall(result.stderr)], value["pearson_delta_de"],
                         value["mse_de"]))  # fmt: skip
    print(f"{paths['dataset']}, OMP_NUM_THREADS={args.threads}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'method':<11} {'seeds':>5} {'job s':>7} {'job CPU-s':>9} {'load s':>7} {'seed s':>20} "
          f"{'pearson_delta_de':>16} {'mse_de':>7}")  # fmt: skip
    for method, n, wall, cpu, load, per_seed, pearson, mse in rows:
        seed_text = ", ".join(f"{s:.1f}" for s in per_seed)
        print(f"{method:<11} {n:>5} {wall:>7.1f} {cpu:>9.1f} {load:>7.1f} {seed_text:>20} {pearson:>16.3f} {mse:>7.3f}")
    print(f"{'total':<11} {'':>5} {sum(r[2] for r in rows):>7.1f} {sum(r[3] for r in rows):>9.1f}")


def _children_cpu() -> float:
    """User + system CPU seconds of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
