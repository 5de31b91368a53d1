"""Drug combination at the paper's size on CPU: one training epoch of each network, the random forest's fit.

The real O'Neil screen of ``../shared/data/drug_combination`` (12,415 pairs, 36 drugs, 31 cell lines,
954 genes) is the training set of every row. ``deepdds``: DeepDDS' GCNNet at the batch size of its GCN
training script (256); ``sclong``: the paper's scLong model at its batch size (256), fed 954 cell
inputs (random values: only the shape matters for time). Each network runs one untimed warm-up epoch,
then ``--epochs`` timed ones (mean shown, wall and this process's CPU seconds: on a shared machine the
CPU time is the steadier number). ``random forest``: sklearn's forest (``--trees``, ``--threads`` jobs)
on [Morgan radius 2, 1,024 bits of both drugs; expression], fit on the 12,415 pairs, then scoring them.
Featurisation and feature building happen before the clock starts.
Usage: ``python benchmarks/drug_combination.py [--epochs 1 --trees 100 --threads 1]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Batch

from sclong.tasks.drugs import combination_data as data
from sclong.tasks.drugs import deepdds
from sclong.tasks.drugs.combination_rf import pair_features, random_forest_scores
from sclong.tasks.drugs.combination_train import PairLoader
from sclong.tasks.drugs.molecules import featurize, fingerprints

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "drug_combination"
BATCH = {"deepdds": 256, "sclong": 256}


def epoch_seconds(kind: deepdds.NetKind, pairs: pd.DataFrame, drugs: list[str], batch: Batch,
                  cells: pd.DataFrame, epochs: int) -> tuple[int, float, float]:  # fmt: skip
    """Parameters of the network and the mean wall and CPU seconds of one training epoch over ``pairs``."""
    net = deepdds.build(kind, cells.shape[1], 0.2, seed=0)
    loader = PairLoader(pairs, drugs, cells, BATCH[kind], seed=0)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    net.train()
    times, cpu = [], []
    for epoch in range(epochs + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        for item in loader:
            loss = torch.nn.functional.cross_entropy(net(batch, item.drug1, item.drug2, item.cells), item.label)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if epoch:
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return sum(p.numel() for p in net.parameters()), float(np.mean(times)), float(np.mean(cpu))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    labels = data.read_labels(DATA / "labels_0_10.csv.gz")
    features = data.read_cell_features(DATA / "new_cell_features_954.csv", "exact")
    screen = data.match_screen(labels, features, {}, "O'Neil", {})
    drugs = screen.drugs
    graphs = featurize({s: s for s in drugs}, "deepdds", "O'Neil").graphs
    batch = Batch.from_data_list([graphs[s] for s in drugs])
    rng = np.random.default_rng(0)
    sclong_values = pd.DataFrame(rng.normal(size=screen.cells.shape).astype(np.float32), index=screen.cells.index)
    print(f"{len(screen.pairs):,} training pairs, {len(drugs)} drugs, {args.threads} threads")
    print(f"{'model':<42} {'batch':>5} {'size':>16} {'s/epoch':>8} {'CPU s':>8} {'pairs/s':>8}", flush=True)
    for kind, cells in (("deepdds", screen.cells), ("sclong", sclong_values)):
        params, seconds, cpu = epoch_seconds(kind, screen.pairs, drugs, batch, cells, args.epochs)
        row = (kind, BATCH[kind], f"{params:,}", seconds, cpu, len(screen.pairs) / seconds)
        print(f"{row[0]:<42} {row[1]:>5} {row[2]:>16} {row[3]:>8.1f} {row[4]:>8.1f} {row[5]:>8.0f}", flush=True)
    bits = fingerprints({s: s for s in drugs}, n_bits=1024, radius=2)
    x = pair_features(screen.pairs, bits, screen.cells)
    y = screen.pairs["label"].to_numpy()
    start, start_cpu = time.perf_counter(), time.process_time()
    random_forest_scores(x, y, x, n_trees=args.trees, seed=0, n_jobs=args.threads)
    seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    name = f"random forest ({args.trees} trees, fit + predict)"
    print(f"{name:<42} {'-':>5} {f'{x.shape[1]:,} features':>16} {seconds:>8.1f} {cpu:>8.1f} {len(y) / seconds:>8.0f}")

if __name__ == "__main__":
    main()
