"""Cells/s and peak memory of the scLong perturbation fine-tune at Norman's size, on CPU, and the 1B estimate.

A synthetic screen of Norman 2019's shape as GEARS processed it (``--cells`` 91,205 cells x ``--genes``
5,045 genes, ``--singles`` 105 + ``--doubles`` 131 conditions, ``--control-cells`` control cells, sparse
log-normalised X of ``--density``) is built in memory: its first genes are the demo checkpoint's
vocabulary symbols (the rest are absent from it and get zero representations, as the model does for any
screen), its perturbed genes are GO-annotated demo genes. Then, as :func:`fit_predict_sclong` does:

1. ``store``: the demo checkpoint's representations of every control cell into the float16 memmap store
   (cells/s of the frozen backbone, the store's bytes on disk);
2. ``step dN``: ``--steps`` optimiser steps of the fine-tune (batch 16 x accumulation 8, the paper's), with
   the demo head (d = the demo's gene_dim, MLP d-2d-d) and with the paper's head (d = 200, MLP 200-400-200)
   on a store of the same shape filled with random values (the head's cost does not depend on the backbone
   that filled the store), in cells/s of training;
3. peak resident memory of the process (``ru_maxrss``) after each stage, against the dense arrays the
   streaming avoids (stores are written sequentially and mapped read-only, so only the rows a batch reads
   are resident).

The 1B estimate: the head's time per epoch is measured directly (step d200); the store costs one backbone
pass per control cell, estimated from the demo pass as t_1B = t_demo x F_1B / F_demo with the per-cell cost
F = 2 (P_large top_k + P_mini (n_genes - top_k) + P_full n_genes) (parameters of each Performer times the
tokens it sees; attention terms, linear in the tokens for a Performer, left out), and for a GPU as
n_control x F_1B / (utilisation x peak FLOP/s). Usage: ``python benchmarks/perturbation_finetune.py
[--control-cells 7353 --steps 6 --checkpoint results/demo/pretrain/sclong]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
DEMO_GAF = REPO / "resources" / "demo" / "goa_human_demo.gaf.gz"
DEMO_OBO = REPO / "resources" / "demo" / "go-basic_demo.obo.gz"
A100_BF16_FLOPS = 312e12
GPU_UTILISATION = 0.3


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def synthetic_screen(args: argparse.Namespace, vocabulary: pd.DataFrame, go) -> object:
    """A screen of Norman's shape (module docstring), built without DE tests (random DE genes)."""
    import anndata as ad

    from sclong.tasks.perturbation.screen import CONTROL, Screen

    rng = np.random.default_rng(0)
    symbols = [s for s in vocabulary["symbol"].astype(str) if s and s != "nan"]
    genes = (symbols + [f"ABSENT{i}" for i in range(args.genes)])[: args.genes]
    annotated = [s for s in symbols if go.lookup(s)]
    perturbed = list(rng.choice(annotated, args.singles, replace=False))
    pairs = set()
    while len(pairs) < args.doubles:
        a, b = sorted(rng.choice(perturbed, 2, replace=False))
        pairs.add(f"{a}+{b}")
    conditions = [f"{g}+{CONTROL}" for g in perturbed] + sorted(pairs)
    per_condition = (args.cells - args.control_cells) // len(conditions)
    labels = [CONTROL] * (args.cells - per_condition * len(conditions))
    labels += [c for c in conditions for _ in range(per_condition)]
    nnz = int(args.density * args.genes)
    indices = np.concatenate([np.sort(rng.random((min(4096, len(labels) - start), args.genes))
                                      .argpartition(nnz, axis=1)[:, :nnz], axis=1)
                              for start in range(0, len(labels), 4096)])  # fmt: skip
    data = np.log1p(rng.poisson(2.0, size=indices.shape) + 1).astype(np.float32)
    X = sp.csr_matrix((data.ravel(), indices.ravel(), np.arange(0, indices.size + 1, nnz)),
                      shape=(len(labels), args.genes))  # fmt: skip
    del indices, data
    obs = pd.DataFrame({"condition": labels, "cell_type": "K562"}, index=[f"c{i}" for i in range(len(labels))])
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame({"gene_name": genes}, index=genes))
    names = np.array(labels, dtype=object)
    de = {c: np.sort(rng.choice(args.genes, 20, replace=False)) for c in conditions}
    return Screen(adata=adata, genes=genes, conditions=names, control_rows=np.flatnonzero(names == CONTROL),
                  de_genes=de, de_genes_50=de, source="synthetic Norman-size screen")  # fmt: skip


