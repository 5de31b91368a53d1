"""Paper-scale dataset conversion: BEELINE (real hESC ChIP-seq labels), Abdelaal CSVs, h5ad renames, zip members."""

from __future__ import annotations

import logging
import math
import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from sclong.data.datasets import DatasetFile, main, prepare, read_beeline
from sclong.errors import InputError
from sclong.settings import to_json


@pytest.fixture
def beeline_zip(tmp_path: Path, shared_data: Path) -> tuple[Path, pd.DataFrame]:
    labels = pd.read_csv(shared_data / "grn" / "hesc_chipseq_label.csv")
    genes = sorted(set(labels["Gene1"]) | set(labels["Gene2"]))[:300]
    rng = np.random.default_rng(0)
    expression = pd.DataFrame(np.log2(rng.poisson(3.0, (len(genes), 40)) + 1.0), index=genes,
                              columns=[f"cell_{i}" for i in range(40)])  # fmt: skip
    archive = tmp_path / "beeline.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("BEELINE-data/inputs/scRNA-Seq/hESC/ExpressionData.csv", expression.to_csv())
        network = (shared_data / "grn" / "hesc_chipseq_label.csv").read_text()
        handle.writestr("Networks/human/hESC-ChIP-seq-network.csv", network)
    return archive, expression


def test_beeline_expression_and_real_network(beeline_zip, caplog: pytest.LogCaptureFixture) -> None:
    archive, expression = beeline_zip
    files = {"expression": DatasetFile(archive, "BEELINE-data/inputs/scRNA-Seq/hESC/ExpressionData.csv"),
             "network": DatasetFile(archive, "Networks/human/hESC-ChIP-seq-network.csv")}  # fmt: skip
    with caplog.at_level(logging.WARNING):
        adata = prepare({"format": "beeline"}, files, "hesc")
    assert adata.shape == (40, 300) and list(adata.var_names) == list(expression.index)
    np.testing.assert_allclose(adata.X.toarray(), expression.to_numpy().T * math.log(2), rtol=1e-6)
    edges = adata.uns["grn_edges"]
    genes = set(expression.index)
    assert edges["tf"].isin(genes).all() and edges["target"].isin(genes).all() and len(edges) > 0
    assert (edges["tf"] != edges["target"]).all() and not edges.duplicated().any()
    assert "edges name" in caplog.text and "absent from the expression" in caplog.text


