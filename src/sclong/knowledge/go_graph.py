"""The GO gene graph: each vocabulary gene linked to its top-k genes by Jaccard similarity of GO terms.

* Ontology: parsed with goatools. A full ``go.obo`` is reduced to go-basic semantics for propagation:
  only ``is_a`` and ``part_of`` links within one namespace are followed. Obsolete terms are dropped;
  annotations to an ``alt_id`` count for its primary term.
* Annotations: GAF 2.1 via :mod:`sclong.knowledge.gaf` (malformed lines and NOT annotations skipped);
  annotations to unknown or obsolete GO IDs and to genes outside the vocabulary are dropped (counted
  in the log); namespaces (BP, MF, CC) are selectable. N_u = the set of terms annotated directly to gene
  u; with ``propagate`` all their ancestors are added.
* Similarity: J(u, v) = |N_u & N_v| / |N_u | N_v| from a binary gene x term CSR matrix B (intersections
  B @ B.T, unions |N_u| + |N_v| - intersection), computed in blocks of target rows so memory stays
  bounded by block_size x n_genes.
* Edges: for every target gene v, the k source genes u != v with the highest J(u, v) > min_jaccard
  (ties: lower vocabulary index first). The edge list has columns ``source target source_id target_id
  weight`` (vocabulary indices, Ensembl IDs, J) sorted by target, then rank.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from goatools.godag.go_tasks import get_go2ancestors
from goatools.obo_parser import GODag
from tqdm import tqdm

from sclong.cli import run_module_main
from sclong.errors import InputError
from sclong.io.atomic import atomic_path
from sclong.knowledge.files import plain_path
from sclong.knowledge.gaf import GafAnnotations, map_gaf_symbols, read_gaf
from sclong.knowledge.genes import read_gene_table
from sclong.knowledge.vocabulary import read_vocabulary

log = logging.getLogger(__name__)

NAMESPACES = {"BP": "biological_process", "MF": "molecular_function", "CC": "cellular_component"}
EDGE_COLUMNS = ("source", "target", "source_id", "target_id", "weight")


def load_go_dag(path: str | Path) -> GODag:
    """Parse an OBO file (plain or gzipped) with goatools, keeping only same-namespace ``part_of`` links."""
    try:
        with plain_path(path) as plain:
            dag = GODag(str(plain), optional_attrs={"relationship"}, prt=None)
    except (OSError, ValueError, KeyError, AssertionError) as err:
        raise InputError(path, f"cannot parse OBO ontology ({err!r})") from err
    if not dag:
        raise InputError(path, "no GO terms found")
    for term in set(dag.values()):
        parents = {p for p in term.relationship.get("part_of", ()) if p.namespace == term.namespace}
        term.relationship = {"part_of": parents} if parents else {}
    return dag


def term_matrix(
    gene_terms: pd.DataFrame, n_genes: int, dag: GODag, propagate: bool = False
) -> tuple[sp.csr_matrix, list[str]]:
    """Binary gene x term CSR matrix from (``gene`` index, ``go_id``) pairs; returns it and the term IDs.

    ``go_id`` values must already be primary IDs present in ``dag``. With ``propagate`` every
    annotation also counts for all ancestors of its term (``is_a`` and ``part_of``).
    """
    annotated = sorted(gene_terms["go_id"].unique())
    ancestors = get_go2ancestors({dag[t] for t in annotated}, {"part_of"}) if propagate else {}
    terms = sorted(set(annotated).union(*(ancestors.get(t, ()) for t in annotated)))
    column = {term: i for i, term in enumerate(terms)}
    rows = gene_terms["gene"].to_numpy()
    cols = gene_terms["go_id"].map(column).to_numpy()
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(n_genes, len(terms)))
    if propagate:
        links = [(column[t], column[a]) for t in annotated for a in (t, *ancestors.get(t, ()))]
        links = np.array(links, dtype=np.int64).reshape(-1, 2)
        closure = sp.csr_matrix(
            (np.ones(len(links), dtype=np.int32), (links[:, 0], links[:, 1])), shape=(len(terms), len(terms))
        )
        matrix = matrix @ closure
    matrix.sum_duplicates()
    matrix.data[:] = 1
    return matrix.astype(np.int32), terms


def jaccard_blocks(matrix: sp.csr_matrix, block_size: int = 1024) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first row, dense float64 Jaccard block of rows x all genes) for blocks of target rows.

    Intersections come from the sparse product B[rows] @ B.T; pairs sharing no term get 0.
    """
    sizes = np.asarray(matrix.sum(axis=1)).ravel().astype(np.float64)
    transposed = matrix.T.tocsr()
    for start in range(0, matrix.shape[0], block_size):
        inter = (matrix[start : start + block_size] @ transposed).tocsr()
        rows = np.repeat(np.arange(inter.shape[0]), np.diff(inter.indptr)) + start
        inter.data = inter.data / (sizes[rows] + sizes[inter.indices] - inter.data)
        yield start, inter.toarray()


