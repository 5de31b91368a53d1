"""The GO Graph baseline: the GO Jaccard gene graph restricted to the evaluated genes, as a predicted GRN.

The evaluated genes' names (symbols or Ensembl IDs) are mapped to Ensembl IDs with the gene table
(:func:`sclong.knowledge.genes.map_symbols`; unmapped genes get no edge, both counts are logged). Every
GO graph edge ``source_id -> target_id`` between mapped genes scores its Jaccard weight for the pair
(source -> target) as the graph lists it (each target's top-k GO neighbours as sources, the direction
scLong's GCN passes messages in); other pairs are not predicted (NaN). Deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.knowledge.genes import map_symbols, read_gene_table
from sclong.knowledge.go_graph import read_edge_table

log = logging.getLogger(__name__)


def go_scores(genes: Sequence[str], go_graph: str | Path, gene_table: str | Path) -> np.ndarray:
    """Scores ``[source, target]`` (genes x genes float32, NaN = no GO edge) of the evaluated ``genes``."""
    mapping = map_symbols(genes, read_gene_table(gene_table))
    positions = pd.DataFrame({"position": np.arange(len(genes)), "ensembl_id": mapping["ensembl_id"]}).dropna()
    unmapped, ambiguous = int(mapping["ensembl_id"].isna().sum()), int((mapping["how"] == "ambiguous").sum())
    log.info("%s: %d of %d evaluated genes mapped to Ensembl IDs (%d unmapped, get no GO edge; %d ambiguous, "
             "resolved by the gene table's preference)", gene_table, len(positions), len(genes), unmapped,
             ambiguous)  # fmt: skip
    edges = read_edge_table(go_graph)[["source_id", "target_id", "weight"]]
    edges = edges.merge(positions.rename(columns={"ensembl_id": "source_id", "position": "source"}), on="source_id")
    edges = edges.merge(positions.rename(columns={"ensembl_id": "target_id", "position": "target"}), on="target_id")
    edges = edges[edges["source"] != edges["target"]]
    scores = np.full((len(genes), len(genes)), np.nan, dtype=np.float32)
    scores[edges["source"].to_numpy(), edges["target"].to_numpy()] = edges["weight"].to_numpy(np.float32)
    log.info("%s: %d GO edges between evaluated genes", go_graph, len(edges))
    return scores