def test_abdelaal_counts_and_labels(tmp_path: Path) -> None:
    counts = pd.DataFrame([[0, 3, 1], [2, 0, 0], [5, 1, 0]], index=["AAAC", "AAAG", "AAAT"],
                          columns=["CD14", "MS4A1", "CD3E"])  # fmt: skip
    archive = tmp_path / "Intra-dataset.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("Intra-dataset/Zheng 68K/Filtered_68K_PBMC_data.csv", counts.to_csv())
        handle.writestr("Intra-dataset/Zheng 68K/Labels.csv", "x\nCD14+ Monocyte\nCD19+ B\nCD14+ Monocyte\n")
    settings = {"format": "abdelaal", "files": {
        "expression": {"source": "zheng68k", "member": "Intra-dataset/Zheng 68K/Filtered_68K_PBMC_data.csv"},
        "labels": {"source": "zheng68k", "member": "Intra-dataset/Zheng 68K/Labels.csv"}}}  # fmt: skip
    out = tmp_path / "zheng.h5ad"
    argv = ["--name", "zheng68k", "--file", f"expression={archive}", "--file", f"labels={archive}",
            "--settings", to_json(settings), "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    adata = ad.read_h5ad(out)
    np.testing.assert_array_equal(adata.X.toarray(), counts.to_numpy())
    assert list(adata.obs["cell_type"]) == ["CD14+ Monocyte", "CD19+ B", "CD14+ Monocyte"]


def test_h5ad_obs_renames_must_match(tmp_path: Path) -> None:
    cells = ad.AnnData(np.ones((4, 2), dtype=np.float32),
                       obs=pd.DataFrame({"tech": ["inDrop1", "inDrop2", "celseq", "celseq2"]}, index=list("abcd")))
    cells.write_h5ad(tmp_path / "p.h5ad")
    renames = {"tech": {"inDrop1": "inDrop", "inDrop2": "inDrop"}}
    adata = prepare({"format": "h5ad", "obs_values": renames}, {"data": DatasetFile(tmp_path / "p.h5ad", None)}, "p")
    assert sorted(set(adata.obs["tech"])) == ["celseq", "celseq2", "inDrop"]
    with pytest.raises(InputError, match=r"obs\['tech'\] has no value\(s\) indrop3 to rename"):
        prepare({"format": "h5ad", "obs_values": {"tech": {"indrop3": "inDrop"}}},
                {"data": DatasetFile(tmp_path / "p.h5ad", None)}, "p")  # fmt: skip


def test_missing_member_names_the_archive(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("x.csv", "a\n")
    files = {"expression": DatasetFile(archive, "nope.csv"), "network": DatasetFile(archive, "x.csv")}
    with pytest.raises(InputError, match="a.zip: archive has no member 'nope.csv'"):
        prepare({"format": "beeline"}, files, "hesc")


def write_expression_csv(path: Path, genes: list[str], n_cells: int = 4) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((len(genes), n_cells)) * 5, index=genes,
                         columns=[f"RamDA_{i}" for i in range(n_cells)])  # fmt: skip
    frame.to_csv(path)
    return path


def test_read_beeline_real_network(shared_data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    network = shared_data / "grn" / "hesc_chipseq_label.csv"
    label = pd.read_csv(network)
    genes = sorted(set(label.Gene1) | set(label.Gene2))
    kept = genes[: len(genes) // 2] + sorted(set(label.Gene1))  # half the targets, every TF
    kept = sorted(set(kept))
    expression = write_expression_csv(tmp_path / "ExpressionData.csv", kept)
    with caplog.at_level(logging.WARNING):
        cells = read_beeline(DatasetFile(expression, None), DatasetFile(network, None))
    inside = label.Gene1.isin(kept) & label.Gene2.isin(kept)
    assert cells.shape == (4, len(kept)) and list(cells.var_names) == kept
    assert list(cells.obs_names) == [f"RamDA_{i}" for i in range(4)]
    log2 = pd.read_csv(expression, index_col=0).T.to_numpy()
    np.testing.assert_allclose(cells.X.toarray(), log2 * math.log(2), rtol=1e-6)  # natural-log log1p
    assert cells.uns["grn_edges"].to_dict("list") == {"tf": list(label.Gene1[inside]),
                                                      "target": list(label.Gene2[inside])}  # fmt: skip
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    absent = len(set(genes) - set(kept))
    assert warning.startswith(f"{network}: {(~inside).sum()} of {len(label)} ground-truth edges name {absent} "
                              "gene(s) absent from the expression data (e.g. ")  # fmt: skip
    assert warning.endswith("): dropped")
    cells.write_h5ad(tmp_path / "hesc.h5ad")
    assert ad.read_h5ad(tmp_path / "hesc.h5ad").uns["grn_edges"].shape == (inside.sum(), 2)


def test_read_beeline_refuses_a_network_without_expressed_genes(shared_data: Path, tmp_path: Path) -> None:
    network = shared_data / "grn" / "hesc_chipseq_label.csv"
    expression = write_expression_csv(tmp_path / "ExpressionData.csv", ["NOT_A_GENE", "ALSO_NOT"])
    with pytest.raises(InputError) as err:
        read_beeline(DatasetFile(expression, None), DatasetFile(network, None))
    assert str(err.value) == (f"{network}: none of the 4526 ground-truth edges is between genes of the "
                              "expression data")  # fmt: skip


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (",c1,c2\nA,1,2\nA,3,4\n", "expression CSV has 1 duplicate gene name(s), e.g. A"),
        (",c1,c2\nA,1,x\nB,3,4\n", "expression CSV has non-numeric values in 1 cell column(s), e.g. c2"),
        (",c1,c2\nA,1,\nB,3,4\n", "expression CSV has missing or infinite values"),
    ],
)
def test_read_beeline_bad_expression(tmp_path: Path, content: str, problem: str) -> None:
    expression, network = tmp_path / "ExpressionData.csv", tmp_path / "network.csv"
    expression.write_text(content)
    network.write_text("Gene1,Gene2\nA,B\n")
    with pytest.raises(InputError) as err:
        read_beeline(DatasetFile(expression, None), DatasetFile(network, None))
    assert str(err.value) == f"{expression}: {problem}"


def test_read_beeline_bad_network(tmp_path: Path) -> None:
    expression = write_expression_csv(tmp_path / "ExpressionData.csv", ["A", "B"])
    network = tmp_path / "network.csv"
    network.write_text("TF,Target\nA,B\n")
    with pytest.raises(InputError) as err:
        read_beeline(DatasetFile(expression, None), DatasetFile(network, None))
    assert str(err.value) == f"{network}: network CSV lacks column(s) Gene1, Gene2 (BEELINE: Gene1, Gene2)"
