"""The pretraining corpus: Census cells -> QC -> normalisation -> sharded CSR + train/validation split.

Two passes, two sub-commands:

* ``gene-counts``: per-feature non-zero cell counts over the selected cells (the vocabulary's input);
* ``build``: per dataset (sorted by ID), streamed in blocks: drop the dataset if it measured fewer than
  ``min_genes_per_dataset`` vocabulary genes (Census presence matrix) or if its normalisation is
  unknown (:mod:`sclong.data.normalize`, detected on its first block, checked on every block); map
  genes to the vocabulary; drop cells with fewer than ``min_nonzero`` non-zero vocabulary genes, then
  exact duplicates of any earlier cell of the corpus; normalise; append to the shards. The manifest
  records the source, the vocabulary's hash, per-dataset counts and the QC counts; ``train.npy`` and
  ``val.npy`` hold the deterministic split.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import tiledbsoma

from sclong.cli import run_module_main
from sclong.data.census import (
    CensusSource,
    gene_counts,
    iter_blocks,
    list_datasets,
    open_census,
    presence_matrix,
    read_var,
)
from sclong.data.normalize import detect_kind, normalize
from sclong.data.qc import DuplicateFilter, to_vocabulary, train_val_split, vocabulary_lookup
from sclong.errors import InputError
from sclong.io.atomic import atomic_path
from sclong.io.shards import ShardWriter
from sclong.knowledge.vocabulary import read_vocabulary
from sclong.progress import Progress
from sclong.settings import add_settings_argument, from_mapping, parse_settings

log = logging.getLogger(__name__)
QC_KEYS = (
    "datasets_seen",
    "datasets_dropped_few_genes",
    "datasets_dropped_unknown_normalization",
    "datasets_kept",
    "cells_seen",
    "cells_in_dropped_datasets",
    "cells_dropped_low_nonzero",
    "cells_dropped_duplicate",
    "cells_kept",
)


@dataclass(frozen=True)
class CorpusOptions:
    """QC, normalisation and layout settings: the ``corpus`` config block (its keys have no default here)
    plus ``block_size``, the cells read per Census query."""

    min_genes_per_dataset: int
    min_nonzero: int
    normalization: Literal["paper", "scanpy"]
    max_value: float
    cells_per_shard: int
    val_fraction: float
    split_seed: int
    block_size: int = 8192


def vocabulary_hash(vocabulary_ids: Sequence[str]) -> str:
    """SHA-256 of the vocabulary's Ensembl IDs in order (ties the shards' columns to a vocabulary)."""
    return hashlib.sha256("\n".join(vocabulary_ids).encode()).hexdigest()


def build_corpus(
    census: tiledbsoma.Collection,
    source: CensusSource,
    vocabulary_ids: Sequence[str],
    out_dir: str | Path,
    options: CorpusOptions,
) -> dict[str, Any]:
    """Build the sharded corpus at ``out_dir`` (atomically) and return its manifest."""
    datasets = list_datasets(census, source)
    lookup = vocabulary_lookup(read_var(census, source), vocabulary_ids)
    presence = presence_matrix(census, source)
    n_genes = len(vocabulary_ids)
    qc: Counter[str] = Counter(datasets_seen=len(datasets), cells_seen=int(datasets["n_cells"].sum()))
    records = []
    with ShardWriter(out_dir, n_genes, options.cells_per_shard) as writer:
        with Progress(qc["cells_seen"], "corpus", "cells") as bar:
            streamer = _DatasetStreamer(census, source, lookup, writer, options, qc, bar)
            for dataset in datasets.itertuples():
                row = presence[dataset.dataset_soma_joinid]
                measured = np.unique(lookup[row.indices[row.indices < len(lookup)]])
                record = {
                    "dataset_id": dataset.dataset_id,
                    "dataset_title": dataset.dataset_title,
                    "measured_genes": int((measured >= 0).sum()),
                    "cells_selected": int(dataset.n_cells),
                    "first_cell": writer.n_cells,
                }
                if record["measured_genes"] < options.min_genes_per_dataset:
                    record["dropped"] = f"measures {record['measured_genes']} vocabulary genes"
                    qc["datasets_dropped_few_genes"] += 1
                else:
                    record.update(streamer.add(dataset.dataset_id))
                if "dropped" in record:
                    qc["cells_in_dropped_datasets"] += record["cells_selected"]
                    bar.update(record["cells_selected"])
                    log.warning("dropped dataset %s: %s", dataset.dataset_id, record["dropped"])
                records.append(record)
        if writer.n_cells == 0:
            raise InputError(source.label, f"no cell passed QC (counts: {dict(qc)})")
        qc["cells_kept"] = writer.n_cells
        qc["datasets_kept"] = sum("dropped" not in r for r in records)
        train, val = train_val_split(writer.n_cells, options.val_fraction, options.split_seed)
        extra = {
            "source": {**asdict(source), "value_filter": source.value_filter()},
            "vocabulary_sha256": vocabulary_hash(vocabulary_ids),
            "options": asdict(options),
            "qc": {key: qc[key] for key in QC_KEYS},
            "datasets": records,
            "split": {"n_train": len(train), "n_val": len(val), "seed": options.split_seed},
        }
        manifest = writer.close(extra, arrays={"train": train, "val": val})
    log.info("corpus QC: %s", ", ".join(f"{key}={qc[key]}" for key in QC_KEYS))
    return manifest


@dataclass
class _DatasetStreamer:
    """Streams one dataset at a time through QC and normalisation into the shard writer."""

    census: tiledbsoma.Collection
    source: CensusSource
    lookup: np.ndarray
    writer: ShardWriter
    options: CorpusOptions
    qc: Counter[str]
    bar: Progress

    def __post_init__(self) -> None:
        self.duplicates = DuplicateFilter()

    def add(self, dataset_id: str) -> dict[str, Any]:
        """Append the dataset's cells that pass QC; returns its counts and normalisation, or why it
        was dropped (nothing appended then)."""
        name = f"{self.source.label} dataset {dataset_id}"
        options = self.options
        kind = None
        counts: Counter[str] = Counter()
        for block in iter_blocks(self.census, self.source, dataset_id, options.block_size):
            kind = detect_kind(block.data, name, claimed=kind)
            if kind == "unknown":
                self.qc["datasets_dropped_unknown_normalization"] += 1
                return {"dropped": "unknown normalisation (non-integer values reaching 20)", "normalization": kind}
            self.bar.update(block.shape[0])
            cells = to_vocabulary(block, self.lookup, self.writer.n_genes)
            enough = np.diff(cells.indptr) >= options.min_nonzero
            cells = cells[enough]
            unique = self.duplicates.first_seen(cells)
            cells = cells[unique]
            counts["cells_dropped_low_nonzero"] += int((~enough).sum())
            counts["cells_dropped_duplicate"] += int((~unique).sum())
            counts["cells_kept"] += cells.shape[0]
            self.writer.add(normalize(cells, kind, options.normalization, options.max_value))
        self.qc.update({key: value for key, value in counts.items() if key != "cells_kept"})
        return {"normalization": kind, **counts}


def main(argv: list[str] | None = None) -> int:
    """CLI: ``gene-counts`` (per-gene non-zero cells TSV) and ``build`` (the sharded corpus)."""
    parser = argparse.ArgumentParser(prog="python -m sclong.data.corpus", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    counts = commands.add_parser("gene-counts", help="feature_id, feature_name, nonzero_cells TSV")
    build = commands.add_parser("build", help="sharded CSR corpus with manifest and train/val split")
    for command in (counts, build):
        command.add_argument("--census", required=True, metavar="JSON", help="the config section corpus.census")
        command.add_argument("--out", required=True, help="output TSV (gene-counts) or corpus directory (build)")
    build.add_argument("--vocabulary", required=True, help="vocabulary TSV (index, ensembl_id, ...)")
    add_settings_argument(build, "corpus")
    args = parser.parse_args(argv)
    source = from_mapping(CensusSource, parse_settings(args.census, "corpus.census"), "corpus.census")
    options = None
    if args.command == "build":
        options = from_mapping(CorpusOptions, parse_settings(args.settings, "corpus"), "corpus")
    with open_census(source) as census:
        if options is None:
            table = gene_counts(census, source)
            with atomic_path(args.out) as tmp:
                table.to_csv(tmp, sep="\t", index=False)
            return 0
        vocabulary = read_vocabulary(args.vocabulary)["ensembl_id"].tolist()
        build_corpus(census, source, vocabulary, args.out, options)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
