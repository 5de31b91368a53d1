"""Speed and memory of embedding cells at demo model size on this CPU; prints one row per setting.

Usage: python benchmarks/embed.py [--cells 512] [--genes 2000] [--batch-sizes 8,32,128] [--threads 2]
                                  [--config config/config.yaml]

Each setting runs :func:`sclong.embedding.embed_anndata` in a fresh process on synthetic raw counts
(``--cells`` x ``--genes``, var names = vocabulary IDs) with a randomly initialised model of the demo
size (the ``model`` section of ``--config``), with and without gene-level output for 50 genes.
Reported: cells/s of the whole call (normalisation, batching, forward, pooling), peak RSS of the process
and its growth over the RSS before the call (model and data already loaded).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def demo_model(config: Path, n_genes: int) -> dict:
    """The ``model`` section of the workflow config (the demo sizes) with ``n_genes`` set."""
    return {**yaml.safe_load(config.read_text())["model"], "n_genes": n_genes}


def peak_rss_mib() -> float:
    """Maximum resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def run_setting(
    model_config: dict, cells: int, batch_size: int, attention: str, gene_out: bool, threads: int
) -> dict:
    """One embedding run in this (fresh) process; returns its measurements."""
    import anndata as ad
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
    import torch

    from sclong.embed import EmbedSettings
    from sclong.embedding import embed_anndata
    from sclong.model import ModelConfig, ScLong

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    genes, config = model_config["n_genes"], dict(model_config)
    for name in ("large", "mini", "full"):
        config[name] = {**config[name], "attention": attention}
    no_edges = (torch.zeros(2, 0, dtype=torch.long), torch.zeros(0))
    model = ScLong(ModelConfig.from_dict(config), torch.randn(genes, config["gene_dim"]), *no_edges).eval()
    ids = [f"ENSG{i:011d}" for i in range(genes)]
    vocabulary = pd.DataFrame({"index": range(genes), "ensembl_id": ids, "symbol": [f"G{i}" for i in range(genes)]})
    rng = np.random.default_rng(0)
    counts = sp.random(cells, genes, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    counts.data = rng.poisson(3, counts.nnz).astype(np.float32) + 1
    adata = ad.AnnData(counts, var=pd.DataFrame(index=ids))
    before = current_rss_mib()
    with tempfile.TemporaryDirectory() as scratch:
        start = time.perf_counter()
        embed_anndata(adata, model, vocabulary, settings=EmbedSettings(batch_size=batch_size),
                      genes=ids[:50] if gene_out else None,
                      gene_output=Path(scratch) / "genes.zarr" if gene_out else None)  # fmt: skip
        seconds = time.perf_counter() - start
    return {"cells_per_s": cells / seconds, "peak_mib": peak_rss_mib(), "growth_mib": peak_rss_mib() - before}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=512)
    parser.add_argument("--genes", type=int, default=2000)
    parser.add_argument("--batch-sizes", default="8,32,128")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--config", type=Path, default=REPO / "config" / "config.yaml")
    args = parser.parse_args(argv)
    model_config = demo_model(args.config, args.genes)
    settings = [(b, "performer", False) for b in map(int, args.batch_sizes.split(","))]
    settings += [(32, "sdpa", False), (32, "performer", True)]
    context = multiprocessing.get_context("spawn")
    print(f"{args.cells} cells x {args.genes} genes, demo model, {args.threads} threads")
    print(f"{'batch':>5}  {'attention':<9}  {'genes out':>9}  {'cells/s':>8}  {'peak RSS MiB':>12}  {'growth MiB':>10}")
    for batch_size, attention, gene_out in settings:
        with context.Pool(1) as pool:
            row = pool.apply(run_setting, (model_config, args.cells, batch_size, attention, gene_out, args.threads))
        print(f"{batch_size:>5}  {attention:<9}  {50 if gene_out else 0:>9}  {row['cells_per_s']:>8.1f}  "
              f"{row['peak_mib']:>12.0f}  {row['growth_mib']:>10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
