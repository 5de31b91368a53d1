"""GEARS' perturbation GO graph from the workflow's own GO sources, and GEARS' offline data files.

* Annotations (:func:`read_go_annotations`): the GAF read with :mod:`sclong.knowledge.gaf` (malformed and
  ``NOT`` lines skipped), GO IDs mapped to their primary term in the OBO (:func:`sclong.knowledge.go_graph.
  load_go_dag`; unknown and obsolete IDs dropped), all three namespaces, direct annotations only (GEARS'
  ``gene2go`` sets are not propagated). A screen gene is looked up by GAF symbol (column 3), else by a GAF
  synonym (column 11) that names exactly one GAF symbol; an ambiguous synonym is not used.
* Perturbation genes (GEARS' ``set_pert_genes`` with its own gene list, as its ``default_pert_graph=False``
  branch builds it): the screen's measured genes plus its perturbed genes, those with GO terms, sorted.
* Edges (GEARS' ``make_GO`` + ``get_similarity_network``): Jaccard similarity J of the GO term sets of every
  ordered pair of perturbation genes (self-pairs included, J = 1), kept where J > :data:`MIN_JACCARD`; each
  target keeps its ``k + 1`` most similar sources (ties: earlier source first).
* :func:`write_gears_files` writes what cell-gears would otherwise download into its data path:
  ``gene2go_all.pkl`` (gene -> set of GO IDs), ``essential_all_data_pert_genes.pkl`` (the perturbation
  genes) and ``go_essential_all/go_essential_all.csv`` (the edges before the top-k cut, GEARS' columns
  ``source, target, importance``), so that GEARS builds its graph itself from them.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.errors import InputError

log = logging.getLogger(__name__)

MIN_JACCARD = 0.1
GENE2GO_FILE = "gene2go_all.pkl"
PERT_GENES_FILE = "essential_all_data_pert_genes.pkl"
GO_EDGES_DIR = "go_essential_all"
GO_EDGES_FILE = "go_essential_all.csv"


@dataclass(frozen=True)
class GoAnnotations:
    """GO terms per GAF symbol, the synonyms that name one symbol, and the GAF path for messages."""

    terms: dict[str, frozenset[str]]
    synonyms: dict[str, str]
    source: str

    def lookup(self, gene: str) -> frozenset[str]:
        """The GO terms of ``gene`` (by symbol, else by an unambiguous synonym); empty if it has none."""
        if gene in self.terms:
            return self.terms[gene]
        return self.terms.get(self.synonyms.get(gene, ""), frozenset())


@dataclass(frozen=True)
class PertGraph:
    """GEARS' perturbation-gene GO graph: ``genes`` (sorted), all edges with J > MIN_JACCARD, top-k cut."""

    genes: list[str]
    all_edges: pd.DataFrame
    edges: pd.DataFrame

    def index(self, gene: str) -> int:
        """Node index of a perturbation gene."""
        return self.genes.index(gene)

    def edge_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``edge_index`` int64 (2, E) as (source, target) node indices and float32 weights of the top-k edges."""
        node = {gene: i for i, gene in enumerate(self.genes)}
        index = np.stack([self.edges["source"].map(node).to_numpy(), self.edges["target"].map(node).to_numpy()])
        return index.astype(np.int64), self.edges["importance"].to_numpy(np.float32)


def read_go_annotations(gaf: str | Path, obo: str | Path, max_malformed_fraction: float) -> GoAnnotations:
    """GO terms per GAF symbol (rules in the module docstring)."""
    from sclong.knowledge.gaf import read_gaf
    from sclong.knowledge.go_graph import load_go_dag

    dag = load_go_dag(obo)
    annotations = read_gaf(gaf, max_malformed_fraction)
    categories = annotations.frame["go_id"].cat.categories
    primary = np.array([dag[t].id if t in dag and not dag[t].is_obsolete else "" for t in categories], dtype=object)
    go_id = primary[annotations.frame["go_id"].cat.codes.to_numpy()]
    symbol = annotations.genes["symbol"].to_numpy()[annotations.frame["gene"].to_numpy()]
    pairs = pd.DataFrame({"symbol": symbol, "go_id": go_id})
    dropped = int((pairs["go_id"] == "").sum())
    pairs = pairs[pairs["go_id"] != ""].drop_duplicates()
    terms = {gene: frozenset(group) for gene, group in pairs.groupby("symbol", sort=False)["go_id"]}
    named: dict[str, set[str]] = {}
    for gene, synonyms in zip(annotations.genes["symbol"], annotations.genes["synonyms"], strict=True):
        for synonym in synonyms:
            named.setdefault(synonym, set()).add(gene)
    synonyms = {s: next(iter(g)) for s, g in named.items() if len(g) == 1 and s not in terms and next(iter(g)) in terms}
    log.info("%s: GO terms for %d symbols (%d gene-term pairs; %d lines to unknown or obsolete terms dropped), "
             "%d unambiguous synonyms", gaf, len(terms), len(pairs), dropped, len(synonyms))  # fmt: skip
    return GoAnnotations(terms, synonyms, str(gaf))


def perturbation_genes(go: GoAnnotations, measured: Sequence[str], perturbed: Sequence[str]) -> list[str]:
    """The graph's genes: measured and perturbed genes with GO terms, sorted; a perturbed gene without any
    is an :class:`InputError` (GEARS cannot embed it)."""
    missing = sorted({gene for gene in perturbed if not go.lookup(gene)})
    if missing:
        raise InputError(go.source, f"{len(missing)} perturbed gene(s) without GO annotations, which GEARS' "
                                    f"perturbation graph needs: {', '.join(missing[:10])}")  # fmt: skip
    genes = sorted({gene for gene in [*measured, *perturbed] if go.lookup(gene)})
    log.info("perturbation graph: %d genes with GO terms (%d measured genes without)",
             len(genes), sum(1 for gene in measured if not go.lookup(gene)))  # fmt: skip
    return genes


def jaccard_edges(go: GoAnnotations, genes: Sequence[str]) -> pd.DataFrame:
    """Every ordered pair (source, target) of ``genes`` with Jaccard similarity > :data:`MIN_JACCARD`,
    columns ``source, target, importance``, sorted by target then source."""
    import scipy.sparse as sp

    from sclong.knowledge.go_graph import intersection_blocks

    sets = [go.lookup(gene) for gene in genes]
    column: dict[str, int] = {}
    rows = [i for i, terms in enumerate(sets) for _ in terms]
    cols = [column.setdefault(term, len(column)) for terms in sets for term in sorted(terms)]
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(genes), len(column)))
    sizes = np.array([len(terms) for terms in sets], dtype=np.float64)
    parts = []
    for start, inter in intersection_blocks(matrix):
        block = inter.astype(np.float64)
        jaccard = block / (sizes[start : start + len(block), None] + sizes[None, :] - block)
        target, source = np.nonzero(jaccard > MIN_JACCARD)
        parts.append((source, target + start, jaccard[target, source]))
    source, target, weight = (np.concatenate(part) for part in zip(*parts, strict=True))
    names = np.array(genes, dtype=object)
    edges = pd.DataFrame({"source": names[source], "target": names[target], "importance": weight})
    return edges.iloc[np.lexsort((source, target))].reset_index(drop=True)


def top_edges(edges: pd.DataFrame, k: int) -> pd.DataFrame:
    """GEARS' cut: each target's ``k + 1`` sources of highest importance (ties: earlier row first)."""
    ranked = edges.assign(_row=np.arange(len(edges)))
    ranked = ranked.sort_values(["target", "importance", "_row"], ascending=[True, False, True], kind="stable")
    return ranked.groupby("target", sort=False).head(k + 1).drop(columns="_row").reset_index(drop=True)


def pert_graph(go: GoAnnotations, measured: Sequence[str], perturbed: Sequence[str], k: int) -> PertGraph:
    """GEARS' perturbation-gene GO graph of a screen (module docstring)."""
    genes = perturbation_genes(go, measured, perturbed)
    edges = jaccard_edges(go, genes)
    cut = top_edges(edges, k)
    log.info("perturbation graph: %d edges with J > %g, %d after the top-%d cut", len(edges), MIN_JACCARD,
             len(cut), k + 1)  # fmt: skip
    return PertGraph(genes, edges, cut)


def write_gears_files(go: GoAnnotations, graph: PertGraph, measured: Sequence[str], data_path: Path) -> None:
    """Write cell-gears' downloaded files into ``data_path`` (module docstring); gene names as the screen's."""
    names = sorted(set(measured) | set(graph.genes))
    gene2go = {gene: set(go.lookup(gene)) for gene in names if go.lookup(gene)}
    data_path.mkdir(parents=True, exist_ok=True)
    with open(data_path / GENE2GO_FILE, "wb") as handle:
        pickle.dump(gene2go, handle)
    with open(data_path / PERT_GENES_FILE, "wb") as handle:
        pickle.dump(list(graph.genes), handle)
    (data_path / GO_EDGES_DIR).mkdir(exist_ok=True)
    graph.all_edges.to_csv(data_path / GO_EDGES_DIR / GO_EDGES_FILE, index=False)
