"""Paper-scale datasets of the downstream tasks, converted to one AnnData each (``python -m sclong.data.datasets``).

Formats (each file a download of ``sources``, optionally a ``member`` of a zip archive):

* ``h5ad``: an AnnData as distributed (scib's pancreas); ``obs_values`` renames values of obs columns
  (e.g. inDrop1-4 -> inDrop, which gives the pancreas the 6 batches of Kedzierska et al. and the paper).
* ``abdelaal``: the Abdelaal et al. benchmark layout (Zheng68K): ``expression`` a cells x genes CSV of raw
  counts (barcodes as row names, symbols as column names), read in chunks into a sparse matrix, and
  ``labels`` a one-column CSV with a header, one label per cell in the same order -> ``obs['cell_type']``.
* ``beeline``: BEELINE's ``ExpressionData.csv`` (genes x cells of log2(x + 1) of normalised counts;
  converted to the natural-log log1p values scLong expects, x * ln 2) and a ground-truth network CSV
  (``Gene1`` = TF, ``Gene2`` = target) -> ``uns['grn_edges']`` (tf, target); duplicate edges and
  self-loops are dropped, edges naming genes absent from the expression are counted, reported and dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import sys
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

import numpy as np
import pandas as pd

from sclong.cli import run_module_main
from sclong.errors import ConfigError, InputError
from sclong.io.atomic import atomic_path
from sclong.settings import add_settings_argument, parse_settings

log = logging.getLogger(__name__)

FORMAT_FILES = {"h5ad": ("data",), "abdelaal": ("expression", "labels"), "beeline": ("expression", "network")}
CSV_CHUNK_ROWS = 2000


@dataclass(frozen=True)
class DatasetFile:
    """A file of a dataset: a downloaded path, or a member of the zip archive at that path."""

    path: Path
    member: str | None

    @property
    def label(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)


@contextlib.contextmanager
def open_file(file: DatasetFile, mode: Literal["r", "rb"] = "r") -> Iterator[IO]:
    """Open a dataset file (a zip member is read straight from the archive)."""
    try:
        if file.member is None:
            with open(file.path, mode) as handle:
                yield handle
            return
        with zipfile.ZipFile(file.path) as archive, archive.open(file.member) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8") if mode == "r" else raw
    except KeyError as err:
        raise InputError(file.path, f"archive has no member {file.member!r}") from err
    except (OSError, zipfile.BadZipFile) as err:
        raise InputError(file.label, f"cannot read ({err})") from err


def read_h5ad_file(file: DatasetFile, obs_values: Mapping[str, Mapping[str, str]]) -> object:
    """An AnnData file with the configured obs values renamed."""
    import anndata as ad

    with open_file(file, "rb") as handle:
        adata = ad.read_h5ad(handle) if file.member else ad.read_h5ad(file.path)
    for column, renames in obs_values.items():
        if column not in adata.obs:
            raise InputError(file.label, f"obs has no column {column!r} (datasets.<name>.obs_values)")
        absent = sorted(set(renames) - set(adata.obs[column].astype(str)))
        if absent:
            raise InputError(file.label, f"obs[{column!r}] has no value(s) {', '.join(absent)} to rename")
        adata.obs[column] = adata.obs[column].astype(str).replace(dict(renames)).astype("category")
    return adata


def read_abdelaal(expression: DatasetFile, labels: DatasetFile) -> object:
    """Cells x genes raw counts CSV + labels CSV -> AnnData with ``obs['cell_type']``."""
    import anndata as ad
    import scipy.sparse as sp

    blocks, barcodes = [], []
    with open_file(expression) as handle:
        for chunk in pd.read_csv(handle, index_col=0, chunksize=CSV_CHUNK_ROWS):
            blocks.append(sp.csr_matrix(chunk.to_numpy(dtype=np.float32)))
            barcodes.extend(chunk.index.astype(str))
            genes = chunk.columns.astype(str)
    if not blocks:
        raise InputError(expression.label, "holds no cells")
    with open_file(labels) as handle:
        table = pd.read_csv(handle, header=0)
    if table.shape[1] != 1 or len(table) != len(barcodes):
        raise InputError(labels.label, f"expected one label column with {len(barcodes)} rows, got {table.shape}")
    obs = pd.DataFrame({"cell_type": pd.Categorical(table.iloc[:, 0].astype(str))}, index=barcodes)
    return ad.AnnData(X=sp.vstack(blocks, format="csr"), obs=obs, var=pd.DataFrame(index=genes))


def read_beeline(expression: DatasetFile, network: DatasetFile) -> object:
    """BEELINE's expression (genes x cells, log2) and ground-truth network -> AnnData (cells x genes, log1p)."""
    import anndata as ad
    import scipy.sparse as sp

    with open_file(expression) as handle:
        frame = pd.read_csv(handle, index_col=0)
    if frame.empty or not all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes):
        raise InputError(expression.label, "expected a genes x cells table of numbers with gene symbols as row names")
    if (frame.to_numpy() < 0).any():
        raise InputError(expression.label, "holds negative values; expected log2(x + 1) of normalised counts")
    if frame.index.duplicated().any():
        raise InputError(expression.label, f"repeats gene {frame.index[frame.index.duplicated()][0]!r}")
    values = frame.to_numpy(dtype=np.float64).T * math.log(2.0)  # log2(x + 1) -> ln(x + 1)
    adata = ad.AnnData(X=sp.csr_matrix(values.astype(np.float32)), obs=pd.DataFrame(index=frame.columns.astype(str)),
                       var=pd.DataFrame(index=frame.index.astype(str)))  # fmt: skip
    adata.uns["grn_edges"] = read_network(network, set(adata.var_names))
    adata.uns["normalization"] = "log1p"
    return adata


