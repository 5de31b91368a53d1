"""Training and embedding throughput, peak memory and model FLOPs utilisation (MFU) of the paper-scale scLong model.

Builds the paper's model (``paper_model_config()``: 27,874 genes, top 4,096 through the 42 x 1280 large
Performer, ~1.0B parameters; any size can be overridden by a flag) with random Gene2vec vectors and a random
20-neighbour GO graph, then, per attention backend (``performer``, ``sdpa``; the backend applies to all three
encoders), per mode and eager vs ``torch.compile``, measures one row:

* ``train``: a full optimizer step on synthetic cells (about 10 % non-zero values, masked as in pretraining by
  :func:`sclong.train.masking.choose_masks`, masks drawn before timing): bf16 autocast forward (fp32 master
  weights, as :mod:`sclong.train.loop`), masked-MSE backward, ``clip_grad_norm_`` and ``Adam(fused=True)``, no
  host synchronisation in the benchmark's own code.
* ``embed``: forward-only cell embedding (:meth:`ScLong.cell_embedding`) under ``torch.inference_mode``.

The micro-batch is the largest power of two up to ``--max-batch`` whose step fits: eager runs probe 1, 2, 4, ...
with one step each, catching ``torch.cuda.OutOfMemoryError`` and releasing memory between tries; compiled runs
start from the eager micro-batch (halving on OOM). Each row times ``--steps`` steps after ``--warmup`` steps with
CUDA events (``time.perf_counter`` on the CPU) and reports cells/s, tokens/s (cells/s x genes per cell: every
gene of a cell is one element of the model), ms per step, peak GPU memory during the timed steps
(``torch.cuda.max_memory_allocated``), achieved TFLOP/s and MFU = achieved / measured matmul peak, where the
peak is a loop of ``--peak-size``^3 bf16 matmuls (fp32 on the CPU) on the same device in the same run. A
failing ``torch.compile`` is reported as a row, not raised. The performer encoders' feature-redraw check (a
host sync on every training call) is switched off (``fix_projection_matrices_``); on CUDA the script also
counts the host syncs that remain in one eager training step (``torch.cuda.set_sync_debug_mode``) and lists
them below the table. The model exposes no activation checkpointing, so there is no flag for it. Rows go to
stderr as they are measured; the report (header, table, host-sync notes) to stdout and, with ``--out``, to a
markdown file (``--append`` adds a section, e.g. one per backend, since compiling takes minutes per backend).

Model FLOPs (matmul FLOPs, 2 per multiply-add; element-wise work, softmax/exp, LayerNorm, sorting and
gathers are not counted) for a micro-batch of B cells, G genes, top-k elements k, gene width d:

* expression MLP, per cell: ``2 G (expr_hidden + expr_hidden d)``
* GCN, once per step (not per cell): linear ``2 G d^2`` + propagation ``2 (E + G) d`` (E edges, self loops)
* projections into and out of the large encoder, per cell: ``2 k d H_large x 2``
* each encoder (width H, inner dim I = heads x dim_head, ff_mult f, N tokens: k large, G - k mini, G full),
  per cell and layer:

  - linear layers (q, k, v, out, feed-forward): ``2 N (4 H I + 2 f H^2)`` = 2 x weights per token x tokens
  - ``performer`` (FAVOR+, m = nb_features): ``8 N m I + 2 N m heads``: feature maps of q and k
    (``2 x 2 N m I``), k^T v context (``2 N m I``), its product with q (``2 N m I``) and the normaliser
    (``2 N m`` per head)
  - ``sdpa`` (exact attention): ``4 N^2 I`` (q k^T and attention x v)

* decoder, per cell: ``2 G d``

Training counts 3 x forward (backward = 2 x forward), the usual MFU convention; it slightly over-counts the
performer feature maps, whose random projection gets no gradient. At the paper's sizes the forward pass is
about 9.14 TFLOP per cell with ``performer`` (8.12 in the large encoder's linear layers, 0.75 in its FAVOR+
attention, 0.26 in the mini and full-length encoders) and about 19.5 TFLOP with ``sdpa`` (exact attention:
5.77 in the large encoder, 2.32 over the 23,778 mini and 3.18 over the 27,874 full-length elements).

    python benchmarks/gpu_throughput.py --backends performer --out benchmarks/results/gpu_throughput.md
    python benchmarks/gpu_throughput.py --backends sdpa --out benchmarks/results/gpu_throughput.md --append
    python benchmarks/gpu_throughput.py --device cpu --n-genes 64 --top-k 16 --large-depth 1 \\
        --large-hidden 32 --no-compile --max-batch 4        # a smoke test at tiny sizes
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import platform
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from sclong.model import EncoderConfig, ModelConfig, ScLong, paper_model_config
from sclong.train.masking import Masking, choose_masks, squared_error_sum

BACKENDS = ("performer", "sdpa")
MODES = ("train", "embed")
COLUMNS = (
    "backend",
    "compile",
    "mode",
    "micro-batch",
    "cells/s",
    "tokens/s",
    "step ms",
    "peak GiB",
    "TFLOP/s",
    "MFU %",
    "note",
)
NON_MATMUL = ("gcn_propagate",)  # FLOP terms that are not matrix products


# -- FLOPs -------------------------------------------------------------------------------------------------
def encoder_flops(encoder: EncoderConfig, tokens: int) -> dict[str, int]:
    """Forward matmul FLOPs of one encoder over ``tokens`` elements of one cell: ``linear`` and ``attention``."""
    hidden, inner, heads = encoder.hidden, encoder.heads * encoder.dim_head, encoder.heads
    linear = 2 * tokens * (4 * hidden * inner + 2 * encoder.ff_mult * hidden * hidden)
    if encoder.attention == "performer":
        m = encoder.nb_features
        attention = 8 * tokens * m * inner + 2 * tokens * m * heads
    else:
        attention = 4 * tokens * tokens * inner
    return {"linear": encoder.depth * linear, "attention": encoder.depth * attention}


def forward_flops(config: ModelConfig, batch: int, n_edges: int) -> dict[str, int]:
    """Forward FLOPs of a micro-batch of ``batch`` cells per model part (see the module docstring)."""
    genes, k, d = config.n_genes, config.top_k, config.gene_dim
    full_tokens = genes if config.use_leg else k
    parts = {
        "expression": batch * 2 * genes * (config.expr_hidden + config.expr_hidden * d),
        "gcn_linear": 2 * genes * d * d if config.use_go else 0,
        "gcn_propagate": 2 * (n_edges + genes) * d if config.use_go else 0,
        "projections": batch * 2 * 2 * k * d * config.large.hidden,
        "decoder": batch * 2 * full_tokens * d,
    }
    tokens = {"large": k, "mini": genes - k if config.use_leg else 0, "full": full_tokens}
    for name, count in tokens.items():
        if count:
            for kind, flops in encoder_flops(getattr(config, name), count).items():
                parts[f"{name}.{kind}"] = batch * flops
    return parts


def step_flops(config: ModelConfig, batch: int, n_edges: int, mode: str) -> int:
    """Model FLOPs of one step: the forward pass, times 3 for ``train``."""
    forward = sum(forward_flops(config, batch, n_edges).values())
    return 3 * forward if mode == "train" else forward


# -- model and data ----------------------------------------------------------------------------------------
def build_config(args: argparse.Namespace) -> ModelConfig:
    """The paper's model config with ``n_genes`` and the sizes given on the command line (validated once, so that
    a small ``n_genes`` needs its ``top_k``)."""
    base = paper_model_config()

    def given(**sizes: int | None) -> dict[str, int]:
        return {key: value for key, value in sizes.items() if value is not None}

    gene_dim = args.gene_dim or base.gene_dim
    large = replace(
        base.large,
        **given(
            depth=args.large_depth,
            hidden=args.large_hidden,
            heads=args.large_heads,
            dim_head=args.large_dim_head,
            nb_features=args.nb_features,
        ),
    )
    small = replace(
        base.mini,
        hidden=gene_dim,
        **given(
            depth=args.small_depth, heads=args.small_heads, dim_head=args.small_dim_head, nb_features=args.nb_features
        ),
    )
    return replace(
        base,
        n_genes=args.n_genes,
        gene_dim=gene_dim,
        **given(top_k=args.top_k, expr_hidden=args.expr_hidden),
        large=large,
        mini=small,
        full=small,
    )


def with_backend(config: ModelConfig, backend: str) -> ModelConfig:
    """``config`` with ``backend`` attention in all three encoders."""
    return replace(
        config,
        large=replace(config.large, attention=backend),
        mini=replace(config.mini, attention=backend),
        full=replace(config.full, attention=backend),
    )


def build_model(config: ModelConfig, edges_per_gene: int, device: torch.device, seed: int) -> ScLong:
    """A randomly initialised model on ``device`` with a random ``edges_per_gene``-neighbour gene graph.

    Built on the CPU and moved (performer-pytorch draws its FAVOR+ matrices through the CPU and cannot be
    built under ``torch.device("cuda")``). FAVOR+ redraws are switched off: performer-pytorch compares a
    step-counter tensor on every training call, which synchronises with the host.
    """
    torch.manual_seed(seed)
    genes = config.n_genes
    sources = torch.randint(0, genes, (genes * edges_per_gene,))
    targets = torch.arange(genes).repeat_interleave(edges_per_gene)
    model = ScLong(
        config,
        torch.randn(genes, config.gene_dim),
        torch.stack([sources, targets]),
        torch.rand(genes * edges_per_gene),
    )
    for module in model.modules():
        if hasattr(module, "fix_projection_matrices_"):
            module.fix_projection_matrices_()
    return model.to(device)


def synthetic_cells(n_genes: int, batch: int, device: torch.device, seed: int) -> tuple[torch.Tensor, Masking]:
    """``batch`` cells with ~10 % non-zero log-normal values and their pretraining masks."""
    generator = torch.Generator(device=device).manual_seed(seed)
    shape = (batch, n_genes)
    present = torch.rand(shape, generator=generator, device=device) < 0.1
    values = torch.log1p(torch.rand(shape, generator=generator, device=device) * 20) * present
    uniforms = torch.rand((2, *shape), generator=generator, device=device)
    return values, choose_masks(values, uniforms)


# -- timing ------------------------------------------------------------------------------------------------
def release(device: torch.device) -> None:
    """Free cached GPU memory and reset the peak-memory counter (nothing to do on the CPU)."""
    if device.type == "cuda":
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def seconds_per_call(fn: Callable[[], object], calls: int, device: torch.device) -> float:
    """Mean wall time of ``fn()`` over ``calls`` back-to-back calls (CUDA events on a GPU)."""
    if device.type != "cuda":
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - started) / calls
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(device)
    start.record()
    for _ in range(calls):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000 / calls


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int, calls: int) -> float:
    """FLOP/s of ``size``^3 matmuls in ``dtype`` on ``device`` (``calls`` warm-up calls, then ``calls`` timed)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    for _ in range(calls):
        torch.mm(a, b, out=out)
    seconds = seconds_per_call(lambda: torch.mm(a, b, out=out), calls, device)
    return 2 * size**3 / seconds


