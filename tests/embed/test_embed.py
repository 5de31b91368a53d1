"""embed_anndata and the gene mapping on real cells (celltypist sample) with a tiny random model."""

import logging

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
import zarr

from sclong.data.normalize import normalize
from sclong.embed import EmbedSettings
from sclong.embedding import OBSM_KEY, UNS_KEY, detect_input_kind, embed_anndata, map_to_vocabulary
from sclong.errors import InputError
from sclong.knowledge.genes import REQUIRED_COLUMNS, map_symbols, read_gene_table
from sclong.knowledge.vocabulary import read_vocabulary
from tests.embed.conftest import DIM, tiny_model


@pytest.fixture(scope="module")
def vocabulary(vocabulary_path):
    return read_vocabulary(vocabulary_path)


@pytest.fixture(scope="module")
def model(vocabulary):
    return tiny_model(len(vocabulary))


@pytest.fixture(scope="module")
def demo_vocabulary(demo_vocabulary_path):
    return read_vocabulary(demo_vocabulary_path)


@pytest.fixture(scope="module")
def demo_model(demo_vocabulary):
    return tiny_model(len(demo_vocabulary))


def fed_by(result: ad.AnnData, symbol: str, vocabulary: pd.DataFrame) -> list[str]:
    """The var names whose values feed the vocabulary gene ``symbol``."""
    gene = vocabulary.loc[vocabulary["symbol"] == symbol, "ensembl_id"].item()
    return result.var_names[result.var["sclong_gene"] == gene].tolist()


def test_cell_vectors_match_the_model_and_do_not_depend_on_batch_size(celltypist, model, vocabulary, gene_table):
    cells = celltypist[:5].copy()
    a = embed_anndata(cells, model, vocabulary, gene_table=gene_table, settings=EmbedSettings(batch_size=2))
    b = embed_anndata(cells, model, vocabulary, gene_table=gene_table, settings=EmbedSettings(batch_size=5))
    np.testing.assert_allclose(a.obsm[OBSM_KEY], b.obsm[OBSM_KEY], rtol=1e-5, atol=1e-4)
    mapping = map_to_vocabulary(cells.var_names, vocabulary, gene_table)
    values = normalize(sp.csr_matrix(cells.X), "raw", "paper")[:, mapping.var_index].toarray()
    dense = np.zeros((5, len(vocabulary)), dtype=np.float32)
    dense[:, mapping.vocab_index] = values
    with torch.no_grad():
        expected = model.cell_embedding(torch.from_numpy(dense)).numpy()
    np.testing.assert_allclose(b.obsm[OBSM_KEY], expected, rtol=1e-5, atol=1e-4)
    half = embed_anndata(cells, model, vocabulary, gene_table=gene_table,
                         settings=EmbedSettings(batch_size=5, precision="bf16"))  # fmt: skip
    scale = np.abs(b.obsm[OBSM_KEY]).max()
    np.testing.assert_allclose(half.obsm[OBSM_KEY], b.obsm[OBSM_KEY], rtol=0.05, atol=0.05 * scale)
    info = b.uns[UNS_KEY]
    assert info["input_kind"] == "raw" and info["input"] == "X" and info["empty_cells"] == 0
    assert sum(info["mapping"].values()) == cells.n_vars == len(b.var["sclong_mapping"])


def test_current_symbol_wins_over_an_alias_of_another_gene(celltypist, demo_model, demo_vocabulary,
                                                          demo_gene_table, gene_table, caplog, tmp_path):
    """The whole celltypist file against a 2,000-gene table as the demo's was before its cleaning, with FLG
    among FGFR1's aliases (the current symbol of another gene): FLG came first in var order and fed FGFR1;
    35 genes got another gene's values. The priority rule must hold whatever the table."""
    caplog.set_level(logging.INFO, logger="sclong.embedding")
    frame = demo_gene_table.frame[list(REQUIRED_COLUMNS)].copy()
    fgfr1 = frame["hgnc_symbol"] == "FGFR1"
    frame.loc[fgfr1, "alias_symbols"] = frame.loc[fgfr1, "alias_symbols"] + ", FLG"
    frame.to_csv(tmp_path / "genes.tsv", sep="\t", index=False)
    subset = read_gene_table(tmp_path / "genes.tsv")
    result = embed_anndata(celltypist[:4].copy(), demo_model, demo_vocabulary, gene_table=subset)
    assert fed_by(result, "FGFR1", demo_vocabulary) == ["FGFR1"]
    assert fed_by(result, "HOOK2", demo_vocabulary) == ["HOOK2"]
    assert fed_by(result, "SF3B2", demo_vocabulary) == ["SF3B2"]
    assert fed_by(result, "DUSP12", demo_vocabulary) == ["DUSP12"]
    assert result.var.loc["FLG", "sclong_mapping"] == "outranked" and result.var.loc["FLG", "sclong_gene"] == ""
    used = result.var[result.var["sclong_mapping"] == "used"]
    truth = map_symbols(used.index, gene_table)["ensembl_id"].tolist()  # what each name is, by the full table
    assert truth == used["sclong_gene"].tolist()
    assert any("FLG (alias of FGFR1, fed by FGFR1)" in r.message for r in caplog.records if r.levelname == "INFO")


