"""Chemical-perturbation models at the paper's size: training-step time and the epoch time it implies.

For DeepCE (:mod:`sclong.tasks.drugs.deepce`, 128-d gene input as DeepCE's ``gene_vector.csv``) and the
scLong model (:mod:`sclong.tasks.drugs.chem_model`, 200-d scLong gene vectors, feed-forward 2,048,
head hidden 128): 978 genes, 7 cell lines, 6 doses, batches of ``--batch-size`` real L1000 molecules
(``../shared/data/l1000/drugs_smiles.csv``, DeepCE atom features), MSE + Adam 2e-4. After ``--warmup``
steps, ``--steps`` steps are timed; the epoch time is that mean step time x ceil(3,965 / batch size),
the paper's training split. Usage: ``python benchmarks/chem_models.py [--batch-size 16 --steps 5]``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import pandas as pd
import torch
from torch_geometric.data import Batch

from sclong.tasks.drugs import chem_model, deepce
from sclong.tasks.drugs.l1000 import PAPER_SPLIT
from sclong.tasks.drugs.molecules import featurize

SMILES = Path(__file__).resolve().parents[2] / "shared" / "data" / "l1000" / "drugs_smiles.csv"


def build(name: str) -> torch.nn.Module:
    """One model at the paper's size."""
    if name == "deepce":
        return deepce.DeepCE(torch.randn(978, 128), n_cells=7, n_doses=6, dropout=0.1)
    return chem_model.ChemPerturbationModel(
        torch.randn(978, 200), 7, 6, feedforward_dim=2048, hidden_dim=128, dropout=0.1
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = pd.read_csv(SMILES, header=None, names=["pert_id", "smiles"]).iloc[: 64 * args.batch_size]
    graphs = list(
        featurize(dict(zip(table["pert_id"], table["smiles"], strict=True)), "deepce", "benchmark").graphs.values()
    )
    steps_per_epoch = math.ceil(PAPER_SPLIT["train"] / args.batch_size)
    print(f"978 genes, batch {args.batch_size}, {args.threads} threads, {steps_per_epoch} steps per epoch")
    print(f"{'model':<12} {'parameters':>11} {'step s':>8} {'epoch min':>10}")
    generator = torch.Generator().manual_seed(0)
    for name in ("deepce", "sclong"):
        torch.manual_seed(0)
        model = build(name).train()
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-4)
        times = []
        for step in range(args.warmup + args.steps):
            picks = torch.randint(len(graphs), (args.batch_size,), generator=generator).tolist()
            drugs = Batch.from_data_list([graphs[i] for i in picks])
            cell = torch.randint(7, (args.batch_size,), generator=generator)
            dose = torch.randint(6, (args.batch_size,), generator=generator)
            target = torch.randn(args.batch_size, 978, generator=generator)
            started = time.perf_counter()
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(drugs, cell, dose), target).backward()
            optimizer.step()
            if step >= args.warmup:
                times.append(time.perf_counter() - started)
        step_s = sum(times) / len(times)
        parameters = sum(p.numel() for p in model.parameters())
        print(f"{name:<12} {parameters:>11,} {step_s:>8.3f} {step_s * steps_per_epoch / 60:>10.1f}")


if __name__ == "__main__":
    main()
