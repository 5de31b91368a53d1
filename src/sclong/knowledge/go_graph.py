"""The GO gene graph: each vocabulary gene linked to its top-k genes by Jaccard similarity of GO terms.

* Ontology: parsed with goatools. A full ``go.obo`` is reduced to go-basic semantics for propagation:
  only ``is_a`` and ``part_of`` links within one namespace are followed. Obsolete terms are dropped;
  annotations to an ``alt_id`` count for its primary term.
* Annotations: GAF 2.1 via :mod:`sclong.knowledge.gaf` (malformed lines and NOT annotations skipped,
  GAF genes mapped by database ID, then symbol, then synonyms); annotations to unknown or obsolete GO
  IDs and to genes outside the vocabulary are dropped (counted in the log); namespaces (BP, MF, CC) are
  selectable. N_u = the set of terms annotated directly to gene u; with ``propagate`` all their
  ancestors are added.
* Similarity: J(u, v) = |N_u & N_v| / |N_u | N_v| from a binary gene x term CSR matrix B (unions
  |N_u| + |N_v| - intersection), in blocks of target rows so memory stays bounded by
  2 x block_size x n_genes float32. Intersections are exact integer counts: the few terms annotated to at
  least 1/32 of the genes (which make the product dense) go through a float32 matrix product, the
  others through a sparse one. Candidates are chosen on float32 Jaccard values (correctly rounded, so
  ordered like the exact ones), then ranked on the exact float64 values: the edges are those of the
  exact computation.
* Edges: for every target gene v, the k source genes u != v with the highest J(u, v) > min_jaccard
  (ties: lower vocabulary index first). The edge list has columns ``source target source_id target_id
  weight`` (vocabulary indices, Ensembl IDs, J) sorted by target, then rank.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from goatools.godag.go_tasks import get_go2ancestors
from goatools.obo_parser import GODag

from sclong.cli import run_module_main
from sclong.errors import ConfigError, InputError
from sclong.io.atomic import atomic_path
from sclong.knowledge.files import plain_path
from sclong.knowledge.gaf import GafAnnotations, add_gaf_settings_argument, map_gaf_genes, parse_gaf_settings, read_gaf
from sclong.knowledge.genes import read_gene_table
from sclong.knowledge.vocabulary import read_vocabulary
from sclong.progress import track
from sclong.settings import add_settings_argument, from_mapping, parse_settings

log = logging.getLogger(__name__)

NAMESPACES = {"BP": "biological_process", "MF": "molecular_function", "CC": "cellular_component"}
EDGE_COLUMNS = ("source", "target", "source_id", "target_id", "weight")
DENSE_TERM_SHARE = 32  # terms annotated to >= 1/32 of the genes take the dense product
BOUND_GROUPS_PER_K = 4  # column groups per neighbour for the lower bound of a row's k-th value


@dataclass(frozen=True)
class GoGraphSettings:
    """The ``go_graph`` config section (``random_seed`` is read by :mod:`sclong.knowledge.random_go`)."""

    top_k: int
    min_jaccard: float
    propagate: bool
    namespaces: list[str]
    random_seed: int

    def __post_init__(self) -> None:
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ConfigError("go_graph.top_k", "must be an integer >= 1")
        if not 0 <= self.min_jaccard < 1:
            raise ConfigError("go_graph.min_jaccard", "must be in [0, 1)")
        if not isinstance(self.propagate, bool):
            raise ConfigError("go_graph.propagate", "must be true or false")
        if not self.namespaces or not set(self.namespaces) <= set(NAMESPACES):
            raise ConfigError("go_graph.namespaces", f"must be a non-empty subset of {', '.join(NAMESPACES)}")
        if not isinstance(self.random_seed, int):
            raise ConfigError("go_graph.random_seed", "must be an integer")


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
    gene_terms: pd.DataFrame, n_genes: int, dag: GODag, propagate: bool
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


def intersection_blocks(matrix: sp.csr_matrix, block_size: int = 1024) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first row, float32 |N_u & N_v| of rows [first, first + block_size) x all genes).

    The counts are exact (integers far below 2**24). Terms annotated to at least 1/:data:`DENSE_TERM_SHARE`
    of the genes are multiplied densely, the rest sparsely. The yielded array is reused by the next
    block: use it before asking for the next one.
    """
    n_genes, n_terms = matrix.shape
    if n_terms >= 2**24:
        raise ValueError("too many terms for exact float32 intersection counts")
    by_term = sp.csc_matrix(matrix)
    frequent = np.diff(by_term.indptr) * DENSE_TERM_SHARE >= n_genes
    dense = by_term[:, frequent].toarray().astype(np.float32)
    dense_t = np.ascontiguousarray(dense.T)
    sparse = by_term[:, ~frequent].tocsr().astype(np.float32)
    sparse_t = sparse.T.tocsr()
    buffer = np.empty((min(block_size, n_genes), n_genes), dtype=np.float32)
    for start in range(0, n_genes, block_size):
        stop = min(start + block_size, n_genes)
        block = buffer[: stop - start]
        np.matmul(dense[start:stop], dense_t, out=block)
        product = (sparse[start:stop] @ sparse_t).tocsr()  # one entry per (row, column): no repeats
        flat = np.repeat(np.arange(stop - start, dtype=np.int64) * n_genes, np.diff(product.indptr))
        block.reshape(-1)[flat + product.indices] += product.data
        yield start, block