def test_full_gene_table_feeds_every_gene_its_own_values(celltypist, model, vocabulary, gene_table, caplog):
    result = embed_anndata(celltypist[:3].copy(), model, vocabulary, gene_table=gene_table)
    used = result.var[result.var["sclong_mapping"] == "used"]
    assert used["sclong_gene"].is_unique and len(used) == result.uns[UNS_KEY]["coverage"]["vocabulary_covered"]
    assert map_symbols(used.index, gene_table)["ensembl_id"].tolist() == used["sclong_gene"].tolist()
    assert result.var.loc["C2ORF15", "sclong_mapping"] == "duplicate"  # case variant of C2orf15, which is used
    assert result.var.loc[["SEPT4", "C17orf47"], "sclong_mapping"].tolist() == ["tie", "tie"]
    warnings = [r.message for r in caplog.records if r.levelname == "WARNING"]
    assert any("9 vocabulary gene(s) matched only by several previous/alias symbols get no input (19 var names"
               in m for m in warnings)  # fmt: skip


def test_alias_ties_are_dropped_and_current_duplicates_keep_the_first(vocabulary, gene_table):
    names = ["SEPT4", "ENSG00000090382.7", "lyz", "C17orf47", "CD3E", "cd3e", "STRA13", "NOT_A_GENE", "MALAT1"]
    mapping = map_to_vocabulary(names, vocabulary, gene_table)
    assert mapping.table["status"].tolist() == ["tie", "used", "outranked", "tie", "used", "duplicate", "ambiguous",
                                                "unmapped", "not_in_vocabulary"]
    assert mapping.var_index.tolist() == [1, 4]
    assert mapping.coverage["input_mapped"] == 7 and mapping.coverage["vocabulary_covered"] == 2


def test_mapping_without_gene_table_uses_ids_and_vocabulary_symbols(vocabulary):
    mapping = map_to_vocabulary(["ENSG00000090382.7", "lyz", "CD3E", "NOT_A_GENE", "LYZ"], vocabulary)
    assert mapping.table["level"].tolist() == ["ensembl_id", "vocabulary_symbol", "vocabulary_symbol", "",
                                               "vocabulary_symbol"]
    assert mapping.table["status"].tolist() == ["used", "outranked", "used", "unmapped", "outranked"]
    assert mapping.coverage["input_mapped"] == 4 and mapping.var_index.tolist() == [0, 2]


def test_whole_transcriptome_file_passes_coverage_on_the_vocabulary_side(celltypist, demo_model, demo_vocabulary,
                                                                        demo_gene_table):
    """6.1% of celltypist's 32,786 names map to the demo vocabulary, which they cover to 99.9%: accepted."""
    result = embed_anndata(celltypist[:3].copy(), demo_model, demo_vocabulary, gene_table=demo_gene_table)
    coverage = result.uns[UNS_KEY]["coverage"]
    assert coverage["input_mapped_fraction"] == pytest.approx(0.061, abs=0.001)
    assert coverage["vocabulary_covered_fraction"] > 0.998


def test_low_vocabulary_coverage_stops_with_a_clear_error(celltypist, model, vocabulary, gene_table):
    panel = celltypist[:2, :3000].copy()  # ~2,000 of the 19,941 protein-coding genes
    with pytest.raises(InputError, match=r"feed only 9\.\d% of the model's 19,941 vocabulary genes \(minimum 50.0%, "
                                         r"--min-coverage\); check that var_names are human gene symbols"):
        embed_anndata(panel, model, vocabulary, gene_table=gene_table)
    embed_anndata(panel, model, vocabulary, gene_table=gene_table, settings=EmbedSettings(min_coverage=0.05))