def top_k(block: np.ndarray, first_row: int, k: int, min_value: float) -> tuple[np.ndarray, ...]:
    """Top-k columns per row of a similarity block (rows are genes first_row...; columns all genes).

    The row's own gene and values <= ``min_value`` (which must be >= 0) are excluded. Returns (sources,
    targets, weights) ordered by target, then value descending, then lower source index. ``block`` is
    modified in place.
    """
    rows = np.arange(block.shape[0])
    block[rows, first_row + rows] = -1.0  # no self-loops
    # The maxima of k disjoint column groups are k distinct entries, so their minimum is a lower bound
    # of the row's k-th largest value: only entries at or above it can be in the row's top k.
    groups = np.linspace(0, block.shape[1], min(k, block.shape[1]) + 1).astype(np.int64)[:-1]
    bound = np.maximum(np.maximum.reduceat(block, groups, axis=1).min(axis=1), min_value)
    target, source = np.nonzero((block >= bound[:, None]) & (block > min_value))
    weight = block[target, source]
    order = np.lexsort((source, -weight, target))
    target, source, weight = target[order], source[order], weight[order]
    rank = np.arange(len(target)) - np.searchsorted(target, target, side="left")
    keep = rank < k
    return source[keep], target[keep] + first_row, weight[keep]


