"""scanpy's ``pbmc68k_reduced`` (700 real Zheng68K cells) as an ``.h5ad`` to embed: the demo's real cells.

The log-normalised ``.raw`` matrix is written (``.X`` of the shipped object is z-scored), with gene
symbols as ``var_names`` as a user's file would have them, and the cell-type labels in
``obs['cell_type']``.
"""

from __future__ import annotations

import argparse
import sys

import anndata as ad
import numpy as np
import scanpy as sc
import scipy.sparse as sp

from sclong.io.atomic import atomic_path


def pbmc68k_cells() -> ad.AnnData:
    """The log-normalised cells of ``pbmc68k_reduced`` with symbols and cell-type labels."""
    pbmc = sc.datasets.pbmc68k_reduced()
    cells = ad.AnnData(
        X=sp.csr_matrix(pbmc.raw.X, dtype=np.float32),
        obs=pbmc.obs[["bulk_labels"]].rename(columns={"bulk_labels": "cell_type"}),
        var=pbmc.raw.var[[]],
    )
    cells.uns["source"] = "scanpy.datasets.pbmc68k_reduced (.raw, log-normalised)"
    return cells


def main(argv: list[str] | None = None) -> int:
    """Write :func:`pbmc68k_cells` to ``--out``."""
    parser = argparse.ArgumentParser(prog="python -m sclong.data.pbmc68k", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help=".h5ad to write")
    args = parser.parse_args(argv)
    with atomic_path(args.out) as tmp:
        pbmc68k_cells().write_h5ad(tmp, compression="gzip")
    return 0


if __name__ == "__main__":
    from sclong.cli import run_module_main

    sys.exit(run_module_main(__name__, sys.argv[1:]))
