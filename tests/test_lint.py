"""Static checks of the code and the workflow: ruff, snakefmt and Snakemake's own linter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow"],
        [sys.executable, "-m", "snakemake", "--lint"],
    ],
    ids=["ruff", "snakefmt", "snakemake-lint"],
)
def test_clean(command: list[str]) -> None:
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    if "--lint" in command:
        assert "Lints for" not in result.stdout + result.stderr
