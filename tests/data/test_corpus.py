"""Gene counts and corpus build through cellxgene_census.open_soma(uri=...) on a planted local Census."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sclong.data import local_census
from sclong.data.census import CensusSource, gene_counts, open_census
from sclong.data.corpus import CorpusOptions, build_corpus, main
from sclong.data.normalize import normalize
from sclong.errors import ConfigError, InputError
from sclong.io.shards import ShardedCSR
from tests.data.helpers import GENES, as_dataset, sim, write_vocabulary

OPTIONS = CorpusOptions(
    min_genes_per_dataset=100, min_nonzero=50, normalization="paper", max_value=10.0, cells_per_shard=64,
    val_fraction=0.05, split_seed=0, block_size=50,
)


def census_source(uri, **choices) -> CensusSource:
    """The planted Census with the config's census keys (all of them, as the rule passes them)."""
    keys = {"uri": str(uri), "version": None, "organism": "Homo sapiens", "obs_value_filter": "", "dataset_ids": ()}
    return CensusSource(**{**keys, **choices})


@pytest.fixture(scope="module")
def corpus(planted, tmp_path_factory):
    uri, inputs, vocabulary = planted
    source = census_source(uri)
    out = tmp_path_factory.mktemp("corpus") / "corpus"
    with open_census(source) as census:
        manifest = build_corpus(census, source, vocabulary, out, OPTIONS)
    return out, manifest


def vocabulary_matrix(cells, vocabulary) -> sp.csr_matrix:
    """``cells.X`` with columns in vocabulary order (zeros for genes the cells lack)."""
    position = {g: i for i, g in enumerate(cells.var_names)}
    columns = [position.get(g, -1) for g in vocabulary]
    dense = np.zeros((cells.n_obs, len(vocabulary)), dtype=np.float32)
    x = cells.X.toarray()
    for j, c in enumerate(columns):
        if c >= 0:
            dense[:, j] = x[:, c]
    return sp.csr_matrix(dense)


def test_gene_counts_match_direct_counts(planted):
    uri, inputs, _ = planted
    source = census_source(uri)
    with open_census(source) as census:
        counts = gene_counts(census, source)
    expected = pd.Series(0, index=GENES)
    for name, cells in inputs.items():
        if name != "d-nonprimary":  # not primary data
            expected = expected.add(pd.Series(cells.X.getnnz(axis=0), index=cells.var_names), fill_value=0)
    assert list(counts.columns) == ["feature_id", "feature_name", "nonzero_cells"]
    got = counts.set_index("feature_id")["nonzero_cells"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index().astype(np.int64), check_names=False)
    assert counts.set_index("feature_id").loc[GENES[7], "feature_name"] == "G0007"


def test_gene_counts_respect_the_obs_filter(planted):
    uri, inputs, _ = planted
    source = census_source(uri, obs_value_filter="cell_type == 'type0'", dataset_ids=("b-raw",))
    with open_census(source) as census:
        counts = gene_counts(census, source).set_index("feature_id")["nonzero_cells"]
    b = inputs["b-raw"]
    expected = b[b.obs["cell_type"] == "type0"].X.getnnz(axis=0)
    np.testing.assert_array_equal(counts.loc[list(b.var_names)].to_numpy(), expected)


def test_qc_counts_with_planted_cells(corpus):
    _, manifest = corpus
    qc = manifest["qc"]
    assert qc == {
        "datasets_seen": 5,  # d-nonprimary is not primary data
        "datasets_dropped_few_genes": 1,
        "datasets_dropped_unknown_normalization": 1,
        "datasets_kept": 3,
        "cells_seen": 125 + 102 + 80 + 50 + 50,
        "cells_in_dropped_datasets": 100,
        "cells_dropped_low_nonzero": 3,
        "cells_dropped_duplicate": 4,
        "cells_kept": 300,
    }
    by_id = {d["dataset_id"]: d for d in manifest["datasets"]}
    assert by_id["a-raw"]["normalization"] == "raw" and by_id["c-log1p"]["normalization"] == "log1p"
    assert by_id["a-raw"]["cells_dropped_duplicate"] == 2 and by_id["b-raw"]["cells_dropped_duplicate"] == 2
    assert by_id["e-fewgenes"]["measured_genes"] == 20 and "dropped" in by_id["f-unknown"]
    assert [by_id[d]["first_cell"] for d in ("a-raw", "b-raw", "c-log1p")] == [0, 120, 220]
    assert manifest["n_cells"] == 300 and manifest["n_genes"] == 290


