"""scLong representations for any AnnData: one vector per cell, optionally per chosen gene.

Steps: take the expression matrix (``X`` or a chosen layer); map the var names (symbols, or Ensembl IDs
with or without version) to the model's vocabulary; check coverage; detect raw counts vs log1p and
normalise as in pretraining; run the model in batches without gradients; return a copy of the input with
``obsm['X_sclong']``, ``uns['sclong']`` (coverage, mapping counts, input kind, normalisation) and the
mapping of each var name in ``var['sclong_gene']`` / ``var['sclong_mapping']``; for chosen genes, write a
chunked zarr array of gene-level representations. The command line is :mod:`sclong.embed`.

Definitions:

* Mapping (:func:`map_to_vocabulary`): each var name is matched to a gene by
  :func:`sclong.knowledge.genes.map_symbols` at a level, best first: Ensembl ID, current symbol, previous
  symbol, alias. A previous/alias symbol of several genes is not used (``ambiguous``: which gene it means
  is unknown). When several var names land on one vocabulary gene, the name matched at the best level
  feeds it, the others are ``outranked`` (so the current symbol ``FGFR1`` wins over ``FLG``, an alias of
  FGFR1 and the current symbol of another gene). Several names at the same best level: Ensembl ID or
  current symbol (e.g. repeated or case variants) -> the first in var order feeds it, the others are
  ``duplicate``; previous/alias -> none does (``tie``: which one measures the gene is unclear). Other
  statuses: ``used``, ``unmapped``, ``not_in_vocabulary``. Each is counted in the log and ``uns``.
* The model input is the vocabulary-ordered vector of normalised values; vocabulary genes the input
  does not feed are 0 (unexpressed), as in pretraining.
* Coverage: ``vocabulary_covered_fraction`` = vocabulary genes fed by the input / vocabulary size: the part
  of its input the model gets, and the one ``min_coverage`` applies to. ``input_mapped_fraction`` = var
  names that map to a vocabulary gene / all var names (reported only: a whole-transcriptome file has
  many genes outside any vocabulary).
* Input kind (:mod:`sclong.data.normalize`): detected, or as given (``input_kind``). Non-integer values
  >= 20 (TPM/FPKM, normalised-but-not-logged or scaled data) are refused, as are values below 20 without
  the count structure of log1p of library-size-normalised counts (log1p of TPM/FPKM, log2 data) unless
  ``input_kind='log1p'`` accepts them knowingly.
* Cells: an input without cells, or whose cells all have no value in any vocabulary gene, is refused; if
  only some cells are empty there, a warning counts them (``uns['sclong']['empty_cells']``) and their
  vectors (the model's output for an empty cell) are written like the others.
* Cell vector (paper, zero-shot batch integration): ``v = sum over vocabulary genes g of
  [E_g ; x'_g]`` with ``E_g`` the full-length Performer representation (``gene_dim``) and ``x'_g`` the
  decoder's reconstruction, no masking -> ``gene_dim + 1`` values (201 at paper size). Genes without a
  prediction (w/o-LEG models: outside the top-k) contribute zero.
* Gene-level output: ``E_g`` of each chosen gene, shape cells x genes x ``gene_dim`` (zero vectors where
  a w/o-LEG model made no prediction), or with ``gene_reduce='mean'`` its mean over the features
  (cells x genes). ``genes='all'`` takes every gene the input feeds, in var order.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import zarr

from sclong.data.normalize import STRUCTURE_MIN_FRACTION, count_structure, detect_kind, normalize
from sclong.embed import GENE_REDUCTIONS, INPUT_KINDS, EmbedSettings, GeneReduce, InputKind
from sclong.errors import ConfigError, InputError
from sclong.io.atomic import atomic_path
from sclong.knowledge.genes import GeneTable, map_symbols, strip_version
from sclong.model import ScLong, cell_vectors
from sclong.progress import Progress

log = logging.getLogger(__name__)

OBSM_KEY = "X_sclong"
UNS_KEY = "sclong"
LEVEL_RANK = {"ensembl_id": 0, "current": 1, "vocabulary_symbol": 1, "previous": 2, "alias": 3}
BEST_SHARED_RANK = 1  # ties at ranks up to this (ID, current symbol) keep the first name; worse ones drop all
STATUSES = ("used", "outranked", "duplicate", "tie", "ambiguous", "not_in_vocabulary", "unmapped")
COUNTS_LAYER_HINT = "count"  # a layer whose name contains this probably holds raw counts
KIND_HINT = "the model needs raw counts or log1p of library-size-normalised counts (--layer NAME picks a layer)"
EXAMPLES = 5


@dataclass(frozen=True)
class GeneMapping:
    """Input columns ``var_index`` feed vocabulary positions ``vocab_index`` (same length, unique).

    ``table`` has one row per var name: ``query``, ``ensembl_id``, ``level``, ``candidates``,
    ``vocab_index`` (-1: none) and ``status`` (one of :data:`STATUSES`, rules in the module doc).
    """

    var_index: np.ndarray
    vocab_index: np.ndarray
    table: pd.DataFrame
    coverage: dict[str, float | int]


def map_to_vocabulary(
    var_names: pd.Index | list[str], vocabulary: pd.DataFrame, gene_table: GeneTable | None = None
) -> GeneMapping:
    """Map var names to vocabulary rows by the rules of the module doc.

    With a gene table, symbols resolve through current, previous and alias symbols
    (:func:`sclong.knowledge.genes.map_symbols`); without one, only Ensembl IDs and the vocabulary's
    own symbols (case-insensitive, level ``vocabulary_symbol``, ranked as current symbols) match.
    """
    names = [str(name) for name in var_names]
    if gene_table is not None:
        table = map_symbols(names, gene_table)[["query", "ensembl_id", "how", "level", "candidates"]]
    else:
        by_symbol = {s.upper(): e for s, e in zip(vocabulary["symbol"], vocabulary["ensembl_id"], strict=True) if s}
        by_id = set(vocabulary["ensembl_id"])
        ids = [strip_version(n) if strip_version(n) in by_id else by_symbol.get(n.upper()) for n in names]
        level = ["ensembl_id" if i == strip_version(n) else "vocabulary_symbol" if i else ""
                 for n, i in zip(names, ids, strict=True)]  # fmt: skip
        table = pd.DataFrame({"query": names, "ensembl_id": ids, "how": level, "level": level, "candidates": ids})
    position = pd.Series(vocabulary["index"].to_numpy(), index=vocabulary["ensembl_id"])
    table["vocab_index"] = table["ensembl_id"].map(position).fillna(-1).astype(np.int64)
    table["status"] = _statuses(table)
    table = table.drop(columns="how")
    used = table["status"].to_numpy() == "used"
    var_index = np.flatnonzero(used)
    vocab_index = table["vocab_index"].to_numpy()[var_index]
    mapped = int((table["vocab_index"] >= 0).sum())
    coverage = {
        "input_genes": len(names),
        "input_mapped": mapped,
        "input_mapped_fraction": mapped / len(names) if names else 0.0,
        "input_used": len(var_index),
        "vocabulary_genes": len(vocabulary),
        "vocabulary_covered": len(var_index),
        "vocabulary_covered_fraction": len(var_index) / max(len(vocabulary), 1),
    }
    return GeneMapping(var_index, vocab_index, table, coverage)


def _statuses(table: pd.DataFrame) -> np.ndarray:
    """The status of each row of a mapping table (``ensembl_id``, ``how``, ``level``, ``vocab_index``)."""
    status = np.where(table["ensembl_id"].isna(), "unmapped", "not_in_vocabulary").astype(object)
    ambiguous = (table["how"] == "ambiguous") & table["level"].isin(["previous", "alias"])
    status[ambiguous.to_numpy()] = "ambiguous"
    live = (table["vocab_index"] >= 0) & ~ambiguous
    rows = pd.DataFrame({"gene": table["vocab_index"], "rank": table["level"].map(LEVEL_RANK)})[live]
    best = rows.groupby("gene")["rank"].transform("min")
    at_best = rows["rank"] == best
    n_best = at_best.groupby(rows["gene"]).transform("sum")
    first = at_best & ~rows["gene"].where(at_best).duplicated()
    shared = n_best > 1
    rows["status"] = np.select(
        [~at_best, ~shared, (best <= BEST_SHARED_RANK) & first, best <= BEST_SHARED_RANK],
        ["outranked", "used", "used", "duplicate"],
        default="tie",
    )
    status[rows.index.to_numpy()] = rows["status"].to_numpy()
    return status


def _log_mapping(mapping: GeneMapping, vocabulary: pd.DataFrame, gene_table: GeneTable | None, source: str) -> None:
    """Coverage (INFO), outranked names (INFO) and names or genes left without input (WARNING)."""
    coverage, table = mapping.coverage, mapping.table
    log.info(
        "%s: %s of %s var names (%.1f%%) map to the vocabulary; they feed %s of its %s genes (%.1f%%)",
        source, f"{coverage['input_mapped']:,}", f"{coverage['input_genes']:,}",
        100 * coverage["input_mapped_fraction"], f"{coverage['vocabulary_covered']:,}",
        f"{coverage['vocabulary_genes']:,}", 100 * coverage["vocabulary_covered_fraction"],
    )  # fmt: skip
    symbol = dict(zip(vocabulary["ensembl_id"], vocabulary["symbol"], strict=True))
    if gene_table is not None:
        symbol = {**gene_table.frame["display_symbol"].to_dict(), **symbol}
    used = table[table["status"] == "used"].set_index("vocab_index")["query"]

    def named(ids: str) -> str:
        return ", ".join(symbol.get(gene) or gene for gene in str(ids).split(", "))

    def examples(status: str, describe: Callable[[Any], str]) -> tuple[int, str]:
        rows = table[table["status"] == status]
        return len(rows), "; ".join(describe(row) for row in rows.head(EXAMPLES).itertuples())

    n, shown = examples("outranked", lambda r: f"{r.query} ({r.level} of {named(r.ensembl_id)}, "
                                               f"fed by {used.get(r.vocab_index, 'none: a tie')})")  # fmt: skip
    if n:
        log.info("%s: %d var name(s) not used because a better match (ID > current > previous > alias symbol) "
                 "feeds the same gene, e.g. %s", source, n, shown)  # fmt: skip
    n, shown = examples("duplicate", lambda r: f"{r.query} ({named(r.ensembl_id)}, fed by {used[r.vocab_index]})")
    if n:
        log.warning("%s: %d var name(s) repeat the ID or current symbol of a gene an earlier var name feeds; "
                    "the first is used, e.g. %s", source, n, shown)  # fmt: skip
    ties = table[table["status"] == "tie"].groupby("vocab_index", sort=False)
    if ties.ngroups:
        shown = "; ".join(f"{named(rows['ensembl_id'].iloc[0])} <- {', '.join(rows['query'])}"
                          for _, rows in list(ties)[:EXAMPLES])  # fmt: skip
        log.warning("%s: %d vocabulary gene(s) matched only by several previous/alias symbols get no input "
                    "(%d var names not used: which one measures the gene is unclear), e.g. %s",
                    source, ties.ngroups, int(ties.size().sum()), shown)  # fmt: skip
    n, shown = examples("ambiguous", lambda r: f"{r.query} ({r.level} of {named(r.candidates)})")
    if n:
        log.warning("%s: %d var name(s) are previous/alias symbols of several genes and are not used, e.g. %s",
                    source, n, shown)


def read_anndata(path: str | Path) -> ad.AnnData:
    """Read an ``.h5ad`` file or a ``.zarr`` AnnData store (a directory)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "input AnnData not found")
    reader, kind = (ad.read_zarr, "a zarr AnnData store") if path.is_dir() else (ad.read_h5ad, "an .h5ad file")
    try:
        return reader(path)
    except (OSError, ValueError, KeyError, TypeError, zarr.errors.BaseZarrError) as err:
        raise InputError(path, f"cannot read it as {kind} ({type(err).__name__}: {err})") from err