class RandomStore:
    """A store of the model's layout (float16 memmap, control cells x genes x d) filled with random values."""

    def __init__(self, screen, dim: int, directory: Path) -> None:
        import torch

        self.dim, self.device = dim, torch.device("cpu")
        self.row_of = {int(row): i for i, row in enumerate(screen.control_rows)}
        shape = (len(screen.control_rows), len(screen.genes), dim)
        path = directory / f"random{dim}.npy"
        rng = np.random.default_rng(1)
        with open(path, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, {"descr": "<f2", "fortran_order": False, "shape": shape})
            for start in range(0, shape[0], 256):
                block = rng.standard_normal((min(256, shape[0] - start), *shape[1:]), dtype=np.float32)
                handle.write(block.astype(np.float16).tobytes())
        self.values = np.load(path, mmap_mode="r")

    def get(self, control_rows: np.ndarray) -> np.ndarray:
        return self.values[[self.row_of[int(r)] for r in control_rows]].astype(np.float32)


def time_steps(screen, split, graph, store, mlp_sizes: list[int], args: argparse.Namespace) -> float:
    """Training cells/s over ``args.steps`` optimiser steps (batch 16 x accumulation 8), after one warm-up step."""
    import torch

    from sclong.tasks.perturbation.model import (
        ModelInputs,
        ModelSettings,
        batch_tensors,
        gears_loss,
        perturbation_head,
    )
    from sclong.tasks.perturbation.screen import CONTROL, pair_controls

    settings = ModelSettings(epochs=1, batch_size=16, accumulation=8, lr=1e-3, lr_decay=0.5, weight_decay=5e-4,
                             grad_clip=1.0, autofocus_gamma=2.0, direction_lambda=0.1, mlp_sizes=mlp_sizes,
                             go_top_k=20, go_layers=1, representation_batch_size=64, eval_batch_size=256)  # fmt: skip
    node = {gene: i for i, gene in enumerate(graph.genes)}
    inputs = ModelInputs(
        screen=screen,
        nodes={c: [node[g] for g in screen.perturbed(c)] for c in split.train},
        kept_genes={c: torch.from_numpy(np.flatnonzero(screen.mean(c) != 0)) for c in split.train if c != CONTROL},
        control_mean=torch.from_numpy(screen.control_mean().astype(np.float32)),
    )
    torch.manual_seed(0)
    model = perturbation_head(len(screen.genes), graph, settings)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    train = pair_controls(screen, split.train, np.random.default_rng(0))
    order = np.random.default_rng(1).permutation(len(train.rows))
    batches = order[: (args.steps + 1) * 8 * 16].reshape(-1, 16)
    model.train()
    started = None
    for i, index in enumerate(batches):
        if i == 8:  # the first optimiser step is a warm-up
            started = time.perf_counter()
        reps, control, target, cells, nodes = batch_tensors(inputs, store, train, index)
        loss = gears_loss(model(reps, control, cells, nodes), target, train.conditions[index], inputs.control_mean,
                          inputs.kept_genes, settings.autofocus_gamma, settings.direction_lambda)  # fmt: skip
        (loss / settings.accumulation).backward()
        if (i + 1) % settings.accumulation == 0:
            torch.nn.utils.clip_grad_value_(model.parameters(), settings.grad_clip)
            optimizer.step()
            optimizer.zero_grad()
    return args.steps * 8 * 16 / (time.perf_counter() - started)