def host_syncs(step: Callable[[], None]) -> list[str]:
    """``file:line`` of every host synchronisation in one call of ``step`` (CUDA only)."""
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return [f"{Path(w.filename).name}:{w.lineno}" for w in caught if "synchroniz" in str(w.message)]


def largest_fitting(probe: Callable[[int], None], max_batch: int, device: torch.device) -> int:
    """The largest power of two <= ``max_batch`` for which ``probe(batch)`` runs without CUDA OOM (0: none)."""
    best, batch = 0, 1
    while batch <= max_batch:
        release(device)
        try:
            probe(batch)
        except torch.cuda.OutOfMemoryError:
            break
        best, batch = batch, batch * 2
    release(device)
    return best


# -- one row -----------------------------------------------------------------------------------------------
@dataclass
class Row:
    """One measured configuration; numbers are ``None`` when it did not run (``note`` says why)."""

    backend: str
    compiled: bool
    mode: str
    batch: int = 0
    cells_per_s: float | None = None
    tokens_per_s: float | None = None
    step_ms: float | None = None
    peak_gib: float | None = None
    tflops: float | None = None
    mfu_percent: float | None = None
    note: str = ""

    def cells(self) -> list[str]:
        """Table cells in :data:`COLUMNS` order."""
        numbers = (self.cells_per_s, self.tokens_per_s, self.step_ms, self.peak_gib, self.tflops, self.mfu_percent)
        return [
            self.backend,
            "yes" if self.compiled else "no",
            self.mode,
            str(self.batch) if self.batch else "-",
            *("-" if value is None else f"{value:.4g}" for value in numbers),
            self.note,
        ]


