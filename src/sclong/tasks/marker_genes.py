"""Marker genes (Fig. 8): do a cell type's marker genes co-cluster among scLong's gene representations?

Per configured cell type (the keys of ``tasks.marker_genes.markers``; other cell types are not computed)
and seed, following the paper's Methods:

* Cells: ``cells_per_type`` cells of the type, drawn without replacement with
  ``numpy.random.default_rng([seed, crc32(cell type)])`` (one generator per type, so a type's cells do not
  depend on which other types are configured); the same generator then draws the permutation sets.
* Gene vectors: every input gene in the checkpoint's vocabulary, its representation averaged over those
  cells (:func:`sclong.tasks.representations.gene_representations`, ``reduce="cells"``). A gene whose
  averaged vector is zero (w/o-LEG models give no representation outside a cell's top-k) has no cosine
  and is left out, counted in ``genes_scored``'s note.
* Summed similarity of a gene: the sum of its cosine similarity to every scored gene, itself included
  (which adds 1 to every gene and changes no rank), computed as ``u_i . sum_j u_j`` of unit vectors.
* Shown genes: the ``top_genes`` of highest summed similarity (ties: dataset order), then the markers
  present but outside them (``in_top`` false), so that the clustering, the figure and the score always
  include every marker that has a vector; ``markers_in_top`` counts the markers among the top genes.
* Clustering (:func:`analyse_cell_type`, a pure function of the genes x dim matrix): hierarchical
  clustering of the shown genes' cosine matrix with ``linkage`` on ``distance``: ``euclidean_rows`` is
  the Euclidean distance between the genes' rows of the similarity matrix, what seaborn's clustermap
  does by default (the paper's call); ``cosine`` is 1 - cosine similarity.
* Scores (the two claims of the paper's Fig. 8: markers fall into one cluster, apart from the other
  genes): ``marker_coclustering``, the fraction of marker pairs in one cluster when the dendrogram is
  cut into ``clusters`` clusters (after n - ``clusters`` merges: a horizontal cut, since every offered
  linkage is monotonic); ``marker_clade_purity``, markers / genes of the smallest clade (subtree) holding
  every marker: 1 when the markers form a branch of their own, whatever the cut; ``marker_similarity``,
  the markers' mean pairwise cosine.
* Permutation test: ``permutations`` random sets of as many genes as markers, each drawn without
  replacement from the scored non-marker genes and put through the same procedure as the markers (shown
  with the top genes, clustered, cut, scored); ``<score>_null`` is the sets' mean and ``<score>_p`` =
  (1 + #sets scoring at least as well) / (1 + permutations). Drawing only from the shown (top) genes
  would not be a valid null: top genes are selected for being alike, so for markers outside the top
  (random ones, in the tests) the similarity P averaged ~0.9 instead of ~0.5. Co-clustering alone is a
  weak test when one cluster holds most genes (random sets then often fall into it together); clade
  purity needs no cut.

Markers are matched to the dataset's var names exactly, else through the gene table (current, previous
and alias HGNC symbols to one Ensembl ID); a marker without a vector is reported in ``markers_scored``'s
note with the reason (unknown symbol, not in the dataset, not in the vocabulary, zero representation).
A score needs >= 2 markers; otherwise it is empty with a note.

Artifacts (enough to redraw the clustermap exactly): ``similarity`` (cell_type, gene_a, gene_b, cosine:
the shown genes' full matrix), ``clusters`` (cell_type, gene, leaf = the gene's index in the linkage,
order = its dendrogram position, cluster numbered by first appearance in that order, is_marker, in_top,
rank by summed similarity among the scored genes, summed_similarity) and ``linkage`` (cell_type, step,
left, right, distance, size: scipy's linkage matrix, leaves numbered by ``leaf``), for
``seaborn.clustermap(..., row_linkage=Z, col_linkage=Z)``.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from sclong.errors import ConfigError, InputError
from sclong.tasks.base import Metric, RunResult, Task

if TYPE_CHECKING:
    from sclong.knowledge.genes import GeneTable

KEY = "tasks.marker_genes"
Linkage = Literal["average", "complete", "single", "weighted"]
Distance = Literal["euclidean_rows", "cosine"]
NULL_METRICS = (
    "marker_coclustering_null", "marker_coclustering_p", "marker_clade_purity_null", "marker_clade_purity_p",
    "marker_similarity_null", "marker_similarity_p",
)  # fmt: skip
SCORE_METRICS = ("marker_coclustering", "marker_clade_purity", "marker_similarity", *NULL_METRICS)


@dataclass(frozen=True)
class Settings:
    """The ``tasks.marker_genes`` config block, plus ``device`` and ``normalization`` the rule injects."""

    dataset: str
    label_key: str
    methods: list[str]
    cells_per_type: int
    top_genes: int
    embed_batch_size: int
    linkage: Linkage
    distance: Distance
    clusters: int
    permutations: int
    markers: dict[str, list[str]]
    device: Literal["auto", "cpu", "cuda"]
    normalization: Literal["paper", "scanpy"]

    def __post_init__(self) -> None:
        if self.clusters >= self.top_genes:
            raise ConfigError(f"{KEY}.clusters", f"{self.clusters} clusters of {self.top_genes} top genes: "
                                                 "must be fewer than tasks.marker_genes.top_genes")  # fmt: skip
        for cell_type, markers in self.markers.items():
            distinct = len(set(markers))
            if not 2 <= distinct < self.top_genes:
                raise ConfigError(f"{KEY}.markers", f"{cell_type!r} has {distinct} distinct marker genes: need at "
                                                    f"least 2 and fewer than top_genes ({self.top_genes})")  # fmt: skip


@dataclass(frozen=True)
class CellTypeInput:
    """One configured cell type: its rows in the dataset and its markers (var names) with a vector."""

    name: str
    rows: np.ndarray
    markers: tuple[str, ...]
    absent: tuple[str, ...]


@dataclass
class MarkerData:
    """What every seed shares: the model with the dataset's cells, the genes with vectors, the cell types."""

    cells: object
    genes: list[str]
    types: list[CellTypeInput]


