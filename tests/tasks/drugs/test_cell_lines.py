"""scLong per-gene values of bulk cell lines: the same values ``sclong embed`` writes for the converted input,
TPM and log2(TPM + 1) giving the same result, coverage of absent genes, and the refusals of unclear input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sclong.errors import InputError
from sclong.knowledge.genes import read_gene_table
from sclong.tasks.drugs.cell_lines import cell_line_values, to_log1p
from tests.embed.conftest import DEMO_GENES, tiny_model, write_vocabulary

CELL_LINES = ["ACH-000001", "ACH-000002", "ACH-000003", "ACH-000004", "ACH-000005"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random scLong over the demo gene table's 2,000 genes."""
    from sclong.model import save_model

    table = read_gene_table(DEMO_GENES)
    directory = tmp_path_factory.mktemp("cell_lines")
    vocabulary = write_vocabulary(table.frame, directory / "vocabulary.tsv")
    return save_model(directory / "ckpt", tiny_model(len(table.frame)), vocabulary=vocabulary, gene_table=DEMO_GENES)


@pytest.fixture(scope="module")
def tpm() -> pd.DataFrame:
    """5 cell lines x 23 genes in TPM: 20 demo symbols, one demo gene by Ensembl ID (versioned), one
    symbol no table knows, and a demo symbol repeated in lower case (a duplicate of the first)."""
    frame = read_gene_table(DEMO_GENES).frame
    symbols = frame["display_symbol"].iloc[:20].tolist()
    genes = [*symbols, f"{frame['ensembl_gene_id'].iloc[30]}.7", "NOTAGENE1", symbols[0].lower()]
    rng = np.random.default_rng(0)
    values = rng.gamma(0.6, 60.0, size=(len(CELL_LINES), len(genes)))
    values[rng.random(values.shape) < 0.2] = 0.0
    values[0, 0] = 2500.0
    return pd.DataFrame(values, index=CELL_LINES, columns=genes)


def test_values_are_sclong_embed_gene_means_of_log1p_tpm(checkpoint: Path, tpm: pd.DataFrame, tmp_path: Path) -> None:
    import anndata as ad
    import zarr

    from sclong.embed import EmbedSettings
    from sclong.embedding import embed_anndata
    from sclong.model.checkpoint import load_checkpoint

    result = cell_line_values(tpm, checkpoint, "tpm", "cpu", "paper", 2, "cells.csv")
    used = [*tpm.columns[:21]]
    assert list(result.values.columns) == used
    assert list(result.values.index) == CELL_LINES
    status = result.coverage.set_index("gene")["status"]
    assert status["NOTAGENE1"] == "unmapped"
    assert status[tpm.columns[22]] == "duplicate"
    assert (status[used] == "used").all()
    assert result.coverage.set_index("gene").loc[tpm.columns[20], "vocabulary_symbol"] != ""
    loaded = load_checkpoint(checkpoint)
    cells = ad.AnnData(np.log1p(tpm.to_numpy(dtype=np.float32) / 100))
    cells.var_names, cells.obs_names = list(tpm.columns), CELL_LINES
    embed_anndata(cells, loaded.model, loaded.vocabulary, gene_table=loaded.gene_table,
                  settings=EmbedSettings(batch_size=2, min_coverage=0.0), input_kind="log1p", genes=used,
                  gene_output=tmp_path / "genes.zarr", gene_reduce="mean")  # fmt: skip
    expected = zarr.open_array(str(tmp_path / "genes.zarr"))[:]
    np.testing.assert_allclose(result.values.to_numpy(), expected, rtol=1e-5, atol=1e-6)
    assert result.values.to_numpy().std(axis=0).max() > 0  # cell lines differ


def test_log2_tpm_input_gives_the_values_of_tpm(checkpoint: Path, tpm: pd.DataFrame) -> None:
    from_tpm = cell_line_values(tpm, checkpoint, "tpm", "cpu", "paper", 4, "tpm.csv")
    from_log = cell_line_values(np.log2(tpm + 1), checkpoint, "log", "cpu", "paper", 4, "log.csv")
    np.testing.assert_allclose(from_log.values.to_numpy(), from_tpm.values.to_numpy(), rtol=1e-5, atol=1e-6)


def test_to_log1p_by_hand() -> None:
    frame = pd.DataFrame([[0.0, 100.0, 900.0]], index=["c"], columns=["A", "B", "C"])
    np.testing.assert_allclose(to_log1p(frame, "tpm", "x").to_numpy(), [[0.0, np.log(2.0), np.log(10.0)]])
    logged = pd.DataFrame([[0.0, np.log2(101.0), np.log2(901.0)]], index=["c"], columns=["A", "B", "C"])
    np.testing.assert_allclose(to_log1p(logged, "log", "x").to_numpy(), [[0.0, np.log(2.0), np.log(10.0)]])


@pytest.mark.parametrize(
    ("values", "kind", "message"),
    [
        ([[1.0, 5.0], [0.0, 19.0]], "tpm", "look log-transformed"),
        ([[1.0, 25.0], [0.0, 3.0]], "log", "give kind 'tpm'"),
        ([[1.0, -0.5], [0.0, 30.0]], "tpm", "negative"),
        ([[1.0, np.nan], [0.0, 30.0]], "tpm", "NaN or infinite"),
    ],
)
def test_unclear_kinds_are_refused(values: list[list[float]], kind: str, message: str) -> None:
    frame = pd.DataFrame(values, index=["c1", "c2"], columns=["TP53", "EGFR"])
    with pytest.raises(InputError, match=message):
        to_log1p(frame, kind, "expr.csv")  # type: ignore[arg-type]


def test_repeated_labels_and_no_vocabulary_gene_are_refused(checkpoint: Path) -> None:
    repeated = pd.DataFrame([[30.0, 1.0], [2.0, 3.0]], index=["c1", "c1"], columns=["TP53", "EGFR"])
    with pytest.raises(InputError, match="cell line label"):
        cell_line_values(repeated, checkpoint, "tpm", "cpu", "paper", 2, "expr.csv")
    unknown = pd.DataFrame([[30.0, 1.0], [2.0, 3.0]], index=["c1", "c2"], columns=["NOTAGENE1", "NOTAGENE2"])
    with pytest.raises(InputError, match="none of its 2 cells has a non-zero value in a vocabulary gene"):
        cell_line_values(unknown, checkpoint, "tpm", "cpu", "paper", 2, "expr.csv")