@dataclass
class Bench:
    """What every row of one run shares."""

    config: ModelConfig
    model: ScLong
    device: torch.device
    dtype: torch.dtype
    n_edges: int
    peak_flops: float
    warmup: int
    steps: int
    seed: int

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to the benchmark dtype (nothing in fp32)."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    @contextlib.contextmanager
    def step_fn(self, mode: str, batch: int, compiled: Callable | None) -> Iterator[Callable[[], None]]:
        """A closure running one ``mode`` step on ``batch`` synthetic cells (``compiled``: the compiled forward).

        Training uses a fresh fused Adam; everything is released on exit.
        """
        values, masking = synthetic_cells(self.config.n_genes, batch, self.device, self.seed)
        model = self.model
        if mode == "embed":
            model.eval()
            embed = model.cell_embedding if compiled is None else compiled

            def step() -> None:
                with torch.inference_mode(), self.autocast():
                    embed(values)

            yield step
            return
        model.train()
        forward = model if compiled is None else compiled
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(params, lr=1e-5, fused=self.device.type == "cuda")

        def step() -> None:
            with self.autocast():
                out = forward(values, masking.mask)
            sse, count = squared_error_sum(out.reconstruction, values, masking.chosen, out.predicted)
            (sse / count.clamp_min(1)).backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        try:
            yield step
        finally:
            optimizer.zero_grad(set_to_none=True)

    def measure(self, backend: str, mode: str, batch: int, compiled: Callable | None) -> Row:
        """Warm up, then time ``steps`` steps at ``batch``; raises CUDA OOM."""
        with self.step_fn(mode, batch, compiled) as step:
            for _ in range(self.warmup):
                step()
            if self.device.type == "cuda":  # keep the allocator's cache: a cudaMalloc while timing would sync
                torch.cuda.reset_peak_memory_stats(self.device)
            seconds = seconds_per_call(step, self.steps, self.device)
            peak = torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else None
        flops = step_flops(self.config, batch, self.n_edges, mode) / seconds
        return Row(
            backend=backend,
            compiled=compiled is not None,
            mode=mode,
            batch=batch,
            cells_per_s=batch / seconds,
            tokens_per_s=batch * self.config.n_genes / seconds,
            step_ms=seconds * 1000,
            peak_gib=peak,
            tflops=flops / 1e12,
            mfu_percent=100 * flops / self.peak_flops,
        )

    def probe(self, mode: str, batch: int) -> None:
        """One eager step at ``batch`` (raises CUDA OOM when it does not fit)."""
        with self.step_fn(mode, batch, None) as step:
            step()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)

    def best_row(self, backend: str, mode: str, batches: Sequence[int], compiled: Callable | None) -> Row:
        """The row of the first micro-batch in ``batches`` that fits."""
        for batch in batches:
            release(self.device)
            try:
                return self.measure(backend, mode, batch, compiled)
            except torch.cuda.OutOfMemoryError:
                continue
        return Row(backend, compiled is not None, mode, note="out of memory at micro-batch 1")