def build_edges(matrix: sp.csr_matrix, k: int = 20, min_jaccard: float = 0.0, block_size: int = 1024) -> pd.DataFrame:
    """Top-k Jaccard edges of a binary gene x term matrix: columns ``source``, ``target``, ``weight``."""
    parts = []
    n_blocks = -(-matrix.shape[0] // block_size)
    for start, block in tqdm(jaccard_blocks(matrix, block_size), total=n_blocks, desc="jaccard blocks", unit="block"):
        parts.append(top_k(block, start, k, min_jaccard))
    sources, targets, weights = (np.concatenate(column) for column in zip(*parts, strict=True))
    return pd.DataFrame({"source": sources.astype(np.int64), "target": targets.astype(np.int64), "weight": weights})


def annotation_pairs(
    vocab: pd.DataFrame, annotations: GafAnnotations, mapping: pd.DataFrame, dag: GODag, namespaces: Sequence[str]
) -> pd.DataFrame:
    """Distinct (vocabulary ``gene`` index, primary ``go_id``) pairs of the selected namespaces.

    ``mapping`` is :func:`sclong.knowledge.gaf.map_gaf_symbols` of ``annotations``.
    """
    to_gene = mapping.dropna(subset=["ensembl_id"]).set_index("query")["ensembl_id"]
    vocab_index = pd.Series(vocab["index"].to_numpy(), index=vocab["ensembl_id"])
    frame = annotations.frame
    gene = frame["symbol"].map(to_gene).map(vocab_index)
    known = {go_id: term.id for go_id, term in dag.items() if term.namespace in {NAMESPACES[n] for n in namespaces}}
    primary = frame["go_id"].map(known)
    in_dag = frame["go_id"].isin(dag.keys())
    pairs = pd.DataFrame({"gene": gene, "go_id": primary}).dropna().drop_duplicates()
    pairs["gene"] = pairs["gene"].astype(np.int64)
    log.info(
        "annotations: %d kept lines; %d to unknown/obsolete GO IDs, %d to other namespaces, %d to genes outside "
        "the vocabulary dropped; %d distinct gene-term pairs for %d genes",
        len(frame), int((~in_dag).sum()), int((in_dag & primary.isna()).sum()), int(gene.isna().sum()),
        len(pairs), pairs["gene"].nunique(),
    )  # fmt: skip
    return pairs.sort_values(["gene", "go_id"], ignore_index=True)


def write_edges(edges: pd.DataFrame, vocab: pd.DataFrame, path: str | Path) -> None:
    """Write ``source``/``target``/``weight`` edges with the vocabulary's Ensembl IDs added, atomically."""
    ids = vocab["ensembl_id"].to_numpy()
    write_edge_table(edges.assign(source_id=ids[edges["source"]], target_id=ids[edges["target"]]), path)


def write_edge_table(edges: pd.DataFrame, path: str | Path) -> None:
    """Write the :data:`EDGE_COLUMNS` of an edge table as TSV, atomically."""
    with atomic_path(path) as tmp:
        edges[list(EDGE_COLUMNS)].to_csv(tmp, sep="\t", index=False, float_format="%.8g")


def read_edge_table(path: str | Path) -> pd.DataFrame:
    """Read and validate an edge list TSV with the :data:`EDGE_COLUMNS`."""
    try:
        edges = pd.read_csv(
            path, sep="\t", dtype={"source": np.int64, "target": np.int64, "source_id": str, "target_id": str}
        )
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read GO graph ({err})") from err
    missing = [column for column in EDGE_COLUMNS if column not in edges.columns]
    if missing:
        raise InputError(path, f"GO graph lacks column(s): {', '.join(missing)}")
    if not pd.api.types.is_numeric_dtype(edges["weight"]) or edges["weight"].isna().any():
        raise InputError(path, "GO graph column weight must hold numbers")
    return edges


def read_graph(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an edge list: ``edge_index`` int64 (2, E) rows (source, target) and ``weight`` float32 (E,)."""
    edges = read_edge_table(path)
    edge_index = np.stack([edges["source"].to_numpy(np.int64), edges["target"].to_numpy(np.int64)])
    return edge_index, edges["weight"].to_numpy(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sclong.knowledge.go_graph", description=__doc__.split("\n")[0])
    parser.add_argument("--vocabulary", required=True, help="vocabulary.tsv")
    parser.add_argument("--gene-table", required=True, help="gene table TSV(.gz) used to map GAF symbols")
    parser.add_argument("--gaf", required=True, help="GO annotations, GAF 2.1 (.gz)")
    parser.add_argument("--obo", required=True, help="GO ontology, OBO (.gz)")
    parser.add_argument("--namespaces", default="BP,MF,CC", help="comma-separated subset of BP,MF,CC")
    parser.add_argument("--propagate", action="store_true", help="add all ancestors of annotated terms")
    parser.add_argument("--top-k", type=int, default=20, help="neighbours per target gene")
    parser.add_argument("--min-jaccard", type=float, default=0.0, help="keep pairs with J > this")
    parser.add_argument("--block-size", type=int, default=1024, help="target rows per Jaccard block")
    parser.add_argument("--out", required=True, help="edge list TSV to write")
    args = parser.parse_args(argv)
    namespaces = [n.strip() for n in args.namespaces.split(",") if n.strip()]
    if not namespaces or set(namespaces) - set(NAMESPACES):
        parser.error(f"--namespaces must be a subset of {','.join(NAMESPACES)}")
    if args.top_k < 1 or args.block_size < 1 or not 0 <= args.min_jaccard < 1:
        parser.error("--top-k and --block-size must be >= 1 and --min-jaccard in [0, 1)")
    started = time.perf_counter()
    vocab = read_vocabulary(args.vocabulary)
    dag = load_go_dag(args.obo)
    annotations = read_gaf(args.gaf)
    mapping = map_gaf_symbols(annotations, read_gene_table(args.gene_table))
    pairs = annotation_pairs(vocab, annotations, mapping, dag, namespaces)
    matrix, terms = term_matrix(pairs, len(vocab), dag, args.propagate)
    edges = build_edges(matrix, args.top_k, args.min_jaccard, args.block_size)
    write_edges(edges, vocab, args.out)
    log.info(
        "GO graph: %d genes (%d with terms), %d terms, %d edges, mean weight %.3f, %.1f s",
        len(vocab), int((matrix.getnnz(axis=1) > 0).sum()), len(terms), len(edges),
        float(edges["weight"].mean()) if len(edges) else 0.0, time.perf_counter() - started,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