def input_matrix(adata: ad.AnnData, layer: str | None, source: str) -> tuple[Any, str]:
    """The expression matrix to embed (``X``, or ``layer``; as stored) and its name for messages.

    Refused: no cells, no genes, a missing layer, ``X`` absent, boolean or non-numeric values.
    """
    if adata.n_obs == 0:
        raise InputError(source, "has no cells (0 observations): nothing to embed")
    if adata.n_vars == 0:
        raise InputError(source, "has no genes (0 variables): nothing to embed")
    layers = ", ".join(adata.layers) or "none"
    if layer is not None:
        if layer not in adata.layers:
            raise InputError(source, f"has no layer {layer!r} (layers: {layers})")
        matrix, where = adata.layers[layer], f"layer {layer!r}"
    elif adata.X is None:
        if adata.layers:
            raise InputError(source, f"X is empty (None); layers: {layers}: choose one with --layer NAME")
        raise InputError(source, "X is empty (None) and there are no layers: no expression values to embed")
    else:
        matrix, where = adata.X, "X"
    dtype = np.dtype(matrix.dtype)
    if dtype == np.bool_:
        raise InputError(source, f"{where} is boolean (presence/absence), not expression values; {KIND_HINT}")
    if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
        raise InputError(source, f"{where} holds {dtype} values, not expression values; {KIND_HINT}")
    return matrix, where