def top_k(
    block: np.ndarray,
    first_row: int,
    k: int,
    min_value: float,
    exact: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, ...]:
    """Top-k columns per row of a similarity block (rows are genes first_row...; columns all genes).

    The row's own gene and values <= ``min_value`` (which must be >= 0) are excluded. Returns (sources,
    targets, weights) ordered by target, then value descending, then lower source index. ``block`` is
    modified in place. With ``exact`` (``exact(rows, columns)``: the exact values of those block
    entries), ``block`` may hold a cheaper image of the exact values that is monotone non-decreasing in
    them and positive exactly where they are (e.g. their float32 roundings): entries are chosen on
    ``block`` and ranked, thresholded and returned on their exact values.
    """
    n_rows, n_cols = block.shape
    rows = np.arange(n_rows)
    block[rows, first_row + rows] = -1  # no self-loops
    floor = block.dtype.type(min_value)
    if n_cols > k:
        # The maxima of G disjoint column groups are G distinct entries, so the k-th largest maximum is a
        # lower bound of the row's k-th largest value: only entries at or above it can be in the top k.
        n_groups = min(n_cols, BOUND_GROUPS_PER_K * k)
        groups = np.linspace(0, n_cols, n_groups + 1).astype(np.int64)[:-1]
        maxima = np.maximum.reduceat(block, groups, axis=1)
        bound = np.maximum(np.partition(maxima, n_groups - k, axis=1)[:, n_groups - k], floor)
    else:
        bound = np.full(n_rows, floor)
    chosen = block >= bound[:, None]
    chosen &= block > 0
    target, source = np.divmod(np.flatnonzero(chosen), n_cols)
    weight = block[target, source] if exact is None else exact(target, source)
    order = np.lexsort((source, -weight, target))
    target, source, weight = target[order], source[order], weight[order]
    rank = np.arange(len(target)) - np.searchsorted(target, target, side="left")
    keep = (rank < k) & (weight > min_value)
    return source[keep], target[keep] + first_row, weight[keep]


