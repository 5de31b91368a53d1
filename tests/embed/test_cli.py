"""`sclong embed` on the command line: fast help, and bad options and inputs refused in one line before any
model is loaded (the checkpoint path given here is an empty directory, never read)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

HEAVY = ("torch", "anndata", "scanpy", "scipy", "pandas", "numpy", "zarr", "torch_geometric")
RUN = """
import json, sys
from sclong.cli import main
try:
    code = main(json.loads(sys.argv[1]))
except SystemExit as stop:
    code = stop.code
print(json.dumps({"code": code, "heavy": [m for m in json.loads(sys.argv[2]) if m in sys.modules]}))
"""


def sclong(*argv: str | Path) -> tuple[int, list[str], list[str], str]:
    """Run ``sclong ARGV`` in a fresh interpreter: exit code, heavy modules imported, error lines, stdout."""
    result = subprocess.run([sys.executable, "-c", RUN, json.dumps([str(a) for a in argv]), json.dumps(HEAVY)],
                            capture_output=True, text=True, check=False)  # fmt: skip
    *printed, last = result.stdout.strip().splitlines() or [""]
    report = json.loads(last)
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    return report["code"], report["heavy"], errors, "\n".join(printed)


def test_help_imports_nothing_heavy():
    for argv in (["--help"], ["embed", "--help"]):
        code, heavy, _, printed = sclong(*argv)
        assert code == 0 and heavy == [], argv
    assert "--input-kind {auto,raw,log1p}" in printed and "--layer" in printed and "--vocabulary" not in printed


@pytest.fixture()
def paths(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "ckpt").mkdir()
    return {"input": tmp_path / "cells.h5ad", "ckpt": tmp_path / "ckpt", "out": tmp_path / "out.h5ad"}


@pytest.mark.parametrize(("options", "expected"), [
    (["--batch-size", "0"], "sclong embed: error: argument --batch-size: must be an integer >= 1, got '0'"),
    (["--min-coverage", "1.5"], "sclong embed: error: argument --min-coverage: must be a number in [0, 1], got '1.5'"),
    (["--device", "gpu"], "sclong embed: error: argument --device: must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    (["--settings", '{"batch_size": 0}'], "error: config key 'embed.batch_size': must be an integer >= 1, got 0"),
    (["--settings", '{"min_coverage": 0.5, "threads": 2}'],
     "error: config key 'embed.threads': unknown key (allowed here: batch_size, min_coverage, normalization, "
     "precision)"),
    (["--settings", '{"batch_size": 8}', "--batch-size", "4"],
     "sclong embed: error: --batch-size is given both as a flag and in --settings"),
    (["--genes", "CD3E"], "sclong embed: error: --genes and --gene-output go together"),
])  # fmt: skip
def test_option_errors_come_first_and_light(paths, options, expected):
    code, heavy, errors, _ = sclong("embed", paths["input"], "--checkpoint", paths["ckpt"], "-o", paths["out"],
                                    *options)  # fmt: skip
    assert code in (1, 2) and heavy == [] and errors == [expected]


def test_paths_are_checked_before_the_run(paths, tmp_path):
    (tmp_path / "a_file").write_text("x")
    cases = [
        (["-o", tmp_path], f"error: {tmp_path}: is a directory; -o takes the path of the .h5ad file to write"),
        (["-o", tmp_path / "a_file" / "out.h5ad"],
         f"error: {tmp_path / 'a_file' / 'out.h5ad'}: cannot be created: {tmp_path / 'a_file'} is not a directory"),
        (["-o", paths["out"], "--genes", "all", "--gene-output", tmp_path / "a_file"],
         f"error: {tmp_path / 'a_file'}: is a file; --gene-output takes the path of a zarr directory to write"),
        (["-o", paths["out"]], f"error: {paths['input']}: input AnnData not found (an .h5ad file or a .zarr "
                               "directory)"),
    ]  # fmt: skip
    for options, expected in cases:
        code, heavy, errors, _ = sclong("embed", paths["input"], "--checkpoint", paths["ckpt"], *options)
        assert (code, heavy, errors) == (1, [], [expected])
    paths["input"].write_text("x")
    code, _, errors, _ = sclong("embed", paths["input"], "--checkpoint", tmp_path / "nope", "-o", paths["out"])
    assert (code, errors) == (1, [f"error: {tmp_path / 'nope'}: checkpoint directory not found"])


def test_missing_cuda_is_one_line_before_loading(paths):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    paths["input"].write_text("not read")
    code, heavy, errors, _ = sclong("embed", paths["input"], "--checkpoint", paths["ckpt"], "-o", paths["out"],
                                    "--device", "cuda")  # fmt: skip
    assert code == 2 and "anndata" not in heavy
    assert errors == [f"sclong embed: error: --device cuda: CUDA is not available here (torch {torch.__version__} "
                      "finds no usable GPU); use --device cpu or --device auto"]  # fmt: skip


def test_zarr_and_h5ad_inputs_are_read_and_checked_before_the_model(celltypist, paths, tmp_path):
    cells = celltypist[:3, :50].copy()
    cells.layers["counts"] = cells.X
    cells.X = None
    cells.write_zarr(tmp_path / "cells.zarr")
    code, _, errors, _ = sclong("embed", tmp_path / "cells.zarr", "--checkpoint", paths["ckpt"], "-o", paths["out"])
    assert (code, errors) == (1, [f"error: {tmp_path / 'cells.zarr'}: X is empty (None); layers: counts: choose one "
                                  "with --layer NAME"])  # fmt: skip
    cells.X = sp.csr_matrix(np.asarray(cells.layers["counts"].toarray() > 0))
    cells.write_h5ad(paths["input"])
    code, _, errors, _ = sclong("embed", paths["input"], "--checkpoint", paths["ckpt"], "-o", paths["out"])
    assert (code, errors) == (1, [f"error: {paths['input']}: X is boolean (presence/absence), not expression "
                                  "values; the model needs raw counts or log1p of library-size-normalised counts "
                                  "(--layer NAME picks a layer)"])  # fmt: skip
    (tmp_path / "not.zarr").mkdir()
    code, _, errors, _ = sclong("embed", tmp_path / "not.zarr", "--checkpoint", paths["ckpt"], "-o", paths["out"])
    assert code == 1 and len(errors) == 1
    assert errors[0].startswith(f"error: {tmp_path / 'not.zarr'}: cannot read it as a zarr AnnData store")
