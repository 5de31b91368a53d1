"""Sharded, memory-mappable CSR matrices whose columns are the gene vocabulary.

A corpus directory holds ``manifest.json`` and one ``shard-NNNNN/`` directory per shard with
``data.npy`` (float32 values), ``indices.npy`` (int32 gene indices, sorted within each row) and
``indptr.npy`` (int64 row pointers, ``n_cells + 1`` entries). The manifest reads::

    {"format": "sclong-csr-shards/1", "n_genes": G, "n_cells": N, "nnz": Z, "value_dtype": "float32",
     "shards": [{"name": "shard-00000", "n_cells": n, "nnz": z, "first_cell": 0}, ...],
     ...extra metadata (datasets, QC counts, ...)}

:class:`ShardWriter` writes a corpus atomically; :class:`ShardedCSR` reads rows by global cell index
through lazily opened memory maps, so it can back a random-access ``torch`` ``Dataset``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import scipy.sparse as sp

from sclong.errors import InputError
from sclong.io.atomic import atomic_path

FORMAT = "sclong-csr-shards/1"
MANIFEST = "manifest.json"
VALUE_DTYPE = np.dtype(np.float32)
INDEX_DTYPE = np.dtype(np.int32)
INDPTR_DTYPE = np.dtype(np.int64)
_ARRAYS = {"data": VALUE_DTYPE, "indices": INDEX_DTYPE, "indptr": INDPTR_DTYPE}
WRITE_CHUNK = 4 << 20
_RESERVED = {"format", "n_genes", "n_cells", "nnz", "value_dtype", "shards"}

log = logging.getLogger(__name__)


def shard_name(number: int) -> str:
    """Directory name of shard ``number``."""
    return f"shard-{number:05d}"


class _OpenShard:
    """A shard being written: values and indices are appended to their ``.npy`` files as they come
    (the headers are rewritten in place with the final length on :meth:`finish`)."""

    def __init__(self, directory: Path, first_cell: int) -> None:
        directory.mkdir()
        self.directory = directory
        self.first_cell = first_cell
        self.n_cells = 0
        self.nnz = 0
        self._files = {name: open(directory / f"{name}.npy", "wb") for name in ("data", "indices")}
        for name, file in self._files.items():
            _write_npy_header(file, _ARRAYS[name], 0)
        self._indptr = [np.zeros(1, dtype=INDPTR_DTYPE)]

    def append(self, data: np.ndarray, indices: np.ndarray, indptr: np.ndarray) -> None:
        """Append rows given by their values, gene indices and row pointers (``indptr[0]`` = 0)."""
        _write_in_chunks(self._files["data"], np.ascontiguousarray(data, dtype=VALUE_DTYPE))
        _write_in_chunks(self._files["indices"], np.ascontiguousarray(indices, dtype=INDEX_DTYPE))
        self._indptr.append(indptr[1:].astype(INDPTR_DTYPE) + self.nnz)
        self.n_cells += len(indptr) - 1
        self.nnz += int(indptr[-1])

    def finish(self) -> dict[str, Any]:
        """Finalise the files; return the shard's manifest entry."""
        for name, file in self._files.items():
            end = file.tell()
            file.seek(0)
            _write_npy_header(file, _ARRAYS[name], self.nnz)
            file.seek(end)
            file.close()
        np.save(self.directory / "indptr.npy", np.concatenate(self._indptr))
        return {"name": self.directory.name, "n_cells": self.n_cells, "nnz": self.nnz, "first_cell": self.first_cell}

    def abandon(self) -> None:
        for file in self._files.values():
            file.close()


def _write_in_chunks(file: Any, array: np.ndarray) -> None:
    """Write the bytes of contiguous ``array`` in pieces of :data:`WRITE_CHUNK` bytes: one write of tens of
    megabytes into ext4's page cache ran at a tenth of the speed of 4 MiB writes on the test machine."""
    view = memoryview(array).cast("B")
    for start in range(0, len(view), WRITE_CHUNK):
        file.write(view[start : start + WRITE_CHUNK])


