"""The demo's real cells for embedding: pbmc68k_reduced's log-normalised matrix with symbols."""

from __future__ import annotations

from pathlib import Path

import anndata as ad
import numpy as np

from sclong.data.normalize import detect_kind
from sclong.data.pbmc68k import main


def test_written_cells_are_log_normalised_with_symbols_and_labels(tmp_path: Path) -> None:
    out = tmp_path / "pbmc68k.h5ad"
    assert main(["--out", str(out)]) == 0
    cells = ad.read_h5ad(out)
    assert cells.shape == (700, 765)
    assert {"CD3D", "MS4A1", "LYZ"} <= set(cells.var_names)
    assert cells.obs["cell_type"].nunique() == 10
    assert detect_kind(cells.X.data, out) == "log1p"
    assert np.isfinite(cells.X.data).all()
