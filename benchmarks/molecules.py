"""Drug graph builder speed: molecules/s of :func:`sclong.tasks.drugs.molecules.featurize` for each atom scheme.

Input: the 1,794 LINCS compounds of ``../shared/data/l1000/drugs_smiles.csv`` (DeepCE's SMILES). Each
scheme is featurised ``--repeats`` times after one warm-up pass (imports, rdkit and torch start-up); the
table gives the best pass. Also times a cache read (:func:`load_molecules` on a written cache) and Morgan
fingerprints (2,048 bits, radius 2). Usage: ``python benchmarks/molecules.py [--smiles PATH] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import pandas as pd

from sclong.tasks.drugs.molecules import ATOM_DIMS, featurize, fingerprints, load_molecules

DEFAULT_SMILES = Path(__file__).resolve().parents[2] / "shared" / "data" / "l1000" / "drugs_smiles.csv"


def best_seconds(work, repeats: int) -> float:
    """The shortest wall time of ``repeats`` calls of ``work``."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smiles", type=Path, default=DEFAULT_SMILES)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    table = pd.read_csv(args.smiles, header=None, names=["pert_id", "smiles"])
    smiles = dict(zip(table["pert_id"], table["smiles"], strict=True))
    featurize(smiles, "deepce", "warm-up")
    print(f"{len(smiles):,} molecules from {args.smiles}, best of {args.repeats}")
    print(f"{'case':<24} {'valid':>6} {'atoms':>8} {'seconds':>8} {'molecules/s':>12}")
    for scheme in ATOM_DIMS:
        result = featurize(smiles, scheme, "benchmark")
        atoms = sum(data.num_nodes for data in result.graphs.values())
        seconds = best_seconds(lambda scheme=scheme: featurize(smiles, scheme, "benchmark"), args.repeats)
        case = f"graphs {scheme} ({ATOM_DIMS[scheme]}-d)"
        print(f"{case:<24} {len(result.graphs):>6} {atoms:>8,} {seconds:>8.2f} {len(smiles) / seconds:>12,.0f}")
    with tempfile.TemporaryDirectory() as cache:
        load_molecules(smiles, "deepce", Path(cache), "benchmark")
        seconds = best_seconds(lambda: load_molecules(smiles, "deepce", Path(cache), "benchmark"), args.repeats)
        print(f"{'cache read deepce':<24} {'':>6} {'':>8} {seconds:>8.2f} {len(smiles) / seconds:>12,.0f}")
    seconds = best_seconds(lambda: fingerprints(smiles, n_bits=2048, radius=2), args.repeats)
    print(f"{'Morgan 2048 bits r=2':<24} {'':>6} {'':>8} {seconds:>8.2f} {len(smiles) / seconds:>12,.0f}")


if __name__ == "__main__":
    main()