def flops_per_cell(config) -> float:
    """F = 2 (P_large top_k + P_mini (n_genes - top_k) + P_full n_genes) (module docstring)."""
    from sclong.model.size import count_parameters

    counts = count_parameters(config)
    rest = config.n_genes - config.top_k
    return 2.0 * (counts["large"] * config.top_k + counts["mini"] * rest + counts["full"] * config.n_genes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=91205)
    parser.add_argument("--genes", type=int, default=5045)
    parser.add_argument("--singles", type=int, default=105)
    parser.add_argument("--doubles", type=int, default=131)
    parser.add_argument("--control-cells", type=int, default=7353)
    parser.add_argument("--density", type=float, default=0.08, help="non-zero fraction of X")
    parser.add_argument("--steps", type=int, default=6, help="optimiser steps timed per head")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the 1B estimate (GEARS': 20)")
    parser.add_argument("--checkpoint", type=Path, default=REPO / "results" / "demo" / "pretrain" / "sclong")
    args = parser.parse_args()

    import torch

    from sclong.model.config import ModelConfig, paper_model_config
    from sclong.tasks.perturbation.go_files import pert_graph, read_go_annotations
    from sclong.tasks.perturbation.model import control_representations
    from sclong.tasks.perturbation.split import simulation_split

    torch.set_num_threads(torch.get_num_threads())
    vocabulary = pd.read_csv(args.checkpoint / "vocabulary.tsv", sep="\t")
    go = read_go_annotations(DEMO_GAF, DEMO_OBO, 0.0)
    started = time.perf_counter()
    screen = synthetic_screen(args, vocabulary, go)
    split = simulation_split(screen.condition_list(), 0, 0.75, 0.75)
    perturbed = sorted({g for c in screen.condition_list() for g in screen.perturbed(c)})
    graph = pert_graph(go, screen.genes, perturbed, 20)
    n_train = int(np.isin(screen.conditions, split.train).sum())
    rows = [("screen (sparse X) + split + GO graph", screen.adata.n_obs, time.perf_counter() - started, None,
             peak_gb())]  # fmt: skip

    started = time.perf_counter()
    store = control_representations(screen, args.checkpoint, "cpu", "paper", 64)
    store_s = time.perf_counter() - started
    n_control = len(screen.control_rows)
    rows.append((f"store: demo backbone, d={store.dim}", n_control, store_s, n_control / store_s, peak_gb()))
    demo_rate = time_steps(screen, split, graph, store, [store.dim, 2 * store.dim, store.dim], args)
    rows.append((f"step d{store.dim}: MLP {store.dim}-{2 * store.dim}-{store.dim}, 16 x 8", args.steps * 128,
                 args.steps * 128 / demo_rate, demo_rate, peak_gb()))  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="perturbation-benchmark-") as tmp:
        random_store = RandomStore(screen, 200, Path(tmp))
        paper_rate = time_steps(screen, split, graph, random_store, [200, 400, 200], args)
        rows.append(("step d200: MLP 200-400-200, 16 x 8", args.steps * 128, args.steps * 128 / paper_rate,
                     paper_rate, peak_gb()))  # fmt: skip
        store_bytes = random_store.values.nbytes
    table = pd.DataFrame(rows, columns=["stage", "cells", "seconds", "cells/s", "peak RSS GB"])
    print(table.to_string(index=False, float_format=lambda v: f"{v:,.2f}"))

    demo_config = ModelConfig.from_dict(json.loads((args.checkpoint / "model_config.json").read_text()))
    paper = paper_model_config()
    ratio = flops_per_cell(paper) / flops_per_cell(demo_config)
    t_cell = store_s / n_control
    dense = args.cells * args.genes * 200 * 4
    print(f"\nstreaming: peak RSS {peak_gb():.2f} GB; the store holds {n_control:,} x {args.genes:,} x 200 float16 = "
          f"{store_bytes / 1e9:.1f} GB on disk (d=200); one dense float32 array of every cell's representations "
          f"({args.cells:,} x {args.genes:,} x 200) would be {dense / 1e9:,.0f} GB, of the control cells alone "
          f"{n_control * args.genes * 200 * 4 / 1e9:,.1f} GB")  # fmt: skip
    print(f"1B estimate ({args.epochs} epochs, {n_train:,} training cells, {n_control:,} control cells):")
    print(f"  store: F_1B / F_demo = {flops_per_cell(paper):.3g} / {flops_per_cell(demo_config):.3g} = {ratio:,.0f};"
          f" CPU {t_cell:.3g} s x {ratio:,.0f} = {t_cell * ratio:,.0f} s per control cell ->"
          f" {n_control * t_cell * ratio / 3600:,.0f} h; A100 at {GPU_UTILISATION:.0%} of bf16 peak:"
          f" {n_control * flops_per_cell(paper) / (GPU_UTILISATION * A100_BF16_FLOPS) / 60:,.1f} min")  # fmt: skip
    print(f"  fine-tune (head d=200, CPU as measured): {args.epochs} x {n_train:,} / {paper_rate:,.1f} cells/s = "
          f"{args.epochs * n_train / paper_rate / 3600:,.1f} h (validation passes not included)")  # fmt: skip


if __name__ == "__main__":
    main()