def test_rows_are_the_normalised_vocabulary_aligned_inputs(planted, corpus):
    _, inputs, vocabulary = planted
    out, _ = corpus
    reader = ShardedCSR(out)
    expected = [
        normalize(vocabulary_matrix(inputs["a-raw"][:120], vocabulary), "raw"),
        normalize(vocabulary_matrix(inputs["b-raw"][:100], vocabulary), "raw"),
        normalize(vocabulary_matrix(inputs["c-log1p"], vocabulary), "log1p"),
    ]
    got = reader.rows(np.arange(300)).toarray()
    np.testing.assert_allclose(got, sp.vstack(expected).toarray(), rtol=1e-6)
    assert np.allclose(got.max(axis=1), 10)


def test_split_is_95_5_and_deterministic(planted, corpus, tmp_path):
    uri, _, vocabulary = planted
    out, manifest = corpus
    train, val = np.load(out / "train.npy"), np.load(out / "val.npy")
    assert train.dtype == val.dtype == np.int64
    assert len(val) == 15 and len(train) == 285 and manifest["split"] == {"n_train": 285, "n_val": 15, "seed": 0}
    np.testing.assert_array_equal(np.union1d(train, val), np.arange(300))
    source = census_source(uri)
    with open_census(source) as census:
        build_corpus(census, source, vocabulary, tmp_path / "same", OPTIONS)
        other = CorpusOptions(**{**OPTIONS.__dict__, "split_seed": 1, "normalization": "scanpy"})
        build_corpus(census, source, vocabulary, tmp_path / "other", other)
    np.testing.assert_array_equal(np.load(tmp_path / "same" / "val.npy"), val)
    assert not np.array_equal(np.load(tmp_path / "other" / "val.npy"), val)
    scanpy_rows = ShardedCSR(tmp_path / "other").rows(np.arange(120))
    np.testing.assert_allclose(np.expm1(scanpy_rows.toarray()).sum(axis=1), 1e4, rtol=1e-4)  # vocabulary genes


def test_cli_gene_counts_and_build(planted, tmp_path):
    uri, _, vocabulary = planted
    write_vocabulary(tmp_path / "vocabulary.tsv", vocabulary)
    census = asdict(census_source(uri, dataset_ids=["a-raw", "c-log1p"]))
    source = ["--census", json.dumps(census)]
    assert main(["gene-counts", *source, "--out", str(tmp_path / "counts.tsv")]) == 0
    counts = pd.read_csv(tmp_path / "counts.tsv", sep="\t")
    assert counts["nonzero_cells"].max() <= 125 + 80
    build = ["build", *source, "--vocabulary", str(tmp_path / "vocabulary.tsv"), "--out", str(tmp_path / "c")]
    settings = {**asdict(OPTIONS), "cells_per_shard": 50}
    del settings["block_size"]
    assert main([*build, "--settings", json.dumps(settings)]) == 0
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["n_cells"] == 120 + 80 and len(manifest["shards"]) == 4
    assert manifest["source"]["value_filter"] == "is_primary_data == True and dataset_id in ['a-raw', 'c-log1p']"


def test_filter_matching_nothing_is_one_clear_error(planted, tmp_path):
    uri, _, vocabulary = planted
    source = census_source(uri, obs_value_filter="tissue == 'brain'")
    with open_census(source) as census, pytest.raises(InputError, match="matches no cells"):
        build_corpus(census, source, vocabulary, tmp_path / "c", OPTIONS)
    bad = census_source(uri, obs_value_filter="no_such_column == 3")
    with open_census(bad) as census, pytest.raises(ConfigError, match="obs_value_filter"):
        gene_counts(census, bad)
    with pytest.raises(ConfigError, match="organism"):
        with open_census(source) as census:
            gene_counts(census, census_source(uri, organism="Mus musculus"))
    assert not list(tmp_path.iterdir())


def test_bad_values_in_the_census_stop_the_build_without_output(monkeypatch, tmp_path):
    good = sim(60, seed=8)
    negative = sim(60, seed=9)
    negative.X = negative.X.copy()
    negative.X.data[-1] = -1
    later_fraction = sim(60, seed=10)
    later_fraction.X = later_fraction.X.copy()
    later_fraction.X.data[-1] = 0.5
    monkeypatch.setattr(local_census, "validate", lambda dataset: None)  # plant what validation refuses
    uri = tmp_path / "census"
    datasets = [as_dataset("good", good), as_dataset("neg", negative), as_dataset("zfrac", later_fraction)]
    local_census.build_local_census(uri, datasets)
    options = CorpusOptions(**{**OPTIONS.__dict__, "block_size": 25})
    for dataset_id, message in [("neg", "neg: expression values are negative"), ("zfrac", "zfrac: .*not all integers")]:
        source = census_source(uri, dataset_ids=("good", dataset_id))
        with open_census(source) as census, pytest.raises(InputError, match=message):
            build_corpus(census, source, GENES, tmp_path / "out", options)
        assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["census"]