def detect_input_kind(matrix: sp.csr_matrix, requested: InputKind, where: str, source: str) -> str:
    """``raw`` or ``log1p``: detected (``auto``) or as ``requested`` (checked); rules in the module doc."""
    if requested not in INPUT_KINDS:
        raise ConfigError("input_kind", f"must be one of {INPUT_KINDS}, got {requested!r}")
    try:
        kind = detect_kind(matrix.data, source, claimed=None if requested == "auto" else requested)
    except InputError as err:
        raise InputError(source, f"{where}: {err.problem}; {KIND_HINT}") from None
    top = float(matrix.data.max()) if matrix.nnz else 0.0
    if kind == "unknown":
        if (count_structure(matrix, logged=False) or 0.0) >= STRUCTURE_MIN_FRACTION:
            looks = "library-size-normalised counts that were not log-transformed"
            fix = "give raw counts (--layer NAME if a layer holds them) or log1p of these values"
        else:
            looks = "TPM/FPKM or otherwise scaled values, which scLong was not trained on"
            fix = "give raw counts (--layer NAME if a layer holds them) or log1p of library-size-normalised counts"
        raise InputError(source, f"{where} values look like {looks} (not integers, maximum {top:g} >= 20): {fix}")
    if kind == "log1p" and requested == "auto":
        structure = count_structure(matrix, logged=True)
        if structure is not None and structure < STRUCTURE_MIN_FRACTION:
            raise InputError(source, (
                f"{where} values are below 20 like log1p data, but expm1 of them is not a multiple of one unit "
                f"per cell as for library-size-normalised counts ({structure:.0%} of values are, "
                f"{STRUCTURE_MIN_FRACTION:.0%} needed): log1p of TPM/FPKM, log2 or otherwise transformed data? "
                "Give raw counts (--layer NAME) or log1p of normalised counts, or pass --input-kind log1p "
                "to embed these values as they are"
            ))  # fmt: skip
        log.info("%s: input kind: log1p of library-size-normalised counts (%s, detected; maximum %.3g)",
                 source, where, top)  # fmt: skip
    elif kind == "log1p":
        log.info("%s: input kind: log1p (%s, as given by --input-kind; count structure not checked)", source, where)
    else:
        log.info("%s: input kind: raw counts (%s, %s)", source, where,
                 "detected" if requested == "auto" else "as given by --input-kind, checked")  # fmt: skip
    return kind