def build_edges(matrix: sp.csr_matrix, k: int, min_jaccard: float, block_size: int = 1024) -> pd.DataFrame:
    """Top-k Jaccard edges of a binary gene x term matrix: columns ``source``, ``target``, ``weight``.

    Genes without terms have J = 0 with every gene, so they take no part in the computation.
    """
    annotated = np.flatnonzero(matrix.getnnz(axis=1))
    matrix = sp.csr_matrix(matrix)[annotated]
    sizes = np.asarray(matrix.getnnz(axis=1), dtype=np.float64)
    sizes32 = sizes.astype(np.float32)
    n_genes = matrix.shape[0]
    approx = np.empty((min(block_size, n_genes), n_genes), dtype=np.float32)
    parts = [(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64))]
    blocks = intersection_blocks(matrix, block_size)
    for start, inter in track(blocks, -(-n_genes // block_size), "jaccard", "blocks"):
        stop = start + len(inter)
        jaccard = approx[: len(inter)]
        np.subtract(sizes32[None, :], inter, out=jaccard)
        jaccard += sizes32[start:stop, None]
        np.divide(inter, jaccard, out=jaccard)

        def exact(rows: np.ndarray, cols: np.ndarray, inter: np.ndarray = inter, start: int = start) -> np.ndarray:
            shared = inter[rows, cols].astype(np.float64)
            return shared / (sizes[start + rows] + sizes[cols] - shared)

        parts.append(top_k(jaccard, start, k, min_jaccard, exact))
    sources, targets, weights = (np.concatenate(column) for column in zip(*parts, strict=True))
    return pd.DataFrame({"source": annotated[sources], "target": annotated[targets], "weight": weights})


def annotation_pairs(
    vocab: pd.DataFrame, annotations: GafAnnotations, mapping: pd.DataFrame, dag: GODag, namespaces: Sequence[str]
) -> pd.DataFrame:
    """Distinct (vocabulary ``gene`` index, primary ``go_id``) pairs of the selected namespaces, sorted.

    ``mapping`` is :func:`sclong.knowledge.gaf.map_gaf_genes` of ``annotations``.
    """
    vocab_index = pd.Series(vocab["index"].to_numpy(), index=vocab["ensembl_id"])
    gene = mapping["ensembl_id"].map(vocab_index).to_numpy(dtype=np.float64)[annotations.frame["gene"].to_numpy()]
    go_id = annotations.frame["go_id"].cat
    wanted = {NAMESPACES[n] for n in namespaces}
    in_dag = np.array([term in dag for term in go_id.categories], dtype=bool)
    primary = np.array([dag[term].id if known and dag[term].namespace in wanted else "" for term, known in
                        zip(go_id.categories, in_dag, strict=True)], dtype=str)  # fmt: skip
    terms, term_code = np.unique(primary, return_inverse=True)  # "" (not wanted) sorts first
    code = term_code.ravel()[go_id.codes.to_numpy()]
    keep = ~np.isnan(gene) & (terms[code] != "")
    pairs = np.unique(gene[keep].astype(np.int64) * len(terms) + code[keep])
    result = pd.DataFrame({"gene": pairs // len(terms), "go_id": terms[pairs % len(terms)].astype(object)})
    line_in_dag = in_dag[go_id.codes.to_numpy()]
    log.info(
        "annotations: %d kept lines; %d to unknown/obsolete GO IDs, %d to other namespaces, %d to genes outside "
        "the vocabulary dropped; %d distinct gene-term pairs for %d genes",
        len(gene), int((~line_in_dag).sum()), int((line_in_dag & (terms[code] == "")).sum()),
        int(np.isnan(gene).sum()), len(result), result["gene"].nunique(),
    )  # fmt: skip
    return result


def write_edges(edges: pd.DataFrame, vocab: pd.DataFrame, path: str | Path) -> None:
    """Write ``source``/``target``/``weight`` edges with the vocabulary's Ensembl IDs added, atomically."""
    ids = vocab["ensembl_id"].to_numpy()
    write_edge_table(edges.assign(source_id=ids[edges["source"]], target_id=ids[edges["target"]]), path)


def write_edge_table(edges: pd.DataFrame, path: str | Path) -> None:
    """Write the :data:`EDGE_COLUMNS` of an edge table as TSV (weights as ``%.8g``), atomically."""
    columns = [edges[column].tolist() for column in EDGE_COLUMNS]
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        handle.write("\t".join(EDGE_COLUMNS) + "\n")
        handle.writelines(map("{}\t{}\t{}\t{}\t{:.8g}\n".format, *columns))


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
    parser.add_argument("--gene-table", required=True, help="gene table TSV(.gz) used to map GAF genes")
    parser.add_argument("--gaf", required=True, help="GO annotations, GAF 2.1 (.gz)")
    parser.add_argument("--obo", required=True, help="GO ontology, OBO (.gz)")
    parser.add_argument("--block-size", type=int, default=1024, help="target rows per Jaccard block (memory)")
    parser.add_argument("--out", required=True, help="edge list TSV to write")
    add_settings_argument(parser, "go_graph")
    add_gaf_settings_argument(parser)
    args = parser.parse_args(argv)
    settings = from_mapping(GoGraphSettings, parse_settings(args.settings, "go_graph"), "go_graph")
    gaf_settings = parse_gaf_settings(args.gaf_settings)
    if args.block_size < 1:
        parser.error("--block-size must be >= 1")
    started = time.perf_counter()
    vocab = read_vocabulary(args.vocabulary)
    if settings.top_k >= len(vocab):
        raise ConfigError("go_graph.top_k", f"is {settings.top_k}, but the vocabulary has {len(vocab)} genes, "
                          f"so a gene has at most {len(vocab) - 1} neighbours")  # fmt: skip
    dag = load_go_dag(args.obo)
    annotations = read_gaf(args.gaf, gaf_settings.max_malformed_fraction)
    mapping = map_gaf_genes(annotations, read_gene_table(args.gene_table))
    pairs = annotation_pairs(vocab, annotations, mapping, dag, settings.namespaces)
    matrix, terms = term_matrix(pairs, len(vocab), dag, settings.propagate)
    edges = build_edges(matrix, settings.top_k, settings.min_jaccard, args.block_size)
    write_edges(edges, vocab, args.out)
    log.info(
        "GO graph: %d genes (%d with terms), %d terms, %d edges, mean weight %.3f, %.1f s",
        len(vocab), int((matrix.getnnz(axis=1) > 0).sum()), len(terms), len(edges),
        float(edges["weight"].mean()) if len(edges) else 0.0, time.perf_counter() - started,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