def tpm_like(counts: sp.csr_matrix, seed: int = 0) -> sp.csr_matrix:
    """TPM from counts with random gene lengths (500-10,000 bp)."""
    length = np.random.default_rng(seed).uniform(500, 10_000, counts.shape[1])
    per_kb = sp.csr_matrix(counts @ sp.diags(1e3 / length))
    return sp.csr_matrix(sp.diags(1e6 / np.asarray(per_kb.sum(1)).ravel()) @ per_kb, dtype=np.float32)


def log1p_normalised(counts: sp.csr_matrix) -> sp.csr_matrix:
    return sp.csr_matrix((sp.diags(1e4 / np.asarray(counts.sum(1)).ravel()) @ counts).log1p(), dtype=np.float32)


def test_log1p_of_normalised_counts_is_kept(celltypist, model, vocabulary, gene_table):
    cells = celltypist[:3].copy()
    cells.X = log1p_normalised(cells.X)
    result = embed_anndata(cells, model, vocabulary, gene_table=gene_table,
                           settings=EmbedSettings(normalization="scanpy"))  # fmt: skip
    assert result.uns[UNS_KEY]["input_kind"] == "log1p"


@pytest.mark.parametrize(("transform", "message"), [
    (tpm_like, r"X values look like TPM/FPKM or otherwise scaled values, .*maximum \d+.* >= 20\): give raw counts"),
    (lambda x: sp.csr_matrix(sp.diags(1e4 / np.asarray(x.sum(1)).ravel()) @ x, dtype=np.float32),
     "library-size-normalised counts that were not log-transformed"),
    (lambda x: tpm_like(x).log1p(), r"expm1 of them is not a multiple of one unit per cell .*\(2\d% of values are, "
                                    r"90% needed\): log1p of TPM/FPKM, log2"),
    (lambda x: sp.csr_matrix(np.log2(1 + log1p_normalised(x).expm1().toarray()), dtype=np.float32),
     "not a multiple of one unit"),
    (lambda x: x * -1.0, "X: expression values are negative .*; the model needs raw counts or log1p"),
])  # fmt: skip
def test_values_of_another_kind_are_refused(celltypist, model, vocabulary, gene_table, transform, message):
    cells = celltypist[:40].copy()
    cells.X = transform(sp.csr_matrix(cells.X))
    with pytest.raises(InputError, match=message):
        embed_anndata(cells, model, vocabulary, gene_table=gene_table)


def test_real_log_normalised_cells_pass_detection():
    import scanpy as sc

    pbmc = sc.datasets.pbmc68k_reduced()  # .raw: what the demo embeds
    assert detect_input_kind(sp.csr_matrix(pbmc.raw.X), "auto", "X", "pbmc68k") == "log1p"


def test_log1p_of_tpm_is_accepted_when_declared(celltypist, model, vocabulary, gene_table):
    cells = celltypist[:3].copy()
    cells.X = tpm_like(sp.csr_matrix(cells.X)).log1p()
    result = embed_anndata(cells, model, vocabulary, gene_table=gene_table, input_kind="log1p")
    assert result.uns[UNS_KEY]["input_kind"] == "log1p"
    with pytest.raises(InputError, match="claimed to be raw counts but are not all integers"):
        embed_anndata(cells, model, vocabulary, gene_table=gene_table, input_kind="raw")


def test_layers_and_missing_x(celltypist, model, vocabulary, gene_table, caplog):
    cells = celltypist[:3].copy()
    cells.layers["counts"] = cells.X.copy()
    cells.X = log1p_normalised(cells.X)
    embed_anndata(cells, model, vocabulary, gene_table=gene_table)
    assert any("X holds log1p values but layer 'counts' exists; X is embedded (pass --layer counts" in r.message
               for r in caplog.records if r.levelname == "WARNING")  # fmt: skip
    from_layer = embed_anndata(cells, model, vocabulary, gene_table=gene_table, layer="counts")
    assert from_layer.uns[UNS_KEY]["input"] == "layer 'counts'" and from_layer.uns[UNS_KEY]["input_kind"] == "raw"
    with pytest.raises(InputError, match=r"has no layer 'spliced' \(layers: counts\)"):
        embed_anndata(cells, model, vocabulary, gene_table=gene_table, layer="spliced")
    cells.X = None
    with pytest.raises(InputError, match=r"X is empty \(None\); layers: counts: choose one with --layer NAME"):
        embed_anndata(cells, model, vocabulary, gene_table=gene_table)
    del cells.layers["counts"]
    with pytest.raises(InputError, match="X is empty .None. and there are no layers"):
        embed_anndata(cells, model, vocabulary, gene_table=gene_table)


