"""Query the CELLxGENE Census (or a local store shaped like it) with ``cellxgene_census`` and ``tiledbsoma``.

Cells are selected by ``obs`` value filter ``(<obs_value_filter>) and is_primary_data == True`` plus an
optional list of datasets, and streamed dataset by dataset in blocks of cells from the ``raw`` X layer,
so memory stays bounded whatever the size of the Census.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import cellxgene_census
import numpy as np
import pandas as pd
import pyarrow.compute as pc
import scipy.sparse as sp
import tiledbsoma

from sclong.errors import ConfigError, InputError
from sclong.progress import Progress

log = logging.getLogger(__name__)

MEASUREMENT = "RNA"
LAYER = "raw"
PRIMARY = "is_primary_data == True"
_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:-]+$")


@dataclass(frozen=True)
class CensusSource:
    """Which Census and which cells (the ``corpus.census`` config block; no defaults: the config has them)."""

    uri: str | None
    version: str | None
    organism: str
    obs_value_filter: str
    dataset_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset_ids", tuple(self.dataset_ids))
        for dataset_id in self.dataset_ids:
            if not _PLAIN_ID.match(dataset_id):
                raise ConfigError("corpus.census.dataset_ids", f"not a dataset ID: {dataset_id!r}")

    @property
    def label(self) -> str:
        """The Census's name in messages: its URI or release."""
        return self.uri or f"CELLxGENE Census {self.version or 'stable'}"

    @property
    def experiment_name(self) -> str:
        """``Homo sapiens`` -> ``homo_sapiens``."""
        return re.sub(r"\s+", "_", self.organism.strip()).lower()

    def value_filter(self, dataset_id: str | None = None) -> str:
        """The ``obs`` filter of all selected cells, or of those of one dataset."""
        terms = [f"({self.obs_value_filter})"] if self.obs_value_filter.strip() else []
        terms.append(PRIMARY)
        if dataset_id is not None:
            terms.append(f"dataset_id == '{dataset_id}'")
        elif self.dataset_ids:
            terms.append("dataset_id in [" + ", ".join(f"'{d}'" for d in self.dataset_ids) + "]")
        return " and ".join(terms)


def open_census(source: CensusSource) -> tiledbsoma.Collection:
    """Open the Census by URI or release with ``cellxgene_census.open_soma``."""
    try:
        if source.uri:
            return cellxgene_census.open_soma(uri=source.uri)
        return cellxgene_census.open_soma(census_version=source.version or "stable")
    except (tiledbsoma.DoesNotExistError, tiledbsoma.SOMAError, ValueError) as err:
        raise InputError(source.label, f"cannot open the Census ({err})") from None


def experiment(census: tiledbsoma.Collection, source: CensusSource) -> tiledbsoma.Experiment:
    """The organism's experiment in ``census_data``."""
    data = census["census_data"]
    if source.experiment_name not in data:
        raise ConfigError(
            "corpus.census.organism",
            f"{source.organism!r} is not in {source.label} (has {sorted(data.keys())})",
        )
    return data[source.experiment_name]


def list_datasets(census: tiledbsoma.Collection, source: CensusSource) -> pd.DataFrame:
    """Datasets with selected cells: ``dataset_soma_joinid, dataset_id, dataset_title, n_cells``,
    sorted by ``dataset_id``; streams the ``dataset_id`` column of ``obs`` only."""
    value_filter = source.value_filter()
    counts: Counter[str] = Counter()
    try:
        for table in experiment(census, source).obs.read(value_filter=value_filter, column_names=["dataset_id"]):
            column = pc.cast(table["dataset_id"], "string") if len(table) else table["dataset_id"]
            for item in pc.value_counts(column).to_pylist():
                counts[item["values"]] += item["counts"]
    except (tiledbsoma.SOMAError, ValueError) as err:
        raise ConfigError("corpus.census.obs_value_filter", f"{value_filter!r} is not a valid filter ({err})") from None
    if not counts:
        raise InputError(source.label, f"the obs filter {value_filter!r} matches no cells")
    info = census["census_info"]["datasets"].read(column_names=["soma_joinid", "dataset_id", "dataset_title"])
    info = info.concat().to_pandas().rename(columns={"soma_joinid": "dataset_soma_joinid"})
    missing = sorted(set(source.dataset_ids) - set(counts))
    if missing:
        log.warning("%d requested datasets have no selected cells: %s", len(missing), ", ".join(missing))
    datasets = info[info["dataset_id"].isin(counts)].copy()
    datasets["n_cells"] = datasets["dataset_id"].map(counts).astype(np.int64)
    return datasets.sort_values("dataset_id", ignore_index=True)


def read_var(census: tiledbsoma.Collection, source: CensusSource) -> pd.DataFrame:
    """``var`` of the RNA measurement: ``soma_joinid, feature_id, feature_name``, by ``soma_joinid``."""
    var = experiment(census, source).ms[MEASUREMENT].var
    frame = var.read(column_names=["soma_joinid", "feature_id", "feature_name"]).concat().to_pandas()
    return frame.sort_values("soma_joinid", ignore_index=True)


def presence_matrix(census: tiledbsoma.Collection, source: CensusSource) -> sp.csr_matrix:
    """Which genes each dataset measured (rows: dataset ``soma_joinid``, columns: var ``soma_joinid``)."""
    return sp.csr_matrix(cellxgene_census.get_presence_matrix(census, source.organism, MEASUREMENT))


def iter_blocks(
    census: tiledbsoma.Collection, source: CensusSource, dataset_id: str, block_size: int
) -> Iterator[sp.csr_matrix]:
    """Stream one dataset's selected cells as CSR blocks of ``block_size`` cells (columns: var
    ``soma_joinid``), in ``obs`` order."""
    obs_query = tiledbsoma.AxisQuery(value_filter=source.value_filter(dataset_id))
    with experiment(census, source).axis_query(MEASUREMENT, obs_query=obs_query) as query:
        blocks = query.X(LAYER).blockwise(axis=0, size=block_size, reindex_disable_on_axis=[1]).scipy()
        for matrix, _ in blocks:
            yield sp.csr_matrix(matrix)


def gene_counts(census: tiledbsoma.Collection, source: CensusSource) -> pd.DataFrame:
    """Per feature, the number of selected cells with a non-zero value (before corpus QC, which needs
    the vocabulary built from these counts): ``feature_id, feature_name, nonzero_cells``."""
    datasets = list_datasets(census, source)
    var = read_var(census, source)
    counts = np.zeros(int(var["soma_joinid"].max()) + 1, dtype=np.int64)
    obs_query = tiledbsoma.AxisQuery(value_filter=source.value_filter())
    with experiment(census, source).axis_query(MEASUREMENT, obs_query=obs_query) as query:
        with Progress(None, "gene counts", "non-zero values") as bar:
            for table in query.X(LAYER).tables():
                genes = table["soma_dim_1"].to_numpy()
                values = table["soma_data"].to_numpy()
                counts += np.bincount(genes[values != 0], minlength=len(counts))
                bar.update(len(table))
    log.info(
        "gene counts over %d cells of %d datasets: %d of %d features detected",
        datasets["n_cells"].sum(),
        len(datasets),
        (counts > 0).sum(),
        len(var),
    )
    return pd.DataFrame(
        {
            "feature_id": var["feature_id"].to_numpy(),
            "feature_name": var["feature_name"].to_numpy(),
            "nonzero_cells": counts[var["soma_joinid"].to_numpy()],
        }
    )
