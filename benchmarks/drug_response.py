"""Epoch time of the drug-response models at paper size on CPU (DeepCDR's network; the ridge baseline).

Paper size: 561 cell lines x 697 genes (random values standing in for expression or scLong per-gene
values: the network's cost does not depend on them), the 223 real GDSC drugs of
``../shared/data/drug_response/223drugs_pubchem_smiles.txt`` as 75-d ConvMol graphs, and DeepCDR's
107,446 pairs split 95/5 within each cancer type with 5% of the training part for validation (about
96,970 training and 5,100 validation pairs). ``--batches`` training steps of 64 pairs (Adam, MSE) are
timed after one warm-up step (wall clock, and CPU time: the fairer number on a shared machine), and the
epoch time is extrapolated from each: training steps of every training pair plus one
no-gradient pass over the validation pairs. The ridge baseline is timed on ``--linear-pairs`` pairs and
extrapolated linearly (its cost, X^T X, grows with the pairs). The drug-graph widths are the paper's (two 100-unit
layers before the last 100-unit one, "3 x 100") and DeepCDR's code default (256, 256, 256, then 100).
Usage: ``python benchmarks/drug_response.py [--batches 30 --threads 1 --linear-pairs 20000]``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SMILES = REPO.parent / "shared" / "data" / "drug_response" / "223drugs_pubchem_smiles.txt"
CELL_LINES, GENES, PAIRS, BATCH = 561, 697, 107_446, 64
TRAIN_PAIRS = int(PAIRS * 0.95 * 0.95)
VALIDATION_PAIRS = int(PAIRS * 0.95) - TRAIN_PAIRS
WIDTHS = {"paper (100, 100) + 100": (100, 100), "DeepCDR code (256, 256, 256) + 100": (256, 256, 256)}


def time_model(gcn_units: tuple[int, ...], graphs: list, batches: int) -> dict[str, float]:
    """Seconds per training step and per validation batch, and the extrapolated epoch time."""
    import torch

    from sclong.tasks.drugs.deepcdr import DeepCDR, PairSet, loader

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(CELL_LINES, GENES)).astype(np.float32)
    n = BATCH * (batches + 1)
    pairs = PairSet(
        rng.integers(0, CELL_LINES, n), rng.integers(0, len(graphs), n), rng.normal(size=n).astype(np.float32)
    )
    model = DeepCDR(GENES, 75, gcn_units)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = iter(loader(pairs, features, graphs, BATCH, shuffle=True, seed=0))
    model.train()
    for step in range(batches + 1):
        if step == 1:
            start, cpu = time.perf_counter(), time.process_time()
        cells, drugs, targets = next(steps)
        optimiser.zero_grad()
        torch.nn.functional.mse_loss(model(cells, drugs), targets).backward()
        optimiser.step()
    train_step = (time.perf_counter() - start) / batches
    train_cpu = (time.process_time() - cpu) / batches
    model.eval()
    start, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for cells, drugs, _ in loader(pairs, features, graphs, BATCH, shuffle=False, seed=0):
            model(cells, drugs)
    eval_batch = (time.perf_counter() - start) / math.ceil(n / BATCH)
    eval_cpu = (time.process_time() - cpu) / math.ceil(n / BATCH)
    steps, passes = math.ceil(TRAIN_PAIRS / BATCH), math.ceil(VALIDATION_PAIRS / BATCH)
    epoch, epoch_cpu = train_step * steps + eval_batch * passes, train_cpu * steps + eval_cpu * passes
    params = sum(p.numel() for p in model.parameters())
    return {"params": params, "train_step_ms": 1e3 * train_step, "train_step_cpu_ms": 1e3 * train_cpu,
            "eval_batch_ms": 1e3 * eval_batch, "epoch_s": epoch, "epoch_cpu_s": epoch_cpu}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=30, help="timed training steps of 64 pairs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--linear-pairs", type=int, default=20_000, help="pairs of the timed ridge fit")
    args = parser.parse_args()
    import torch

    from sclong.tasks.drugs.drug_response_data import read_smiles
    from sclong.tasks.drugs.molecules import featurize

    torch.set_num_threads(args.threads)
    smiles = read_smiles(SMILES)
    start = time.perf_counter()
    molecules = featurize(smiles.to_dict(), "deepcdr", str(SMILES))
    featurise_s = time.perf_counter() - start
    graphs = list(molecules.graphs.values())
    atoms = np.mean([g.num_nodes for g in graphs])
    print(f"{len(graphs)} drugs featurised in {featurise_s:.2f} s (mean {atoms:.1f} atoms); {TRAIN_PAIRS:,} training "
          f"and {VALIDATION_PAIRS:,} validation pairs; batch {BATCH}; {args.threads} thread(s)\n")  # fmt: skip
    header = ("params", "train step ms", "step CPU-ms", "eval batch ms", "epoch s", "epoch CPU-s", "500 ep. CPU-h")
    print(f"{'drug GCN widths':<38}" + "".join(f"{name:>15}" for name in header))
    for name, units in WIDTHS.items():
        row = time_model(units, graphs, args.batches)
        print(f"{name:<38}{row['params']:>15,}{row['train_step_ms']:>15.1f}{row['train_step_cpu_ms']:>15.1f}"
              f"{row['eval_batch_ms']:>15.1f}{row['epoch_s']:>15.0f}{row['epoch_cpu_s']:>15.0f}"
              f"{row['epoch_cpu_s'] * 500 / 3600:>15.1f}")  # fmt: skip
    seconds = time_linear(args.linear_pairs)
    scaled = seconds * TRAIN_PAIRS / args.linear_pairs
    print(f"\nridge baseline, one alpha, {args.linear_pairs:,} pairs x {GENES + 2048} features: {seconds:.1f} s; "
          f"{scaled:.0f} s extrapolated to {TRAIN_PAIRS:,} (linear in pairs)")  # fmt: skip


def time_linear(n_pairs: int) -> float:
    """Seconds of one standardised ridge fit on ``n_pairs`` pairs of 697 expression values + 2,048 Morgan bits."""
    from sclong.tasks.drugs.response_linear import fit_linear, pair_features

    rng = np.random.default_rng(0)
    expression = rng.normal(size=(CELL_LINES, GENES)).astype(np.float32)
    bits = (rng.random((223, 2048)) < 0.05).astype(np.float32)
    x = pair_features(expression, bits, rng.integers(0, CELL_LINES, n_pairs), rng.integers(0, 223, n_pairs))
    y = rng.normal(size=n_pairs).astype(np.float32)
    start = time.perf_counter()
    fit_linear((x, y), (x[:VALIDATION_PAIRS], y[:VALIDATION_PAIRS]), alphas=(1.0,))
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