def halvings(batch: int) -> list[int]:
    """``[batch, batch // 2, ..., 1]``."""
    return [batch >> i for i in range(batch.bit_length())]


def run_backend(
    bench: Bench, backend: str, modes: Sequence[str], max_batch: int, compile_kwargs: dict | None
) -> list[Row]:
    """Eager (and, with ``compile_kwargs`` for ``torch.compile``, compiled) rows of every mode.

    Each row is also printed to stderr as soon as it is measured, so a run cut short keeps its rows.
    """
    rows: list[Row] = []

    def add(row: Row) -> None:
        rows.append(row)
        print("| " + " | ".join(row.cells()) + " |", file=sys.stderr, flush=True)

    for mode in modes:
        fits = largest_fitting(lambda batch, mode=mode: bench.probe(mode, batch), max_batch, bench.device)
        add(bench.best_row(backend, mode, halvings(fits), None))
        if compile_kwargs is None:
            continue
        if not fits:
            add(Row(backend, True, mode, note="skipped: eager does not fit"))
            continue
        target = bench.model if mode == "train" else bench.model.cell_embedding
        try:
            compiled = torch.compile(target, dynamic=False, **compile_kwargs)
            add(bench.best_row(backend, mode, halvings(fits), compiled))
        except Exception as err:  # a compile failure is a result, not a crash
            lines = str(err).strip().splitlines()
            message = lines[0][:160].replace("|", "/") if lines else ""
            add(Row(backend, True, mode, note=f"compile failed: {type(err).__name__}: {message}"))
        torch._dynamo.reset()
        release(bench.device)
    return rows


