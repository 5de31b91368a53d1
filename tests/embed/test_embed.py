import anndata as ad
import numpy as np
import pytest
import scipy.sparse as sp
import torch
import zarr

from sclong.data.normalize import normalize
from sclong.embed import OBSM_KEY, UNS_KEY, embed_anndata, main, map_to_vocabulary
from sclong.errors import InputError
from sclong.knowledge.vocabulary import read_vocabulary
from sclong.model import load_model
from tests.embed.conftest import DIM


def test_cli_writes_cell_and_gene_representations(few_cells, checkpoint, vocabulary_path, shared_data, tmp_path):
    out, genes = tmp_path / "out.h5ad", tmp_path / "genes.zarr"
    argv = [str(few_cells), "--checkpoint", str(checkpoint), "--vocabulary", str(vocabulary_path),
            "--gene-table", str(shared_data / "genes/ensembl100_grch38_genes.tsv.gz"), "-o", str(out),
            "--genes", "CD3E,MS4A1,ENSG00000090382.7", "--gene-output", str(genes), "--batch-size", "4"]
    assert main(argv) == 0
    result = ad.read_h5ad(out)
    assert result.shape == (6, 32_786)
    assert result.obsm[OBSM_KEY].shape == (6, DIM + 1)
    assert np.isfinite(result.obsm[OBSM_KEY]).all()
    info = result.uns[UNS_KEY]
    assert info["input_kind"] == "raw" and info["normalization"] == "paper"
    assert len(info["checkpoint_sha256"]) == 64
    coverage = info["coverage"]
    assert coverage["input_genes"] == 32_786 and coverage["vocabulary_genes"] == 19_941
    assert 0.5 < coverage["input_mapped_fraction"] < 0.7
    assert coverage["vocabulary_covered_fraction"] > 0.9
    array = zarr.open_array(str(genes), mode="r")
    assert array.shape == (6, 3, DIM) and array.chunks == (4, 3, DIM)
    assert list(array.attrs["symbol"]) == ["CD3E", "MS4A1", "LYZ"]
    assert not list(tmp_path.glob(".*tmp*"))


def test_cell_vectors_match_the_model_and_do_not_depend_on_batch_size(celltypist, checkpoint, vocabulary_path,
                                                                      gene_table):
    model, vocabulary = load_model(checkpoint), read_vocabulary(vocabulary_path)
    cells = celltypist[:5].copy()
    a = embed_anndata(cells, model, vocabulary, gene_table=gene_table, batch_size=2).obsm[OBSM_KEY]
    b = embed_anndata(cells, model, vocabulary, gene_table=gene_table, batch_size=5).obsm[OBSM_KEY]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)
    mapping = map_to_vocabulary(cells.var_names, vocabulary, gene_table)
    values = normalize(sp.csr_matrix(cells.X), "raw", "paper")[:, mapping.var_index].toarray()
    dense = np.zeros((5, len(vocabulary)), dtype=np.float32)
    dense[:, mapping.vocab_index] = values
    with torch.no_grad():
        expected = model.cell_embedding(torch.from_numpy(dense)).numpy()
    np.testing.assert_allclose(b, expected, rtol=1e-5, atol=1e-4)
    half = embed_anndata(cells, model, vocabulary, gene_table=gene_table, batch_size=5, precision="bf16")
    np.testing.assert_allclose(half.obsm[OBSM_KEY], b, rtol=0.05, atol=0.05 * np.abs(b).max())


def test_low_coverage_stops_with_a_clear_error(celltypist, checkpoint, vocabulary_path, gene_table):
    model, vocabulary = load_model(checkpoint), read_vocabulary(vocabulary_path)
    with pytest.raises(InputError, match="of var names map to the vocabulary"):
        embed_anndata(celltypist[:2].copy(), model, vocabulary, gene_table=gene_table, min_coverage=0.9)


def test_log1p_input_is_kept_and_unknown_values_rejected(celltypist, checkpoint, vocabulary_path, gene_table):
    model, vocabulary = load_model(checkpoint), read_vocabulary(vocabulary_path)
    cells = celltypist[:3].copy()
    cells.X = sp.csr_matrix(np.log1p(cells.X.toarray() / cells.X.sum(1).A * 1e4).astype(np.float32))
    result = embed_anndata(cells, model, vocabulary, gene_table=gene_table, normalization="scanpy")
    assert result.uns[UNS_KEY]["input_kind"] == "log1p"
    cells.X = cells.X * 7.3
    cells.X[0, 0] = 25.5
    with pytest.raises(InputError, match="neither raw counts nor log1p"):
        embed_anndata(cells, model, vocabulary, gene_table=gene_table)


def test_mapping_without_gene_table_uses_ids_and_vocabulary_symbols(vocabulary_path):
    vocabulary = read_vocabulary(vocabulary_path)
    mapping = map_to_vocabulary(["ENSG00000090382.7", "lyz", "CD3E", "NOT_A_GENE", "LYZ"], vocabulary)
    assert mapping.table["how"].tolist() == ["ensembl_id", "vocabulary_symbol", "vocabulary_symbol", "unmapped",
                                             "vocabulary_symbol"]
    assert mapping.coverage["input_mapped"] == 4 and mapping.coverage["input_duplicates"] == 2
    assert mapping.var_index.tolist() == [0, 2]


def test_unknown_chosen_gene_is_an_error(celltypist, checkpoint, vocabulary_path, gene_table, tmp_path):
    model, vocabulary = load_model(checkpoint), read_vocabulary(vocabulary_path)
    with pytest.raises(InputError, match="not in the vocabulary: MALAT1"):
        embed_anndata(celltypist[:2].copy(), model, vocabulary, gene_table=gene_table, genes=["CD3E", "MALAT1"],
                      gene_output=tmp_path / "g.zarr")


def test_all_genes_mean_reduced(celltypist, checkpoint, vocabulary_path, gene_table, tmp_path):
    model, vocabulary = load_model(checkpoint), read_vocabulary(vocabulary_path)
    cells = celltypist[:3, :2000].copy()
    embed_anndata(cells, model, vocabulary, gene_table=gene_table, genes="all", gene_output=tmp_path / "m.zarr",
                  gene_reduce="mean", min_coverage=0.0, batch_size=2)
    embed_anndata(cells, model, vocabulary, gene_table=gene_table, genes="all", gene_output=tmp_path / "f.zarr",
                  min_coverage=0.0, batch_size=2)
    mean, full = (zarr.open_array(str(tmp_path / name), mode="r") for name in ("m.zarr", "f.zarr"))
    mapping = map_to_vocabulary(cells.var_names, vocabulary, gene_table)
    assert mean.shape == (3, len(mapping.var_index)) and full.shape == (3, len(mapping.var_index), DIM)
    np.testing.assert_allclose(mean[:], full[:].mean(-1), rtol=1e-5, atol=1e-6)
    assert list(mean.attrs["name"]) == [cells.var_names[i] for i in mapping.var_index]
    assert list(mean.attrs["dimensions"]) == ["cell", "gene"]