@dataclass(frozen=True)
class SetScores:
    """Scores of gene sets, one entry per set: member pairs in one cluster (``together``), leaves of the
    smallest clade holding every member (``clade``), mean pairwise cosine (``similarity``)."""

    together: np.ndarray
    clade: np.ndarray
    similarity: np.ndarray


@dataclass(frozen=True)
class ClusteredGenes:
    """The shown genes for one gene set: the top genes, then the set's members outside them; ``shown``
    indexes the scored genes and numbers the leaves of ``tree`` (scipy's linkage matrix)."""

    shown: list[int]
    is_member: np.ndarray
    similarity: np.ndarray
    tree: np.ndarray


@dataclass(frozen=True)
class CellTypeResult:
    """The analysis of one cell type's gene vectors (see :func:`analyse_cell_type`): the markers' view,
    the genes' names, flags and ranks in its ``shown`` order, the dendrogram ``order`` and the clusters
    numbered 1.. by first appearance in it, and the scores of the markers (one entry; none with fewer
    than 2 markers) and of the random sets (``null``)."""

    view: ClusteredGenes
    order: np.ndarray
    cluster: np.ndarray
    genes: list[str]
    in_top: np.ndarray
    rank: np.ndarray
    summed: np.ndarray
    genes_scored: int
    zero_vector: list[str]
    markers: SetScores
    null: SetScores


def unit_vectors(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors of the rows with a non-zero norm, boolean mask of those rows), in float64."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    valid = norms > 0
    return vectors[valid] / norms[valid, None], valid


def summed_similarity(unit: np.ndarray) -> np.ndarray:
    """Each gene's cosine similarity summed over every gene (itself included) without the genes x genes matrix."""
    return unit @ unit.sum(axis=0)


def cosine_matrix(unit: np.ndarray) -> np.ndarray:
    """Cosine similarities of unit vectors, clipped to [-1, 1], diagonal exactly 1."""
    similarity = np.clip(unit @ unit.T, -1.0, 1.0)
    np.fill_diagonal(similarity, 1.0)
    return similarity


def cluster_tree(similarity: np.ndarray, linkage: Linkage, distance: Distance) -> np.ndarray:
    """scipy's linkage matrix of the genes of a cosine matrix (``distance`` as in the module docstring)."""
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import pdist, squareform

    if distance == "euclidean_rows":
        return hierarchy.linkage(pdist(similarity, "euclidean"), method=linkage)
    dissimilarity = np.clip(1.0 - (similarity + similarity.T) / 2, 0.0, None)
    np.fill_diagonal(dissimilarity, 0.0)
    return hierarchy.linkage(squareform(dissimilarity, checks=False), method=linkage)