@dataclass(frozen=True)
class GeneOutput:
    """Gene-level output: vocabulary ``positions`` (named ``names``) to a zarr array at ``path``.

    ``reduce`` ``none`` keeps the full vectors (cells x genes x gene_dim); ``mean`` stores their mean over
    the gene_dim features (cells x genes), the per-gene value the drug-response, drug-combination and
    GRN tasks use.
    """

    path: Path
    positions: np.ndarray
    names: list[str]
    reduce: GeneReduce = "none"


@dataclass(frozen=True)
class PreparedCells:
    """Cells ready for the model: ``values`` (cells x used var names, normalised CSR) feed the vocabulary
    positions ``mapping.vocab_index``; ``kind`` and ``where`` say what was read, ``empty_cells`` how many
    cells have no value in any vocabulary gene."""

    mapping: GeneMapping
    values: sp.csr_matrix
    kind: str
    where: str
    empty_cells: int


def prepare_cells(
    adata: ad.AnnData,
    vocabulary: pd.DataFrame,
    gene_table: GeneTable | None,
    settings: EmbedSettings,
    layer: str | None = None,
    input_kind: InputKind = "auto",
    source: str = "input",
) -> PreparedCells:
    """Map, check (coverage, input kind, empty cells) and normalise the cells of ``adata`` for the model."""
    stored, where = input_matrix(adata, layer, source)
    matrix = sp.csr_matrix(stored)
    mapping = map_to_vocabulary(adata.var_names, vocabulary, gene_table)
    _log_mapping(mapping, vocabulary, gene_table, source)
    covered = mapping.coverage["vocabulary_covered_fraction"]
    if covered < settings.min_coverage:
        first = ", ".join(map(str, adata.var_names[:3]))
        raise InputError(source, (
            f"its genes feed only {covered:.1%} of the model's {len(vocabulary):,} vocabulary genes (minimum "
            f"{settings.min_coverage:.1%}, --min-coverage); check that var_names are human gene symbols or "
            f"Ensembl IDs (they start {first}), or lower --min-coverage for a gene panel"
        ))  # fmt: skip
    kind = detect_input_kind(matrix, input_kind, where, source)
    counts_layers = [name for name in adata.layers if COUNTS_LAYER_HINT in name.lower()]
    if layer is None and kind != "raw" and counts_layers:
        log.warning("%s: X holds %s values but layer %r exists; X is embedded (pass --layer %s to embed the "
                    "raw counts instead)", source, kind, counts_layers[0], counts_layers[0])  # fmt: skip
    values = normalize(matrix, kind, settings.normalization)[:, mapping.var_index].tocsr()
    empty = np.flatnonzero(np.diff(values.indptr) == 0)
    if len(empty) == values.shape[0]:
        raise InputError(source, f"none of its {values.shape[0]:,} cells has a non-zero value in a vocabulary gene")
    if len(empty):
        log.warning("%s: %d of %d cells have no non-zero value in any vocabulary gene (e.g. %s); their vectors "
                    "are the model's output for an empty cell", source, len(empty), values.shape[0],
                    ", ".join(map(str, adata.obs_names[empty[:EXAMPLES]])))  # fmt: skip
    return PreparedCells(mapping, values, kind, where, len(empty))