def read_network(network: DatasetFile, genes: set[str]) -> pd.DataFrame:
    """A ``Gene1,Gene2`` ground truth as ``tf, target``, restricted to ``genes`` (what is dropped is logged)."""
    with open_file(network) as handle:
        edges = pd.read_csv(handle, dtype=str)
    if not {"Gene1", "Gene2"} <= set(edges.columns):
        raise InputError(network.label, "expected columns Gene1 (TF) and Gene2 (target)")
    edges = edges.rename(columns={"Gene1": "tf", "Gene2": "target"})[["tf", "target"]]
    edges = edges[edges["tf"] != edges["target"]].drop_duplicates(ignore_index=True)
    absent = ~(edges["tf"].isin(genes) & edges["target"].isin(genes))
    if absent.any():
        missing = sorted(set(edges.loc[absent, ["tf", "target"]].to_numpy().ravel()) - genes)
        log.warning("%s: %d of %d edges name %d gene(s) absent from the expression (e.g. %s); dropped",
                    network.label, int(absent.sum()), len(edges), len(missing), ", ".join(missing[:5]))  # fmt: skip
    kept = edges[~absent].reset_index(drop=True)
    if kept.empty:
        raise InputError(network.label, "no edge joins two genes of the expression data")
    return kept


def prepare(settings: Mapping[str, object], files: Mapping[str, DatasetFile], name: str) -> object:
    """The AnnData of dataset ``name`` (its config entry ``settings``) from its files."""
    fmt = settings["format"]
    needed = FORMAT_FILES[fmt]
    missing = [role for role in needed if role not in files]
    if missing:
        raise ConfigError(f"datasets.{name}.files", f"format {fmt} needs file(s) {', '.join(missing)}")
    if fmt == "h5ad":
        return read_h5ad_file(files["data"], settings.get("obs_values") or {})
    if fmt == "abdelaal":
        return read_abdelaal(files["expression"], files["labels"])
    return read_beeline(files["expression"], files["network"])


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`prepare`."""
    parser = argparse.ArgumentParser(prog="python -m sclong.data.datasets", description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="the dataset's key in the config")
    parser.add_argument("--file", action="append", default=[], metavar="ROLE=PATH", help="a downloaded file")
    parser.add_argument("--out", required=True, help=".h5ad to write")
    add_settings_argument(parser, "datasets.<name>")
    args = parser.parse_args(argv)
    settings = parse_settings(args.settings, f"datasets.{args.name}")
    paths = dict(pair.split("=", 1) for pair in args.file)
    files = {role: DatasetFile(Path(paths[role]), spec.get("member")) for role, spec in settings["files"].items()}
    adata = prepare(settings, files, args.name)
    with atomic_path(args.out) as tmp:
        adata.write_h5ad(tmp, compression="gzip")
    log.info("dataset %s: %d cells x %d genes -> %s", args.name, adata.n_obs, adata.n_vars, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