# -- output ------------------------------------------------------------------------------------------------
def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a markdown table with :data:`COLUMNS`."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def header(argv: Sequence[str], device: torch.device, config: ModelConfig, params: int, peak: str) -> str:
    """Machine, software, date, command line and model of a run."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or '?'})"
    flops = {b: sum(forward_flops(with_backend(config, b), 1, 0).values()) / 1e12 for b in BACKENDS}
    return "\n".join(
        [
            "# scLong throughput",
            "",
            f"- device: {name}",
            f"- torch {torch.__version__}, CUDA {torch.version.cuda or 'none'}",
            f"- date: {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- command: `python benchmarks/gpu_throughput.py {shlex.join(argv)}`",
            f"- model: {config.n_genes:,} genes, top {config.top_k:,}, large {config.large.depth} x "
            f"{config.large.hidden}, {params:,} parameters; forward "
            + ", ".join(f"{b} {f:.4g} TFLOP/cell" for b, f in flops.items()),
            f"- matmul peak (MFU denominator): {peak}",
            "",
        ]
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/gpu_throughput.py",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--device", help="cuda or cpu (default: cuda when available)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--no-compile", action="store_true", help="eager rows only")
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend (eager: Dynamo only)")
    parser.add_argument("--max-batch", type=int, default=64, help="largest micro-batch tried")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per row")
    parser.add_argument("--peak-size", type=int, help="matmul size of the peak (default 8192 on cuda, 1024 on cpu)")
    parser.add_argument("--edges-per-gene", type=int, default=20, help="random GO graph degree")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the header and table to this markdown file")
    parser.add_argument("--append", action="store_true", help="append to --out (one section per run)")
    sizes = parser.add_argument_group("model sizes (default: paper_model_config())")
    sizes.add_argument("--n-genes", type=int, default=27_874)
    for flag in ("top-k", "gene-dim", "expr-hidden", "nb-features"):
        sizes.add_argument(f"--{flag}", type=int)
    for encoder in ("large", "small"):
        for field in ("depth", "hidden", "heads", "dim-head"):
            if (encoder, field) != ("small", "hidden"):  # mini/full width is --gene-dim
                sizes.add_argument(f"--{encoder}-{field}", type=int, help=f"{encoder} encoder {field}")
    args = parser.parse_args(argv)
    if min(args.max_batch, args.steps) < 1 or args.warmup < 0:
        parser.error("--max-batch and --steps must be positive, --warmup non-negative")
    return args


def run(argv: Sequence[str]) -> tuple[str, list[Row]]:
    """Measure every row of the command line ``argv``; returns the markdown report and the rows."""
    args = parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    config = build_config(args)
    size = args.peak_size or (8192 if device.type == "cuda" else 1024)
    peak_flops = matmul_peak(device, dtype, size, 50 if device.type == "cuda" else 5)
    peak = f"{peak_flops / 1e12:.4g} TFLOP/s ({str(dtype).removeprefix('torch.')} {size}^3 matmul)"
    rows: list[Row] = []
    notes: list[str] = []
    params = 0
    for backend in args.backends:
        model = build_model(with_backend(config, backend), args.edges_per_gene, device, args.seed)
        params = sum(p.numel() for p in model.parameters())
        bench = Bench(
            config=model.config,
            model=model,
            device=device,
            dtype=dtype,
            n_edges=config.n_genes * args.edges_per_gene,
            peak_flops=peak_flops,
            warmup=args.warmup,
            steps=args.steps,
            seed=args.seed,
        )
        compile_kwargs = None if args.no_compile else {"mode": args.compile_mode, "backend": args.compile_backend}
        rows += run_backend(bench, backend, args.modes, args.max_batch, compile_kwargs)
        if device.type == "cuda" and "train" in args.modes:
            with bench.step_fn("train", 1, None) as step:
                step()
                sites = host_syncs(step)
            notes.append(f"- host syncs in one eager {backend} train step: {len(sites)} ({', '.join(sites)})")
        del bench, model
        release(device)
    report = header(argv, device, config, params, peak) + "\n" + markdown_table(rows)
    if notes:
        report += "\n" + "\n".join(notes) + "\n"
    return report, rows


def main(argv: Sequence[str] | None = None) -> int:
    """Print the report; with ``--out`` also write it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    report, _ = run(argv)
    print(report, end="")
    args = parse_args(argv)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a" if args.append else "w") as file:
            file.write(("\n" if args.append and args.out.stat().st_size else "") + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
