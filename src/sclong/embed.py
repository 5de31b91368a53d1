"""scLong representations for any AnnData: one vector per cell, optionally per chosen gene.

Steps: map the input's var names (symbols, or Ensembl IDs with or without version) to the model's
vocabulary; check coverage; detect raw counts vs log1p and normalise as in pretraining; run the model
in batches without gradients; write a copy of the input with ``obsm['X_sclong']`` and
``uns['sclong']`` (coverage, normalisation, checkpoint hash), and, for ``--genes``, a chunked zarr
array of gene-level representations.

Definitions:

* The model input is the vocabulary-ordered vector of normalised values; vocabulary genes the input
  does not measure are 0 (unexpressed), as in pretraining. When several var names map to one
  vocabulary gene the first one (in var order) is used.
* Cell vector (paper, zero-shot batch integration): ``v = sum over vocabulary genes g of
  [E_g ; x'_g]`` with ``E_g`` the full-length Performer representation (``gene_dim``) and ``x'_g`` the
  decoder's reconstruction, no masking -> ``gene_dim + 1`` values (201 at paper size). Genes without a
  prediction (w/o-LEG models: outside the top-k) contribute zero.
* Gene-level output: ``E_g`` of each chosen gene, shape cells x genes x ``gene_dim`` (zero vectors where
  a w/o-LEG model made no prediction), or with ``--gene-reduce mean`` its mean over the features
  (cells x genes). ``--genes all`` takes every input gene found in the vocabulary.
* Coverage: ``input_mapped_fraction`` = input var names that map to a vocabulary gene / all var names
  (``--min-coverage`` applies to it); ``vocabulary_covered_fraction`` = distinct vocabulary genes the
  input measures / vocabulary size (reported only: panels of a few hundred genes are legitimate).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
import zarr
from tqdm import tqdm

from sclong.cli import run_module_main
from sclong.data.normalize import NORMALIZATIONS, detect_kind, normalize
from sclong.errors import ConfigError, InputError
from sclong.io.atomic import atomic_path
from sclong.io.hashing import file_sha256
from sclong.knowledge.genes import GeneTable, map_symbols, read_gene_table, strip_version
from sclong.knowledge.vocabulary import read_vocabulary
from sclong.model import ScLong, cell_vectors, load_model
from sclong.model.checkpoint import WEIGHTS

log = logging.getLogger(__name__)

OBSM_KEY = "X_sclong"
UNS_KEY = "sclong"
PRECISIONS = ("fp32", "bf16")
GENE_REDUCTIONS = ("none", "mean")


@dataclass(frozen=True)
class GeneMapping:
    """Input columns ``var_index`` feed vocabulary positions ``vocab_index`` (same length, unique)."""

    var_index: np.ndarray
    vocab_index: np.ndarray
    table: pd.DataFrame
    coverage: dict[str, float | int]


def map_to_vocabulary(
    var_names: pd.Index | list[str], vocabulary: pd.DataFrame, gene_table: GeneTable | None = None
) -> GeneMapping:
    """Map var names to vocabulary rows; ``table`` has one row per var name (``vocab_index`` -1: none).

    With a gene table, symbols resolve through current, previous and alias symbols
    (:func:`sclong.knowledge.genes.map_symbols`); without one, only Ensembl IDs and the vocabulary's
    own symbols (case-insensitive) match.
    """
    names = [str(name) for name in var_names]
    if gene_table is not None:
        table = map_symbols(names, gene_table)[["query", "ensembl_id", "how"]]
    else:
        by_symbol = {s.upper(): e for s, e in zip(vocabulary["symbol"], vocabulary["ensembl_id"], strict=True) if s}
        by_id = set(vocabulary["ensembl_id"])
        ids = [strip_version(n) if strip_version(n) in by_id else by_symbol.get(n.upper()) for n in names]
        how = ["ensembl_id" if i == strip_version(n) else "vocabulary_symbol" if i else "unmapped"
               for n, i in zip(names, ids, strict=True)]  # fmt: skip
        table = pd.DataFrame({"query": names, "ensembl_id": ids, "how": how})
    position = pd.Series(vocabulary["index"].to_numpy(), index=vocabulary["ensembl_id"])
    table["vocab_index"] = table["ensembl_id"].map(position).fillna(-1).astype(np.int64)
    in_vocab = table["vocab_index"].to_numpy() >= 0
    first = in_vocab & ~table["vocab_index"].duplicated().to_numpy()
    var_index = np.flatnonzero(first)
    vocab_index = table["vocab_index"].to_numpy()[var_index]
    coverage = {
        "input_genes": len(names),
        "input_mapped": int(in_vocab.sum()),
        "input_mapped_fraction": float(in_vocab.mean()) if names else 0.0,
        "input_duplicates": int(in_vocab.sum() - first.sum()),
        "vocabulary_genes": len(vocabulary),
        "vocabulary_covered": len(var_index),
        "vocabulary_covered_fraction": len(var_index) / max(len(vocabulary), 1),
    }
    return GeneMapping(var_index, vocab_index, table, coverage)


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
    reduce: str = "none"


def embed_anndata(
    adata: ad.AnnData,
    model: ScLong,
    vocabulary: pd.DataFrame,
    *,
    gene_table: GeneTable | None = None,
    genes: list[str] | str | None = None,
    gene_output: str | Path | None = None,
    gene_reduce: str = "none",
    min_coverage: float = 0.5,
    batch_size: int = 32,
    normalization: str = "paper",
    precision: str = "fp32",
    source: str = "input",
) -> ad.AnnData:
    """Return a copy of ``adata`` with ``obsm['X_sclong']`` (cells x (gene_dim + 1)) and ``uns['sclong']``.

    ``genes`` (names as in the var names' namespace, or Ensembl IDs; ``"all"``: every input gene in the
    vocabulary, in var order) with ``gene_output`` also writes their representations to a zarr array
    (one chunk per batch; ``gene_reduce`` as in :class:`GeneOutput`). ``precision`` ``bf16`` runs the
    model under bfloat16 autocast (outputs stored as float32). ``source`` names the input in errors.
    """
    if not 0.0 <= min_coverage <= 1.0:
        raise ConfigError("min_coverage", f"must be within [0, 1], got {min_coverage}")
    if batch_size < 1:
        raise ConfigError("batch_size", f"must be a positive integer, got {batch_size}")
    choices = {"precision": (precision, PRECISIONS), "normalization": (normalization, NORMALIZATIONS),
               "gene_reduce": (gene_reduce, GENE_REDUCTIONS)}  # fmt: skip
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(key, f"must be one of {allowed}, got {value!r}")
    if (genes is None) != (gene_output is None):
        raise ConfigError("genes", "genes and gene_output go together")
    if len(vocabulary) != model.config.n_genes:
        raise InputError(source, f"vocabulary has {len(vocabulary)} genes, the model {model.config.n_genes}")
    mapping = map_to_vocabulary(adata.var_names, vocabulary, gene_table)
    _log_coverage(mapping.coverage, source)
    if mapping.coverage["input_mapped_fraction"] < min_coverage:
        raise InputError(source, f"only {mapping.coverage['input_mapped_fraction']:.1%} of var names map to the "
                                 f"vocabulary (minimum {min_coverage:.0%}); are var names symbols or Ensembl IDs?")
    matrix = sp.csr_matrix(adata.X)
    kind = detect_kind(matrix.data, source)
    if kind == "unknown":
        raise InputError(source, "values are neither raw counts nor log1p-normalised (max >= 20, non-integer)")
    values = normalize(matrix, kind, normalization)[:, mapping.var_index].tocsr()
    output = None
    if genes is not None and gene_output is not None:
        if genes == "all":
            names = [str(adata.var_names[i]) for i in mapping.var_index]
            output = GeneOutput(Path(gene_output), mapping.vocab_index, names, gene_reduce)
        else:
            positions = _chosen_genes(list(genes), vocabulary, gene_table, mapping, source)
            output = GeneOutput(Path(gene_output), positions, list(genes), gene_reduce)
    cells = _run(model, values, mapping.vocab_index, batch_size, output, vocabulary, precision == "bf16")
    out = adata.copy()
    out.obsm[OBSM_KEY] = cells
    out.uns[UNS_KEY] = {
        "coverage": mapping.coverage,
        "input_kind": kind,
        "normalization": normalization,
        "precision": precision,
        "embedding": "sum over genes of [full-length representation ; reconstruction]",
        "model_config": json.dumps(model.config.to_dict()),
        "package_version": version("sclong"),
    }
    return out


def _chosen_genes(
    genes: list[str], vocabulary: pd.DataFrame, gene_table: GeneTable | None, mapping: GeneMapping, source: str
) -> np.ndarray:
    """Vocabulary positions of ``genes``; a gene outside the vocabulary is an error."""
    chosen = map_to_vocabulary(genes, vocabulary, gene_table).table
    missing = chosen.loc[chosen["vocab_index"] < 0, "query"].tolist()
    if missing:
        raise InputError(source, f"gene(s) not in the vocabulary: {', '.join(missing[:10])}")
    unmeasured = sorted(set(chosen["vocab_index"]) - set(mapping.vocab_index.tolist()))
    if unmeasured:
        log.warning("%d chosen gene(s) are not measured in %s (their input value is 0)", len(unmeasured), source)
    return chosen["vocab_index"].to_numpy()


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
    with _gene_store(output, n_cells, batch_size, dim, vocabulary) as store:
        for start in tqdm(range(0, n_cells, batch_size), desc="embedding", unit="batch", disable=None):
            rows = values[start : start + batch_size]
            dense = np.zeros((rows.shape[0], model.config.n_genes), dtype=np.float32)
            dense[:, vocab_index] = rows.toarray()
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                out = model(torch.from_numpy(dense).to(device))
                cells[start : start + rows.shape[0]] = cell_vectors(out).float().cpu().numpy()
                if store is not None:
                    chosen = out.representations[:, positions].float()
                    chosen = chosen.mean(-1) if output.reduce == "mean" else chosen
                    store[start : start + rows.shape[0]] = chosen.cpu().numpy()
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


def _log_coverage(coverage: dict[str, float | int], source: str) -> None:
    log.info(
        "%s: %d of %d var names map to the vocabulary (%.1f%%, %d duplicates unused); "
        "%d of %d vocabulary genes covered (%.1f%%)",
        source, coverage["input_mapped"], coverage["input_genes"], 100 * coverage["input_mapped_fraction"],
        coverage["input_duplicates"], coverage["vocabulary_covered"], coverage["vocabulary_genes"],
        100 * coverage["vocabulary_covered_fraction"],
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sclong embed", description=__doc__.split("\n")[0])
    parser.add_argument("input", help="AnnData .h5ad (raw counts or log1p; var names symbols or Ensembl IDs)")
    parser.add_argument("--checkpoint", required=True, help="directory written by sclong.model.save_model")
    parser.add_argument("--vocabulary", required=True, help="vocabulary.tsv the model was trained on")
    parser.add_argument("--gene-table", help="gene table TSV(.gz) to resolve previous and alias symbols")
    parser.add_argument("-o", "--output", required=True, help="output .h5ad (a copy of the input + X_sclong)")
    parser.add_argument("--genes", help="comma-separated genes whose representations to write, or 'all'")
    parser.add_argument("--gene-output", help="zarr directory for the --genes representations")
    parser.add_argument("--gene-reduce", choices=GENE_REDUCTIONS, default="none",
                        help="mean: store the mean over the gene_dim features (cells x genes)")
    parser.add_argument("--min-coverage", type=float, default=0.5, help="minimum fraction of var names mapped")
    parser.add_argument("--batch-size", type=int, default=32, help="cells per forward pass")
    parser.add_argument("--normalization", choices=NORMALIZATIONS, default="paper")
    parser.add_argument("--device", default="auto", help="torch device: auto (CUDA when usable, else CPU), cpu, cuda")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="bf16: bfloat16 autocast")
    parser.add_argument("--attention", choices=("performer", "sdpa"), help="override the attention backend")
    args = parser.parse_args(argv)

    if not Path(args.input).is_file():
        raise InputError(args.input, "input AnnData not found")
    try:
        adata = ad.read_h5ad(args.input)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(args.input, f"cannot read AnnData ({err})") from err
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    log.info("embedding on %s", device)
    model = load_model(args.checkpoint, map_location=device, attention=args.attention)
    vocabulary = read_vocabulary(args.vocabulary)
    gene_table = read_gene_table(args.gene_table) if args.gene_table else None
    genes = args.genes if args.genes in (None, "all") else [g.strip() for g in args.genes.split(",") if g.strip()]
    out = embed_anndata(
        adata, model, vocabulary, gene_table=gene_table, genes=genes, gene_output=args.gene_output,
        gene_reduce=args.gene_reduce, min_coverage=args.min_coverage, batch_size=args.batch_size,
        normalization=args.normalization, precision=args.precision, source=args.input,
    )  # fmt: skip
    out.uns[UNS_KEY]["checkpoint_sha256"] = file_sha256(Path(args.checkpoint) / WEIGHTS)
    with atomic_path(args.output) as tmp:
        out.write_h5ad(tmp)
    log.info("wrote %s (%d cells x %d)", args.output, *out.obsm[OBSM_KEY].shape)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
