"""CSR shard writer / reader: round trip against scipy, random access, validation, atomicity."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import scipy.sparse as sp

from sclong.errors import InputError
from sclong.io import shards
from sclong.io.shards import ShardedCSR, ShardWriter


def random_csr(n: int, g: int, seed: int, density: float = 0.1) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    m = sp.random(n, g, density=density, format="csr", dtype=np.float32, random_state=rng)
    m.data[:] = rng.integers(1, 50, m.nnz)
    return m


def write(path, blocks, n_genes, cells_per_shard, **extra):
    with ShardWriter(path, n_genes, cells_per_shard) as writer:
        added = 0
        for block in blocks:
            writer.add(block)
            added += block.shape[0]
            assert writer.n_cells == added
        return writer.close(extra)


@pytest.fixture
def corpus(tmp_path):
    full = random_csr(257, 40, seed=1)
    full.data[full.indptr[5] : full.indptr[6]] = 0  # an empty row
    full.eliminate_zeros()
    blocks = [full[:3], full[3:100], full[100:101], full[101:]]
    manifest = write(tmp_path / "c", blocks, 40, cells_per_shard=64, datasets=["a"])
    return tmp_path / "c", full, manifest


def test_round_trip_layout_and_manifest(corpus):
    path, full, manifest = corpus
    assert manifest == json.loads((path / "manifest.json").read_text())
    assert [s["n_cells"] for s in manifest["shards"]] == [64, 64, 64, 64, 1]
    assert [s["first_cell"] for s in manifest["shards"]] == [0, 64, 128, 192, 256]
    assert manifest["nnz"] == full.nnz and manifest["datasets"] == ["a"]
    reader = ShardedCSR(path)
    assert reader.shape == (257, 40) and reader.nnz == full.nnz
    assert (reader.rows(np.arange(257)) != full).nnz == 0
    data = np.load(path / "shard-00001" / "data.npy")
    assert data.dtype == np.float32
    assert np.load(path / "shard-00001" / "indices.npy").dtype == np.int32
    assert np.load(path / "shard-00001" / "indptr.npy").dtype == np.int64


def test_rows_written_in_many_pieces_round_trip(tmp_path, monkeypatch):
    """Arrays longer than a write piece (here 100 bytes, not 4 MiB) are written whole and in order."""
    monkeypatch.setattr(shards, "WRITE_CHUNK", 100)
    full = random_csr(50, 40, seed=3, density=0.3)  # ~600 values: 24 pieces of data, 24 of indices
    write(tmp_path / "c", [full[:20], full[20:]], 40, cells_per_shard=64)
    assert (ShardedCSR(tmp_path / "c").rows(np.arange(50)) != full).nnz == 0


def test_random_access_keeps_order_and_repeats(corpus):
    path, full, _ = corpus
    reader = ShardedCSR(path)
    idx = np.random.default_rng(0).integers(0, 257, 500)
    idx[:3] = [256, 0, 5]
    got = reader.rows(idx)
    assert got.shape == (500, 40)
    np.testing.assert_array_equal(got.toarray(), full[idx].toarray())
    assert got.has_sorted_indices
    genes, values = reader.row(130)
    np.testing.assert_array_equal(genes, full[130].indices)
    np.testing.assert_array_equal(values, full[130].data)
    assert reader.row(5)[0].size == 0
    assert reader.rows([]).shape == (0, 40)
    with pytest.raises(IndexError):
        reader.rows([257])


def test_unsorted_duplicate_input_is_canonicalised(tmp_path):
    m = sp.csr_matrix((np.array([1, 2, 3], np.float32), np.array([3, 1, 3]), np.array([0, 3])), shape=(1, 5))
    write(tmp_path / "c", [m], 5, 10)
    genes, values = ShardedCSR(tmp_path / "c").row(0)
    assert genes.tolist() == [1, 3] and values.tolist() == [2, 4]


def test_reader_pickles_without_maps(corpus):
    path, full, _ = corpus
    reader = ShardedCSR(path)
    reader.rows([0, 200])
    clone = pickle.loads(pickle.dumps(reader))
    assert clone._arrays == {}
    np.testing.assert_array_equal(clone.rows([200]).toarray(), full[200].toarray())


def test_error_leaves_no_output(tmp_path):
    with pytest.raises(ValueError, match="columns"):
        with ShardWriter(tmp_path / "c", 40, 10) as writer:
            writer.add(random_csr(30, 40, 0))
            writer.add(random_csr(3, 41, 0))
    assert list(tmp_path.iterdir()) == []


def test_forgotten_close_discards_output(tmp_path):
    with pytest.raises(RuntimeError, match="close"):
        with ShardWriter(tmp_path / "c", 40, 10) as writer:
            writer.add(random_csr(30, 40, 0))
    assert list(tmp_path.iterdir()) == []


def test_missing_shard_file(corpus):
    path, _, _ = corpus
    (path / "shard-00002" / "indices.npy").unlink()
    with pytest.raises(InputError, match=r"shard-00002.indices\.npy: shard file missing"):
        ShardedCSR(path)


def test_truncated_shard_array(corpus):
    path, _, _ = corpus
    file = path / "shard-00001" / "data.npy"
    file.write_bytes(file.read_bytes()[:-8])
    reader = ShardedCSR(path)
    reader.rows([0])
    with pytest.raises(InputError, match="shard-00001"):
        reader.rows([70])


def test_inconsistent_manifest(corpus):
    path, _, manifest = corpus
    manifest["n_cells"] += 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="manifest says 258"):
        ShardedCSR(path)
    manifest["n_cells"] -= 1
    manifest["shards"][1]["nnz"] += 1
    manifest["nnz"] += 1
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="shard-00001: arrays have"):
        ShardedCSR(path).rows([64])


def test_not_a_corpus(tmp_path):
    with pytest.raises(InputError, match="manifest.json: missing"):
        ShardedCSR(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable manifest"):
        ShardedCSR(tmp_path)