def embed_anndata(
    adata: ad.AnnData,
    model: ScLong,
    vocabulary: pd.DataFrame,
    *,
    gene_table: GeneTable | None = None,
    settings: EmbedSettings | None = None,
    layer: str | None = None,
    input_kind: InputKind = "auto",
    genes: list[str] | str | None = None,
    gene_output: str | Path | None = None,
    gene_reduce: GeneReduce = "none",
    source: str = "input",
) -> ad.AnnData:
    """Return a copy of ``adata`` with ``obsm['X_sclong']`` (cells x (gene_dim + 1)), ``uns['sclong']`` and
    the mapping columns of ``var`` (rules in the module doc).

    ``layer`` embeds that layer instead of ``X``; ``input_kind`` (``auto`` | ``raw`` | ``log1p``) overrides
    detection. ``genes`` (names as in the var names' namespace, or Ensembl IDs; ``"all"``: every gene the
    input feeds, in var order) with ``gene_output`` also writes their representations to a zarr array
    (one chunk per batch; ``gene_reduce`` as in :class:`GeneOutput`). ``settings`` (default: the defaults of
    :class:`sclong.embed.EmbedSettings`) holds batch size, coverage minimum, normalisation and precision
    (``bf16``: bfloat16 autocast, outputs stored as float32). ``source`` names the input in messages.
    """
    settings = EmbedSettings() if settings is None else settings
    if gene_reduce not in GENE_REDUCTIONS:
        raise ConfigError("gene_reduce", f"must be one of {GENE_REDUCTIONS}, got {gene_reduce!r}")
    if (genes is None) != (gene_output is None):
        raise ConfigError("genes", "genes and gene_output go together")
    if len(vocabulary) != model.config.n_genes:
        raise InputError(source, f"vocabulary has {len(vocabulary)} genes, the model {model.config.n_genes}")
    prepared = prepare_cells(adata, vocabulary, gene_table, settings, layer, input_kind, source)
    mapping, values = prepared.mapping, prepared.values
    output = None
    if genes is not None and gene_output is not None:
        if genes == "all":
            names = [str(adata.var_names[i]) for i in mapping.var_index]
            output = GeneOutput(Path(gene_output), mapping.vocab_index, names, gene_reduce)
        else:
            positions = _chosen_genes(list(genes), vocabulary, gene_table, mapping, source)
            output = GeneOutput(Path(gene_output), positions, list(genes), gene_reduce)
    cells = _run(model, values, mapping.vocab_index, settings.batch_size, output, vocabulary,
                 settings.precision == "bf16")  # fmt: skip
    out = adata.copy()
    out.obsm[OBSM_KEY] = cells
    ids = vocabulary["ensembl_id"].to_numpy()
    fed = np.where(mapping.table["status"] == "used", ids[mapping.table["vocab_index"].clip(lower=0)], "")
    out.var["sclong_gene"] = pd.Categorical(fed)
    out.var["sclong_mapping"] = pd.Categorical(mapping.table["status"].to_numpy(), categories=STATUSES)
    out.uns[UNS_KEY] = {
        "coverage": mapping.coverage,
        "mapping": {status: int((mapping.table["status"] == status).sum()) for status in STATUSES},
        "input": prepared.where,
        "input_kind": prepared.kind,
        "empty_cells": prepared.empty_cells,
        "normalization": settings.normalization,
        "precision": settings.precision,
        "embedding": "sum over genes of [full-length representation ; reconstruction]",
        "model_config": json.dumps(model.config.to_dict()),
        "package_version": version("sclong"),
    }
    return out