def cut_tree(tree: np.ndarray, clusters: int) -> np.ndarray:
    """Cluster (0..) of each leaf after the first n - ``clusters`` merges: exactly ``clusters`` clusters, a
    horizontal cut of the dendrogram (every offered linkage is monotonic); ties merge in scipy's order."""
    n = len(tree) + 1
    members: dict[int, list[int]] = {leaf: [leaf] for leaf in range(n)}
    for step in range(n - min(clusters, n)):
        members[n + step] = members.pop(int(tree[step, 0])) + members.pop(int(tree[step, 1]))
    labels = np.empty(n, dtype=np.int64)
    for label, leaves in enumerate(members.values()):
        labels[leaves] = label
    return labels


def cluster_genes(unit: np.ndarray, top: list[int], members: Sequence[int], linkage: Linkage,
                  distance: Distance) -> ClusteredGenes:  # fmt: skip
    """Show the ``top`` genes and the ``members`` outside them and cluster them."""
    shown = top + [int(i) for i in members if i not in top]
    similarity = cosine_matrix(unit[shown])
    return ClusteredGenes(shown, np.isin(shown, members), similarity, cluster_tree(similarity, linkage, distance))


def dendrogram_clusters(tree: np.ndarray, clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """(dendrogram order of the leaves, their :func:`cut_tree` clusters numbered 1.. by first appearance
    in that order)."""
    from scipy.cluster import hierarchy

    order = hierarchy.leaves_list(tree)
    raw = cut_tree(tree, clusters)
    first = {label: number for number, label in enumerate(dict.fromkeys(raw[order].tolist()), start=1)}
    return order, np.array([first[label] for label in raw.tolist()], dtype=np.int64)


def tree_scores(tree: np.ndarray, is_member: np.ndarray, clusters: int) -> tuple[int, int]:
    """(member pairs in one cluster of the :func:`cut_tree` cut, leaves of the smallest clade holding the
    >= 2 members) in one pass over the merges: joining nodes with a and b members joins a * b member
    pairs; the smallest clade is the first merge holding every member (their lowest common ancestor)."""
    n = len(tree) + 1
    wanted = int(is_member.sum())
    count = [int(flag) for flag in is_member] + [0] * (n - 1)
    cut = n - clusters
    pairs, together, clade = 0, (0 if cut <= 0 else None), None
    for step, (left, right, size) in enumerate(tree[:, [0, 1, 3]].astype(np.int64).tolist()):
        pairs += count[left] * count[right]
        count[n + step] = count[left] + count[right]
        if step == cut - 1:
            together = pairs
        if clade is None and count[n + step] == wanted:
            clade = size
        if together is not None and clade is not None:
            return together, clade
    raise ValueError(f"a tree of {n} leaves holding {wanted} members has no clade of them all")


def mean_pair_similarity(unit: np.ndarray) -> float:
    """Mean pairwise cosine of the rows of ``unit`` (unit vectors, at least 2)."""
    return float(cosine_matrix(unit)[np.triu_indices(len(unit), k=1)].mean())


def score_sets(unit: np.ndarray, top: list[int], sets: Sequence[Sequence[int]], clusters: int, linkage: Linkage,
               distance: Distance) -> SetScores:  # fmt: skip
    """:class:`SetScores` of each gene set (indices into ``unit``), each shown and clustered with the top
    genes alone (:func:`cluster_genes`) and scored on that tree (:func:`tree_scores`)."""
    rows = []
    for members in sets:
        view = cluster_genes(unit, top, members, linkage, distance)
        rows.append((*tree_scores(view.tree, view.is_member, clusters), mean_pair_similarity(unit[list(members)])))
    columns = list(zip(*rows, strict=True)) if rows else [(), (), ()]
    ints = [np.array(column, dtype=np.int64) for column in columns[:2]]
    return SetScores(*ints, np.array(columns[2], dtype=np.float64))


def permutation_p(as_extreme: np.ndarray) -> float:
    """(1 + #random sets at least as extreme as the markers) / (1 + #sets): the +1-corrected permutation P."""
    return float((1 + np.count_nonzero(as_extreme)) / (1 + len(as_extreme)))


def analyse_cell_type(
    vectors: np.ndarray,
    genes: Sequence[str],
    markers: Sequence[str],
    *,
    top_genes: int,
    clusters: int,
    permutations: int,
    linkage: Linkage,
    distance: Distance,
    rng: np.random.Generator,
) -> CellTypeResult:
    """Rank, show, cluster and score the genes x dim ``vectors`` of one cell type (module docstring).

    ``markers`` are names among ``genes``; those with a zero vector are dropped (``zero_vector``). Random
    sets are drawn only with >= 2 markers and at least as many scored non-marker genes.
    """
    genes = list(genes)
    if len(genes) != len(vectors):
        raise ValueError(f"{len(genes)} gene names for {len(vectors)} vectors")
    unit, valid = unit_vectors(vectors)
    scored = [gene for gene, ok in zip(genes, valid, strict=True) if ok]
    if len(scored) < 2:
        raise ValueError(f"{len(scored)} of {len(genes)} genes have a non-zero vector: nothing to cluster")
    summed = summed_similarity(unit)
    ranking = np.argsort(-summed, kind="stable")
    rank = np.empty(len(scored), dtype=np.int64)
    rank[ranking] = np.arange(1, len(scored) + 1)
    top = [int(i) for i in ranking[:top_genes]]
    position = {gene: i for i, gene in enumerate(scored)}
    present = [position[gene] for gene in markers if gene in position]
    view = cluster_genes(unit, top, present, linkage, distance)
    order, cluster = dendrogram_clusters(view.tree, clusters)
    pool = np.setdiff1d(np.arange(len(scored)), present)
    testable = len(present) >= 2 and len(pool) >= len(present)
    sets = [pool[rng.choice(len(pool), len(present), replace=False)] for _ in range(permutations if testable else 0)]
    return CellTypeResult(
        view=view,
        order=order,
        cluster=cluster,
        genes=[scored[i] for i in view.shown],
        in_top=np.arange(len(view.shown)) < len(top),
        rank=rank[view.shown],
        summed=summed[view.shown],
        genes_scored=len(scored),
        zero_vector=[gene for gene in markers if not valid[genes.index(gene)]],
        markers=score_sets(unit, top, [present] if len(present) >= 2 else [], clusters, linkage, distance),
        null=score_sets(unit, top, sets, clusters, linkage, distance),
    )


def cell_type_metrics(result: CellTypeResult, cell_type: str, absent: Sequence[str], top_genes: int) -> list[Metric]:
    """The tidy metrics of one cell type (scenario = the cell type)."""
    absent = [*absent, *(f"{gene} (zero representation in the sampled cells)" for gene in result.zero_vector)]
    flags = list(zip(result.genes, result.rank.tolist(), result.view.is_member, result.in_top, strict=True))
    markers = [gene for gene, _, marker, _ in flags if marker]
    inside = [f"{gene} ({rank})" for gene, rank, marker, top in flags if marker and top]
    outside = [f"{gene} ({rank})" for gene, rank, marker, top in flags if marker and not top]
    capped = f"; top {top_genes} capped at the scored genes" if result.genes_scored < top_genes else ""
    rows = [
        Metric(cell_type, "genes_scored", float(result.genes_scored), f"{len(result.genes)} shown{capped}"),
        Metric(cell_type, "markers_scored", float(len(markers)),
               f"scored: {', '.join(markers) or 'none'}; absent: {', '.join(absent) or 'none'}"),
        Metric(cell_type, "markers_in_top", float(len(inside)),
               f"(rank by summed similarity) in the top {top_genes}: {', '.join(inside) or 'none'}; "
               f"outside: {', '.join(outside) or 'none'}"),
    ]  # fmt: skip
    if len(markers) < 2:
        why = f"{len(markers)} marker gene(s) with a vector; a score needs 2 (absent: {', '.join(absent) or 'none'})"
        return rows + [Metric(cell_type, name, None, why) for name in SCORE_METRICS]
    m = len(markers)
    pairs = m * (m - 1) // 2
    together, clade = int(result.markers.together[0]), int(result.markers.clade[0])
    rows += [
        Metric(cell_type, "marker_coclustering", together / pairs,
               f"{together} of {pairs} marker pairs in one of {int(result.cluster.max())} clusters"),
        Metric(cell_type, "marker_clade_purity", m / clade,
               f"the smallest clade holding the {m} markers has {clade} genes"),
        Metric(cell_type, "marker_similarity", float(result.markers.similarity[0]),
               "mean pairwise cosine of the markers"),
    ]  # fmt: skip
    null = result.null
    if len(null.together) == 0:
        why = f"only {result.genes_scored - m} scored non-marker genes for random sets of {m}"
        return rows + [Metric(cell_type, name, None, why) for name in NULL_METRICS]
    drawn = f"{len(null.together)} random sets of {m} scored non-marker genes, each clustered with the top genes"
    p_note = f"(1 + sets at least as extreme) / (1 + {len(null.together)})"
    rows += [
        Metric(cell_type, "marker_coclustering_null", float(null.together.mean() / pairs), f"mean over {drawn}"),
        Metric(cell_type, "marker_coclustering_p", permutation_p(null.together >= together), p_note),
        Metric(cell_type, "marker_clade_purity_null", float((m / null.clade).mean()), f"mean over {drawn}"),
        Metric(cell_type, "marker_clade_purity_p", permutation_p(null.clade <= clade), p_note),
        Metric(cell_type, "marker_similarity_null", float(null.similarity.mean()), f"mean over {drawn}"),
        Metric(cell_type, "marker_similarity_p", permutation_p(null.similarity >= result.markers.similarity[0]),
               p_note),
    ]  # fmt: skip
    return rows


def cell_type_tables(result: CellTypeResult, cell_type: str) -> dict[str, pd.DataFrame]:
    """The ``similarity``, ``clusters`` and ``linkage`` artifact rows of one cell type."""
    view = result.view
    n = len(result.genes)
    genes = np.array(result.genes, dtype=object)
    position = np.empty(n, dtype=np.int64)
    position[result.order] = np.arange(n)
    return {
        "similarity": pd.DataFrame({
            "cell_type": cell_type, "gene_a": np.repeat(genes, n), "gene_b": np.tile(genes, n),
            "cosine": view.similarity.ravel(),
        }),
        "clusters": pd.DataFrame({
            "cell_type": cell_type, "gene": genes, "leaf": np.arange(n), "order": position,
            "cluster": result.cluster, "is_marker": view.is_member, "in_top": result.in_top,
            "rank": result.rank, "summed_similarity": result.summed,
        }),
        "linkage": pd.DataFrame({
            "cell_type": cell_type, "step": np.arange(len(view.tree)),
            "left": view.tree[:, 0].astype(np.int64), "right": view.tree[:, 1].astype(np.int64),
            "distance": view.tree[:, 2], "size": view.tree[:, 3].astype(np.int64),
        }),
    }  # fmt: skip


def cell_type_rows(labels: pd.DataFrame, settings: Settings, source: str) -> dict[str, np.ndarray]:
    """Row indices of each configured cell type in ``labels`` (the dataset's obs), checked for size."""
    if settings.label_key not in labels.columns:
        raise InputError(source, f"obs has no column {settings.label_key!r} ({KEY}.label_key); "
                                 f"columns: {', '.join(map(str, labels.columns)) or 'none'}")  # fmt: skip
    values = labels[settings.label_key].astype(str).to_numpy()
    counts = pd.Series(values).value_counts()
    rows = {}
    for cell_type in settings.markers:
        if cell_type not in counts.index:
            raise ConfigError(f"{KEY}.markers", f"cell type {cell_type!r} is not in obs[{settings.label_key!r}] of "
                                                f"{source} (present: {', '.join(sorted(counts.index))})")  # fmt: skip
        if counts[cell_type] < settings.cells_per_type:
            raise InputError(source, f"cell type {cell_type!r} has {counts[cell_type]} cells in "
                                     f"obs[{settings.label_key!r}], fewer than {KEY}.cells_per_type "
                                     f"= {settings.cells_per_type}")  # fmt: skip
        rows[cell_type] = np.flatnonzero(values == cell_type)
    return rows


def match_markers(
    cell_type: str, markers: Sequence[str], var_names: Sequence[str], vector_genes: Sequence[str], table: GeneTable
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(var names of the markers with a vector, descriptions of the others with the reason).

    A marker matches a var name exactly, else through ``table``: the marker and the var names mapped to
    Ensembl IDs (a var name with a vector preferred). Two markers naming one gene are a config error.
    """
    from sclong.knowledge.genes import map_symbols

    var_names = [str(name) for name in var_names]
    with_vector = set(vector_genes)
    by_id: dict[str, str] = {}
    for name, gene_id in zip(var_names, map_symbols(var_names, table)["ensembl_id"], strict=True):
        if gene_id is None:
            continue
        if gene_id not in by_id or (name in with_vector and by_id[gene_id] not in with_vector):
            by_id[gene_id] = name
    exact = set(var_names)
    present: dict[str, str] = {}
    absent = []
    for marker, gene_id in zip(markers, map_symbols(markers, table)["ensembl_id"], strict=True):
        name = marker if marker in exact else by_id.get(gene_id) if gene_id is not None else None
        if name is None:
            absent.append(f"{marker} (not in the dataset{'' if gene_id is not None else ', nor in the gene table'})")
        elif name not in with_vector:
            absent.append(f"{marker} (not in the model's vocabulary)")
        elif name in present:
            raise ConfigError(f"{KEY}.markers", f"{present[name]!r} and {marker!r} of {cell_type!r} are one gene "
                                                f"({name})")  # fmt: skip
        else:
            present[name] = marker
    return tuple(present), tuple(absent)


class MarkerGenes(Task[Settings, MarkerData]):
    """Fig. 8: co-clustering of marker genes among the model's gene representations (model variants only)."""

    name = "marker_genes"
    baselines = ()
    settings_type = Settings

    def inputs(self, method: str) -> tuple[Literal["dataset", "checkpoint", "gene_table"], ...]:
        """The cells with labels, the model, and the gene table that maps marker symbols."""
        return ("dataset", "checkpoint", "gene_table")

    def load(self, method: str, inputs: Mapping[str, Path], settings: Settings) -> MarkerData:
        """Check the labels, load the model with the cells, and match every cell type's markers."""
        import anndata as ad

        from sclong.knowledge.genes import read_gene_table
        from sclong.tasks.representations import load_model_cells

        source = str(inputs["dataset"])
        try:
            adata = ad.read_h5ad(source)
        except (OSError, ValueError, KeyError) as err:
            raise InputError(source, f"cannot read the dataset ({err})") from err
        if not adata.var_names.is_unique:
            duplicate = adata.var_names[adata.var_names.duplicated()][0]
            raise InputError(source, f"var names are not unique ({duplicate!r} is repeated): cannot name the genes")
        rows = cell_type_rows(adata.obs, settings, source)
        table = read_gene_table(inputs["gene_table"])
        cells = load_model_cells(inputs["checkpoint"], adata, settings.device, settings.normalization, source)
        genes = [str(gene) for gene in cells.genes.index]
        if len(genes) <= settings.clusters:
            raise InputError(source, f"only {len(genes)} genes map to the model's vocabulary, not more than "
                                     f"{KEY}.clusters = {settings.clusters}")  # fmt: skip
        types = [CellTypeInput(name, rows[name], *match_markers(name, markers, adata.var_names, genes, table))
                 for name, markers in settings.markers.items()]  # fmt: skip
        return MarkerData(cells, genes, types)

    def run(self, method: str, seed: int, data: MarkerData, settings: Settings) -> RunResult:
        """Sample each cell type's cells, average their gene vectors, and analyse them."""
        from sclong.tasks.representations import gene_representations

        metrics: list[Metric] = []
        tables: dict[str, list[pd.DataFrame]] = {"similarity": [], "clusters": [], "linkage": []}
        for cell_type in data.types:
            rng = np.random.default_rng([seed, zlib.crc32(cell_type.name.encode())])
            rows = np.sort(rng.choice(cell_type.rows, size=settings.cells_per_type, replace=False))
            vectors = gene_representations(data.cells, data.genes, rows, reduce="cells",
                                           batch_size=settings.embed_batch_size)  # fmt: skip
            result = analyse_cell_type(
                vectors, data.genes, cell_type.markers, top_genes=settings.top_genes, clusters=settings.clusters,
                permutations=settings.permutations, linkage=settings.linkage, distance=settings.distance, rng=rng,
            )  # fmt: skip
            metrics += cell_type_metrics(result, cell_type.name, cell_type.absent, settings.top_genes)
            for name, table in cell_type_tables(result, cell_type.name).items():
                tables[name].append(table)
        return RunResult(metrics, {name: pd.concat(parts, ignore_index=True) for name, parts in tables.items()})


TASK = MarkerGenes()
