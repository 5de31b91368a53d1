"""Paper-scale datasets of the downstream tasks, converted to one AnnData each (``python -m sclong.data.datasets``).

Formats (each file a download of ``sources``, optionally a ``member`` of a zip or tar archive):

* ``h5ad``: an AnnData as distributed (scib's pancreas, GEARS' Norman screen); ``obs_values`` renames
  values of obs columns (e.g. inDrop1-4 -> inDrop, which gives the pancreas the 6 batches of Kedzierska et
  al. and the paper).
* ``abdelaal``: the Abdelaal et al. benchmark layout (Zheng68K): ``expression`` a cells x genes CSV of raw
  counts (barcodes as row names, symbols as column names), read in chunks into a sparse matrix, and
  ``labels`` a one-column CSV with a header, one label per cell in the same order -> ``obs['cell_type']``.
* ``beeline``: BEELINE's ``ExpressionData.csv`` (genes x cells of log2(x + 1) of normalised counts;
  converted to the natural-log log1p values scLong expects, x * ln 2; checked: unique genes and cells,
  finite non-negative numbers) and a ground-truth network CSV (``Gene1`` = TF, ``Gene2`` = target) ->
  ``uns['grn_edges']`` (tf, target); duplicate edges and self-loops are dropped, edges naming genes absent
  from the expression are counted, reported and dropped (:func:`check_edges`, also what the GRN task
  applies to any dataset's network).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import math
import shutil
import sys
import tarfile
import tempfile
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

EDGES_KEY = "grn_edges"
EXAMPLES = 5
FORMAT_FILES = {"h5ad": ("data",), "abdelaal": ("expression", "labels"), "beeline": ("expression", "network")}
CSV_CHUNK_ROWS = 2000


@dataclass(frozen=True)
class DatasetFile:
    """A file of a dataset: a downloaded path, or a member of the zip or tar archive at that path."""

    path: Path
    member: str | None

    @property
    def label(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)


@contextlib.contextmanager
def open_file(file: DatasetFile, mode: Literal["r", "rb"] = "r") -> Iterator[IO]:
    """Open a dataset file (a zip or tar member is read straight from the archive)."""
    try:
        if file.member is None:
            with open(file.path, mode) as handle:
                yield handle
            return
        if tarfile.is_tarfile(file.path):
            with tarfile.open(file.path) as archive:
                raw = archive.extractfile(file.member)
                if raw is None:
                    raise InputError(file.path, f"archive member {file.member!r} is not a file")
                with raw:
                    yield io.TextIOWrapper(raw, encoding="utf-8") if mode == "r" else raw
            return
        with zipfile.ZipFile(file.path) as archive, archive.open(file.member) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8") if mode == "r" else raw
    except KeyError as err:
        raise InputError(file.path, f"archive has no member {file.member!r}") from err
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as err:
        raise InputError(file.label, f"cannot read ({err})") from err


def read_h5ad_file(file: DatasetFile, obs_values: Mapping[str, Mapping[str, str]]) -> object:
    """An AnnData file with the configured obs values renamed."""
    import anndata as ad

    if file.member is None:
        adata = ad.read_h5ad(file.path)
    else:  # HDF5 seeks back and forth: a compressed tar member is copied out first
        with open_file(file, "rb") as handle, tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "member.h5ad"
            with open(local, "wb") as out:
                shutil.copyfileobj(handle, out)
            adata = ad.read_h5ad(local)
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

    frame = _read_expression_csv(expression)
    if (frame.to_numpy() < 0).any():
        raise InputError(expression.label, "holds negative values; expected log2(x + 1) of normalised counts")
    with open_file(network) as handle:
        try:
            table = pd.read_csv(handle, dtype=str, keep_default_na=False)
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(network.label, f"cannot read the network CSV ({err})") from err
    missing = [column for column in ("Gene1", "Gene2") if column not in table.columns]
    if missing:
        raise InputError(network.label, f"network CSV lacks column(s) {', '.join(missing)} (BEELINE: Gene1, Gene2)")
    edges = table[["Gene1", "Gene2"]].rename(columns={"Gene1": "tf", "Gene2": "target"})
    edges = edges[edges["tf"] != edges["target"]].drop_duplicates()
    values = frame.to_numpy(dtype=np.float64).T * math.log(2.0)  # log2(x + 1) -> ln(x + 1)
    adata = ad.AnnData(X=sp.csr_matrix(values.astype(np.float32)), obs=pd.DataFrame(index=frame.columns.astype(str)),
                       var=pd.DataFrame(index=frame.index.astype(str)))  # fmt: skip
    adata.uns[EDGES_KEY] = check_edges(edges, adata.var_names, network.label).reset_index(drop=True)
    adata.uns["normalization"] = "log1p"
    return adata


def _read_expression_csv(file: DatasetFile) -> pd.DataFrame:
    """BEELINE's genes x cells expression CSV, checked: unique genes and cells, finite numbers."""
    with open_file(file) as handle:
        try:
            frame = pd.read_csv(handle, index_col=0)
        except (ValueError, UnicodeDecodeError) as err:
            raise InputError(file.label, f"cannot read the expression CSV ({err})") from err
    if frame.empty:
        raise InputError(file.label, "expression CSV has no genes or no cells")
    text = [str(column) for column, dtype in frame.dtypes.items() if not pd.api.types.is_numeric_dtype(dtype)]
    if text:
        problem = f"expression CSV has non-numeric values in {len(text)} cell column(s), e.g. {text[0]}"
        raise InputError(file.label, problem)
    for what, names in (("gene", frame.index), ("cell", frame.columns)):
        duplicated = names[names.duplicated()]
        if len(duplicated):
            problem = f"expression CSV has {len(duplicated)} duplicate {what} name(s), e.g. {duplicated[0]}"
            raise InputError(file.label, problem)
    if not np.isfinite(frame.to_numpy(np.float64)).all():
        raise InputError(file.label, "expression CSV has missing or infinite values")
    return frame


def check_edges(edges: pd.DataFrame, genes: pd.Index, source: str | Path) -> pd.DataFrame:
    """The ground-truth edges (``tf``, ``target``) between ``genes``; the others are counted, reported in a
    WARNING and dropped. Raises :class:`InputError` naming ``source`` when the table is malformed or no edge
    remains."""
    if not isinstance(edges, pd.DataFrame) or not {"tf", "target"} <= set(edges.columns):
        raise InputError(source, "ground-truth network needs columns tf and target")
    if edges.empty:
        raise InputError(source, "ground-truth network has no edges")
    if edges[["tf", "target"]].isna().to_numpy().any():
        raise InputError(source, "ground-truth network has missing gene names")
    edges = edges[["tf", "target"]].astype(str)
    known = edges["tf"].isin(genes) & edges["target"].isin(genes)
    if not known.any():
        problem = f"none of the {len(edges)} ground-truth edges is between genes of the expression data"
        raise InputError(source, problem)
    if not known.all():
        names = pd.concat([edges["tf"], edges["target"]])
        absent = pd.unique(names[~names.isin(genes)])
        log.warning("%s: %d of %d ground-truth edges name %d gene(s) absent from the expression data (e.g. %s): "
                    "dropped", source, (~known).sum(), len(edges), len(absent),
                    ", ".join(absent[:EXAMPLES]))  # fmt: skip
    return edges[known]


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