def _chosen_genes(
    genes: list[str], vocabulary: pd.DataFrame, gene_table: GeneTable | None, mapping: GeneMapping, source: str
) -> np.ndarray:
    """Vocabulary positions of ``genes``; a gene outside the vocabulary, or ambiguous, is an error."""
    chosen = map_to_vocabulary(genes, vocabulary, gene_table).table
    missing = chosen.loc[(chosen["vocab_index"] < 0) | (chosen["status"] == "ambiguous"), "query"].tolist()
    if missing:
        raise InputError(source, f"gene(s) not in the vocabulary or ambiguous: {', '.join(missing[:10])}")
    unmeasured = sorted(set(chosen["vocab_index"]) - set(mapping.vocab_index.tolist()))
    if unmeasured:
        log.warning("%d chosen gene(s) are not measured in %s (their input value is 0)", len(unmeasured), source)
    return chosen["vocab_index"].to_numpy()


def model_input(rows: sp.csr_matrix, vocab_index: np.ndarray, n_genes: int) -> np.ndarray:
    """Dense float32 model input [cells, n_genes]: ``rows`` (prepared cells) at their vocabulary positions,
    0 for the vocabulary genes the input does not measure."""
    dense = np.zeros((rows.shape[0], n_genes), dtype=np.float32)
    dense[:, vocab_index] = rows.toarray()
    return dense


def _run(
    model: ScLong,
    values: sp.csr_matrix,
    vocab_index: np.ndarray,
    batch_size: int,
    output: GeneOutput | None,
    vocabulary: pd.DataFrame,
    bf16: bool,
) -> np.ndarray:
    """Cell vectors [cells, gene_dim + 1]; gene representations streamed to ``output``."""
    n_cells, dim = values.shape[0], model.config.gene_dim
    device = next(model.parameters()).device
    model.eval()
    cells = np.zeros((n_cells, dim + 1), dtype=np.float32)
    positions = torch.as_tensor(output.positions, device=device) if output else None
    with (
        _gene_store(output, n_cells, batch_size, dim, vocabulary) as store,
        Progress(n_cells, "embedding", "cells") as progress,
    ):
        for start in range(0, n_cells, batch_size):
            rows = values[start : start + batch_size]
            dense = model_input(rows, vocab_index, model.config.n_genes)
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = model(torch.from_numpy(dense).to(device))
                cells[start : start + rows.shape[0]] = cell_vectors(out).float().cpu().numpy()
                if store is not None:
                    chosen = out.representations[:, positions].float()
                    chosen = chosen.mean(-1) if output.reduce == "mean" else chosen
                    store[start : start + rows.shape[0]] = chosen.cpu().numpy()
            progress.update(rows.shape[0])
    return cells


@contextlib.contextmanager
def _gene_store(
    output: GeneOutput | None, n_cells: int, chunk: int, dim: int, vocabulary: pd.DataFrame
) -> Iterator[zarr.Array | None]:
    """The float32 zarr array of ``output`` (one chunk per batch), renamed onto its path on success."""
    if output is None:
        yield None
        return
    rows = vocabulary.iloc[output.positions]
    shape = (n_cells, len(rows)) if output.reduce == "mean" else (n_cells, len(rows), dim)
    dimensions = ["cell", "gene"] if output.reduce == "mean" else ["cell", "gene", "feature"]
    with atomic_path(output.path, directory=True) as tmp:
        yield zarr.create_array(
            store=str(tmp), shape=shape, dtype="float32", chunks=(max(min(chunk, n_cells), 1), *shape[1:]),
            overwrite=True, attributes={
                "dimensions": dimensions, "reduce": output.reduce, "name": output.names,
                "ensembl_id": rows["ensembl_id"].tolist(), "symbol": rows["symbol"].tolist(),
            },
        )  # fmt: skip