def _write_npy_header(file: Any, dtype: np.dtype, length: int) -> None:
    """Write a 1-d ``.npy`` header; numpy pads it so that its size does not depend on ``length``."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (length,)}
    np.lib.format.write_array_header_1_0(file, header)


class ShardWriter:
    """Append CSR rows and cut them into shards of ``cells_per_shard`` cells under ``out_dir``.

    Rows go to disk as they are added, so memory does not grow with the shard size. ``n_cells`` and
    ``nnz`` count everything added so far (the next row added gets index ``n_cells``).
    Everything is written to a temporary directory beside ``out_dir`` that replaces it only when
    :meth:`close` succeeds; use it as a context manager so an exception discards the partial output.
    """

    def __init__(self, out_dir: str | Path, n_genes: int, cells_per_shard: int) -> None:
        if n_genes <= 0 or cells_per_shard <= 0:
            raise ValueError("n_genes and cells_per_shard must be positive")
        self.out_dir = Path(out_dir)
        self.n_genes = int(n_genes)
        self.cells_per_shard = int(cells_per_shard)
        self.n_cells = 0
        self.nnz = 0
        self._shards: list[dict[str, Any]] = []
        self._open: _OpenShard | None = None
        self._stack = contextlib.ExitStack()
        self._tmp: Path | None = self._stack.enter_context(atomic_path(self.out_dir, directory=True))

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tmp is None:
            return
        self._tmp = None
        if self._open is not None:
            self._open.abandon()
        if exc is None:
            error = RuntimeError(f"ShardWriter for {self.out_dir} left without close(); output discarded")
            self._stack.__exit__(RuntimeError, error, None)
            raise error
        self._stack.__exit__(exc_type, exc, tb)

    @property
    def directory(self) -> Path:
        """The temporary directory being written (renamed onto ``out_dir`` by :meth:`close`)."""
        if self._tmp is None:
            raise RuntimeError("ShardWriter is closed")
        return self._tmp

    def add(self, matrix: sp.spmatrix | sp.sparray) -> None:
        """Append the rows of ``matrix`` (cells x ``n_genes``), in order."""
        tmp = self.directory
        csr = sp.csr_matrix(matrix)
        if csr.shape[1] != self.n_genes:
            raise ValueError(f"matrix has {csr.shape[1]} columns, the corpus has {self.n_genes} genes")
        if not csr.has_canonical_format:
            csr = csr.copy()
            csr.sum_duplicates()
        indptr = csr.indptr.astype(INDPTR_DTYPE)
        start = 0
        while start < csr.shape[0]:
            if self._open is None:
                self._open = _OpenShard(tmp / shard_name(len(self._shards)), self.n_cells + start)
            stop = min(csr.shape[0], start + self.cells_per_shard - self._open.n_cells)
            lo, hi = indptr[start], indptr[stop]
            self._open.append(csr.data[lo:hi], csr.indices[lo:hi], indptr[start : stop + 1] - lo)
            if self._open.n_cells == self.cells_per_shard:
                self._shards.append(self._open.finish())
                self._open = None
            start = stop
        self.n_cells += csr.shape[0]
        self.nnz += csr.nnz

    def close(
        self, extra_metadata: dict[str, Any] | None = None, arrays: dict[str, np.ndarray] | None = None
    ) -> dict[str, Any]:
        """Finish the last shard, write the manifest (plus ``extra_metadata``) and any extra ``.npy``
        ``arrays`` (e.g. ``{"train": idx}``) into the directory, then move it onto ``out_dir``."""
        tmp = self.directory
        extra = dict(extra_metadata or {})
        clash = _RESERVED.intersection(extra)
        if clash:
            raise ValueError(f"extra metadata may not override manifest keys {sorted(clash)}")
        if self._open is not None:
            self._shards.append(self._open.finish())
            self._open = None
        manifest = {
            "format": FORMAT,
            "n_genes": self.n_genes,
            "n_cells": self.n_cells,
            "nnz": self.nnz,
            "value_dtype": VALUE_DTYPE.name,
            "shards": self._shards,
            **extra,
        }
        for name, array in (arrays or {}).items():
            np.save(tmp / f"{name}.npy", np.asarray(array))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        self._tmp = None
        self._stack.close()
        log.info(
            "wrote %d cells, %d non-zeros in %d shards to %s",
            self.n_cells,
            self.nnz,
            len(self._shards),
            self.out_dir,
        )
        return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read and validate ``path/manifest.json``; raise :class:`InputError` if it is inconsistent."""
    path = Path(path)
    file = path / MANIFEST
    try:
        manifest = json.loads(file.read_text())
    except FileNotFoundError:
        raise InputError(file, "missing: not a sclong CSR shard directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(file, f"unreadable manifest ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(file, f"format is not {FORMAT!r}")
    missing = sorted(_RESERVED - set(manifest))
    if missing:
        raise InputError(file, f"missing keys {missing}")
    if manifest["value_dtype"] != VALUE_DTYPE.name:
        raise InputError(file, f"value_dtype {manifest['value_dtype']!r} is not {VALUE_DTYPE.name!r}")
    first = 0
    nnz = 0
    for i, shard in enumerate(manifest["shards"]):
        if not isinstance(shard, dict) or not {"name", "n_cells", "nnz", "first_cell"} <= set(shard):
            raise InputError(file, f"shard entry {i} lacks name/n_cells/nnz/first_cell")
        if shard["first_cell"] != first:
            raise InputError(file, f"shard {shard['name']} starts at cell {shard['first_cell']}, expected {first}")
        first += shard["n_cells"]
        nnz += shard["nnz"]
        for array in _ARRAYS:
            if not (path / shard["name"] / f"{array}.npy").is_file():
                raise InputError(path / shard["name"] / f"{array}.npy", "shard file missing")
    if first != manifest["n_cells"] or nnz != manifest["nnz"]:
        raise InputError(
            file,
            f"shards hold {first} cells / {nnz} non-zeros but the manifest says "
            f"{manifest['n_cells']} / {manifest['nnz']}",
        )
    return manifest


class ShardedCSR:
    """Read-only view of a shard directory as one ``n_cells x n_genes`` CSR matrix.

    Shard arrays are memory-mapped on first use and checked against the manifest then. The object
    pickles without its memory maps, so it can be handed to ``DataLoader`` workers.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        self.n_cells: int = int(self.manifest["n_cells"])
        self.n_genes: int = int(self.manifest["n_genes"])
        self.nnz: int = int(self.manifest["nnz"])
        shards = self.manifest["shards"]
        self._first = np.array([s["first_cell"] for s in shards] + [self.n_cells], dtype=np.int64)
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_cells, n_genes)``."""
        return self.n_cells, self.n_genes

    def __len__(self) -> int:
        return self.n_cells

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_arrays"] = {}
        return state

    def shard(self, number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Memory maps ``(data, indices, indptr)`` of shard ``number``, validated on first use."""
        arrays = self._arrays.get(number)
        if arrays is None:
            arrays = self._open(number)
            self._arrays[number] = arrays
        return arrays

    def _open(self, number: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        entry = self.manifest["shards"][number]
        directory = self.path / entry["name"]
        loaded = []
        for name, dtype in _ARRAYS.items():
            file = directory / f"{name}.npy"
            try:
                array = np.load(file, mmap_mode="r")
            except (OSError, ValueError) as err:
                raise InputError(file, f"corrupted or missing shard array ({err})") from None
            if array.dtype != dtype or array.ndim != 1:
                raise InputError(file, f"expected a 1-d {dtype.name} array, found {array.ndim}-d {array.dtype}")
            loaded.append(array)
        data, indices, indptr = loaded
        n, nnz = entry["n_cells"], entry["nnz"]
        if len(indptr) != n + 1 or len(data) != nnz or len(indices) != nnz:
            raise InputError(
                directory,
                f"arrays have {len(indptr) - 1} rows / {len(data)} values / {len(indices)} indices, "
                f"the manifest says {n} rows / {nnz} non-zeros",
            )
        if indptr[0] != 0 or indptr[-1] != nnz:
            raise InputError(directory / "indptr.npy", f"row pointers run {indptr[0]}..{indptr[-1]}, not 0..{nnz}")
        return data, indices, indptr

    def _locate(self, cells: np.ndarray) -> np.ndarray:
        if cells.size and (cells.min() < 0 or cells.max() >= self.n_cells):
            raise IndexError(f"cell index out of range 0..{self.n_cells - 1}")
        return np.searchsorted(self._first, cells, side="right") - 1

    def row(self, cell: int) -> tuple[np.ndarray, np.ndarray]:
        """``(gene_indices, values)`` of one cell, as fresh arrays."""
        number = int(self._locate(np.array([cell], dtype=np.int64))[0])
        data, indices, indptr = self.shard(number)
        local = cell - int(self._first[number])
        start, end = int(indptr[local]), int(indptr[local + 1])
        return np.array(indices[start:end]), np.array(data[start:end])

    def rows(self, cells: np.ndarray | list[int]) -> sp.csr_matrix:
        """The given cells (global indices, any order, repeats allowed) as a CSR matrix in that order."""
        cells = np.asarray(cells, dtype=np.int64).ravel()
        numbers = self._locate(cells)
        starts = np.empty(len(cells), dtype=np.int64)
        lengths = np.empty(len(cells), dtype=np.int64)
        for number in np.unique(numbers):
            mask = numbers == number
            indptr = self.shard(int(number))[2]
            local = cells[mask] - self._first[number]
            starts[mask] = indptr[local]
            lengths[mask] = indptr[local + 1] - starts[mask]
        total_nnz = int(lengths.sum())
        index_dtype = INDEX_DTYPE if total_nnz < np.iinfo(INDEX_DTYPE).max else INDPTR_DTYPE
        out_indptr = np.zeros(len(cells) + 1, dtype=index_dtype)
        np.cumsum(lengths, out=out_indptr[1:])
        out_data = np.empty(total_nnz, dtype=VALUE_DTYPE)
        out_indices = np.empty(total_nnz, dtype=index_dtype)
        for number in np.unique(numbers):
            mask = numbers == number
            n = lengths[mask]
            total = int(n.sum())
            within = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
            src = np.repeat(starts[mask], n) + within
            dst = np.repeat(out_indptr[:-1][mask], n) + within
            data, indices, _ = self.shard(int(number))
            out_data[dst] = data[src]
            out_indices[dst] = indices[src]
        return sp.csr_matrix((out_data, out_indices, out_indptr), shape=(len(cells), self.n_genes))