def test_boolean_values_and_no_cells_are_refused(celltypist, model, vocabulary, gene_table):
    cells = celltypist[:3].copy()
    cells.X = sp.csr_matrix(cells.X > 0)
    with pytest.raises(InputError, match=r"X is boolean \(presence/absence\), not expression values"):
        embed_anndata(cells, model, vocabulary, gene_table=gene_table)
    with pytest.raises(InputError, match=r"has no cells \(0 observations\)"):
        embed_anndata(celltypist[:0].copy(), model, vocabulary, gene_table=gene_table)


def test_empty_cells_are_counted_or_refused(celltypist, model, vocabulary, gene_table, caplog):
    cells = celltypist[:4].copy()
    dense = cells.X.toarray()
    dense[[1, 2]] = 0
    cells.X = sp.csr_matrix(dense)
    result = embed_anndata(cells, model, vocabulary, gene_table=gene_table)
    assert result.uns[UNS_KEY]["empty_cells"] == 2 and np.isfinite(result.obsm[OBSM_KEY]).all()
    assert any("2 of 4 cells have no non-zero value in any vocabulary gene" in r.message for r in caplog.records)
    cells.X = sp.csr_matrix(cells.shape, dtype=np.float32)
    with pytest.raises(InputError, match="none of its 4 cells has a non-zero value in a vocabulary gene"):
        embed_anndata(cells, model, vocabulary, gene_table=gene_table)


def test_progress_is_logged_without_carriage_returns(celltypist, model, vocabulary, gene_table, caplog):
    caplog.set_level(logging.INFO, logger="sclong.progress")
    embed_anndata(celltypist[:3].copy(), model, vocabulary, gene_table=gene_table)
    lines = [r.getMessage() for r in caplog.records if r.name == "sclong.progress"]
    assert lines and lines[-1].startswith("embedding: 3/3 cells (100%)") and not any("\r" in line for line in lines)


def test_unknown_chosen_gene_is_an_error(celltypist, model, vocabulary, gene_table, tmp_path):
    with pytest.raises(InputError, match="not in the vocabulary or ambiguous: MALAT1"):
        embed_anndata(celltypist[:2].copy(), model, vocabulary, gene_table=gene_table, genes=["CD3E", "MALAT1"],
                      gene_output=tmp_path / "g.zarr")


def test_chosen_genes_full_vectors(celltypist, model, vocabulary, gene_table, tmp_path):
    embed_anndata(celltypist[:6].copy(), model, vocabulary, gene_table=gene_table,
                  genes=["CD3E", "MS4A1", "ENSG00000090382.7"], gene_output=tmp_path / "g.zarr",
                  settings=EmbedSettings(batch_size=4))  # fmt: skip
    array = zarr.open_array(str(tmp_path / "g.zarr"), mode="r")
    assert array.shape == (6, 3, DIM) and array.chunks == (4, 3, DIM)
    assert list(array.attrs["symbol"]) == ["CD3E", "MS4A1", "LYZ"]
    assert not list(tmp_path.glob(".*tmp*"))


def test_all_genes_mean_reduced(celltypist, model, vocabulary, gene_table, tmp_path):
    cells = celltypist[:3, :2000].copy()
    settings = EmbedSettings(min_coverage=0.0, batch_size=2)
    embed_anndata(cells, model, vocabulary, gene_table=gene_table, genes="all", gene_output=tmp_path / "m.zarr",
                  gene_reduce="mean", settings=settings)
    embed_anndata(cells, model, vocabulary, gene_table=gene_table, genes="all", gene_output=tmp_path / "f.zarr",
                  settings=settings)
    mean, full = (zarr.open_array(str(tmp_path / name), mode="r") for name in ("m.zarr", "f.zarr"))
    mapping = map_to_vocabulary(cells.var_names, vocabulary, gene_table)
    assert mean.shape == (3, len(mapping.var_index)) and full.shape == (3, len(mapping.var_index), DIM)
    np.testing.assert_allclose(mean[:], full[:].mean(-1), rtol=1e-5, atol=1e-6)
    assert list(mean.attrs["name"]) == [cells.var_names[i] for i in mapping.var_index]
    assert list(mean.attrs["dimensions"]) == ["cell", "gene"]
