"""benchmarks/gpu_throughput.py at tiny sizes on the CPU, and its analytic FLOP count."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from sclong.model import EncoderConfig, ModelConfig, paper_model_config
from sclong.model.size import build_meta_model

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_throughput.py"
TINY = (
    "--device cpu --n-genes 64 --top-k 16 --large-depth 1 --large-hidden 32 --large-heads 2 --large-dim-head 16 "
    "--gene-dim 16 --expr-hidden 8 --small-depth 1 --small-heads 2 --small-dim-head 8 --nb-features 8 "
    "--max-batch 4 --warmup 1 --steps 1 --peak-size 128"
).split()


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    """The benchmark script as a module."""
    spec = importlib.util.spec_from_file_location("gpu_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_throughput"] = module
    spec.loader.exec_module(module)
    return module


def table_rows(report: str) -> list[list[str]]:
    """Body rows of the markdown table in ``report``, as lists of stripped cells."""
    lines = [line for line in report.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def test_cpu_run_has_a_positive_row_per_backend_and_mode(bench: ModuleType, tmp_path: Path, capsys) -> None:
    out = tmp_path / "results" / "gpu.md"
    assert bench.main([*TINY, "--no-compile", "--out", str(out)]) == 0
    report = out.read_text()
    assert report == capsys.readouterr().out
    for line in ("- device: CPU", f"- torch {torch.__version__}", "--n-genes 64", "- date: ", "- matmul peak"):
        assert line in report
    rows = table_rows(report)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (backend, "no", mode) for backend in ("performer", "sdpa") for mode in ("train", "embed")
    ]
    columns = bench.COLUMNS
    for row in rows:
        assert len(row) == len(columns)
        assert row[columns.index("micro-batch")] == "4"
        for name in ("cells/s", "tokens/s", "step ms", "TFLOP/s", "MFU %"):
            assert float(row[columns.index(name)]) > 0, (name, row)
        cells = float(row[columns.index("cells/s")])
        assert float(row[columns.index("tokens/s")]) == pytest.approx(64 * cells, rel=1e-3)
        assert float(row[columns.index("step ms")]) == pytest.approx(4000 / cells, rel=1e-3)
        assert row[columns.index("peak GiB")] == "-"  # no GPU memory on the CPU


def test_a_failing_compile_is_a_row(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch, "compile", broken)
    _, rows = bench.run([*TINY, "--backends", "sdpa", "--modes", "train"])
    assert [(r.compiled, r.cells_per_s is not None) for r in rows] == [(False, True), (True, False)]
    assert rows[1].note == "compile failed: RuntimeError: no compiler here"
    assert table_rows(bench.markdown_table(rows))[1][:4] == ["sdpa", "yes", "train", "-"]


def test_compiled_rows_run_through_dynamo(bench: ModuleType) -> None:
    """``--compile-backend eager`` traces with Dynamo without Inductor's code generation (fast on the CPU)."""
    argv = [*TINY, "--backends", "sdpa", "--modes", "train", "--max-batch", "1", "--compile-backend", "eager"]
    _, rows = bench.run(argv)
    assert [r.compiled for r in rows] == [False, True]
    for row in rows:
        assert row.note == "" and row.batch == 1 and row.cells_per_s > 0 and row.mfu_percent > 0


def test_batch_search_doubles_until_out_of_memory(bench: ModuleType) -> None:
    def probe(limit: int):
        def run(batch: int) -> None:
            tried.append(batch)
            if batch > limit:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory")

        return run

    tried: list[int] = []
    assert bench.largest_fitting(probe(5), 64, torch.device("cpu")) == 4
    assert tried == [1, 2, 4, 8]
    tried.clear()
    assert bench.largest_fitting(probe(100), 16, torch.device("cpu")) == 16
    assert tried == [1, 2, 4, 8, 16]
    assert bench.largest_fitting(probe(0), 16, torch.device("cpu")) == 0
    assert bench.halvings(8) == [8, 4, 2, 1]


def tiny_config(attention: str) -> ModelConfig:
    small = {"depth": 1, "heads": 2, "dim_head": 8, "hidden": 16, "nb_features": 8, "attention": attention}
    return ModelConfig(
        n_genes=64,
        top_k=16,
        gene_dim=16,
        expr_hidden=8,
        large=EncoderConfig(depth=2, heads=2, dim_head=16, hidden=32, nb_features=8, attention=attention),
        mini=EncoderConfig(**small),
        full=EncoderConfig(**small),
    )


@pytest.mark.parametrize("attention", ["performer", "sdpa"])
def test_forward_flops_match_torch_flop_counter(bench: ModuleType, attention: str) -> None:
    config = tiny_config(attention)
    model = bench.build_model(config, edges_per_gene=3, device=torch.device("cpu"), seed=0)
    values, masking = bench.synthetic_cells(config.n_genes, 3, torch.device("cpu"), seed=0)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), counter:  # the math backend's matmuls are counted
        model(values, masking.mask)
    parts = bench.forward_flops(config, 3, n_edges=3 * 64)
    assert counter.get_total_flops() == sum(v for k, v in parts.items() if k not in bench.NON_MATMUL)
    assert parts["gcn_propagate"] == 2 * (3 * 64 + 64) * 16
    assert bench.step_flops(config, 3, 3 * 64, "train") == 3 * bench.step_flops(config, 3, 3 * 64, "embed")


def test_linear_flops_are_twice_weights_times_tokens(bench: ModuleType) -> None:
    """Brute force on the paper's model (meta device): 2 x nn.Linear weights x tokens per encoder."""
    config = paper_model_config()
    model = build_meta_model(config)
    for name, tokens in (("large", 4096), ("mini", 27_874 - 4096), ("full", 27_874)):
        weights = sum(m.weight.numel() for m in getattr(model, name).modules() if isinstance(m, torch.nn.Linear))
        assert bench.encoder_flops(getattr(config, name), tokens)["linear"] == 2 * weights * tokens
    projections = model.project_in.weight.numel() + model.project_out.weight.numel()
    assert bench.forward_flops(config, 1, 0)["projections"] == 2 * projections * 4096


def test_paper_forward_flops_per_cell_are_sane(bench: ModuleType) -> None:
    """Per cell: ~2 x 1.0e9 weights x 4,096 top-k tokens = 8.1 TFLOP of large-encoder linear layers, plus
    attention: 9.0-9.5 TFLOP with FAVOR+ (linear in sequence length) and 18-21 TFLOP with exact attention
    (quadratic over 23,778 mini and 27,874 full-length elements)."""
    config = paper_model_config()
    performer = sum(bench.forward_flops(config, 1, 0).values())
    sdpa = sum(bench.forward_flops(bench.with_backend(config, "sdpa"), 1, 0).values())
    assert 9.0e12 < performer < 9.5e12
    assert 1.8e13 < sdpa < 2.1e13
    assert sum(bench.forward_flops(config, 8, 0).values()) < 8 * performer  # the GCN runs once per step


def test_out_is_overwritten_or_appended_to(bench: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "gpu.md"
    out.write_text("old results\n")
    quick = [*TINY, "--no-compile", "--backends", "sdpa", "--modes", "embed", "--out", str(out)]
    bench.main(quick)
    bench.main([*quick, "--append"])
    text = out.read_text()
    assert "old results" not in text and text.count("# scLong throughput") == 2
