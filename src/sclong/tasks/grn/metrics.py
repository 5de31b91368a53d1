"""EPR and AUPR ratio of a predicted GRN against a ground-truth network, as DeepSEM's tutorial or BEELINE defines them.

Input: ``scores``, a square float matrix over the evaluated genes, ``scores[i, j]`` = the confidence that
gene ``i`` regulates gene ``j``, ranked by ``|score|``; NaN = no prediction for the pair; the diagonal is
ignored (no method predicts self-regulation). The truth is an edge list of gene positions, as given
(duplicates and self-loops are treated as each definition's code treats them).

``deepsem`` (DeepSEM's ``tutorial/GRN_inference_tutorial.ipynb``):

* TFs = the truth's sources, genes = its sources and targets, true edges = its distinct pairs
  (self-loops included), K = their number.
* EPR: the predicted TF -> gene pairs ranked by ``|score|``, the top K of them; EPR = (|top K & truth| / K)
  / (K / (n_TF * n_genes - n_TF)). Ties at the K-th score count with their expected overlap under a random
  order of the tied pairs (the tutorial's unstable sort picks some order).
* AUPR ratio: average precision (``sklearn.metrics.average_precision_score``) over all n_TF x n_genes
  pairs, self-pairs included, unpredicted pairs scored -1; divided by the fraction of true pairs among them.

``beeline`` (``Murali-group/Beeline``: EPR as ``BLEval/computeEarlyPrec.py`` with ``TFEdges=True`` at
6b46c35c, the last version before the v1.1 refactor; AUPRC as v1.1's ``BLEval/AUPRC.py``):

* EPR: the truth without self-loops and duplicates; TFs = its sources, genes = its nodes; universe = TF ->
  gene pairs without self-pairs. Predictions in the universe, ``|score|`` rounded to 6 decimals (v1.1
  dropped the rounding); k = min(#predictions, #true edges); cut-off = max(k-th largest score, smallest
  non-zero score); every prediction >= the cut-off is selected; EPR = (|selected & truth| / |selected|)
  / (#true edges / #universe).
* AUPR ratio: universe = all ordered pairs of distinct truth genes (not only TF rows), unpredicted pairs
  scored 0; AUPRC = trapezoidal area under ``sklearn.metrics.precision_recall_curve``
  (``sklearn.metrics.auc``; before v1.1 BEELINE called R's PRROC, whose Davis-Goadrich interpolation
  treats tied scores differently), divided by the fraction of true pairs in the universe (BEELINE's
  ``random_classifier_baseline``).

Computation: no loop over pairs. The top K is a partial selection (``np.partition``). A precision-recall
curve needs, at each distinct score of a true pair, the number of universe pairs scoring at least (and
more than) it: the universe's scores are sorted block by block (at most :data:`BLOCK_ELEMENTS` at a time)
and those counts summed over blocks, so memory beyond ``scores`` stays bounded at paper size (17,735
genes: 314M pairs in BEELINE's AUPR universe).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np

from sclong.tasks.base import Metric

Evaluation = Literal["deepsem", "beeline"]
EVALUATIONS = ("deepsem", "beeline")
BLOCK_ELEMENTS = 1 << 24
SCENARIO = "all"


def grn_metrics(scores: np.ndarray, source: np.ndarray, target: np.ndarray, evaluation: Evaluation) -> list[Metric]:
    """``epr`` and ``aupr_ratio`` of ``scores`` against the truth edges ``source -> target`` (gene positions)."""
    if scores.ndim != 2 or scores.shape[0] != scores.shape[1]:
        raise ValueError(f"scores must be a square matrix, got shape {scores.shape}")
    source, target = np.asarray(source, dtype=np.int64), np.asarray(target, dtype=np.int64)
    if evaluation == "deepsem":
        return [deepsem_epr(scores, source, target), deepsem_aupr_ratio(scores, source, target)]
    if evaluation == "beeline":
        return [beeline_epr(scores, source, target), beeline_aupr_ratio(scores, source, target)]
    raise ValueError(f"evaluation must be one of {EVALUATIONS}, not {evaluation!r}")


def deepsem_epr(scores: np.ndarray, source: np.ndarray, target: np.ndarray) -> Metric:
    """EPR as DeepSEM's tutorial computes it (module docstring)."""
    block, truth, n_tfs = _deepsem_block(scores, source, target)
    if block is None:
        return Metric(SCENARIO, "epr", None, "the ground truth has no edge among the evaluated genes")
    k = int(truth.sum())
    predicted = ~np.isnan(block)
    hits = _top_k_hits(block[predicted], truth[predicted], k)
    return Metric(SCENARIO, "epr", float(hits / k / (k / (block.size - n_tfs))))


def deepsem_aupr_ratio(scores: np.ndarray, source: np.ndarray, target: np.ndarray) -> Metric:
    """AUPR ratio as DeepSEM's tutorial computes it (module docstring)."""
    block, truth, _ = _deepsem_block(scores, source, target)
    if block is None:
        return Metric(SCENARIO, "aupr_ratio", None, "the ground truth has no edge among the evaluated genes")
    values = np.where(np.isnan(block), -1.0, block)
    average_precision, _ = _precision_recall(values[truth], iter([values.ravel()]))
    return Metric(SCENARIO, "aupr_ratio", float(average_precision / (truth.sum() / truth.size)))


def beeline_epr(scores: np.ndarray, source: np.ndarray, target: np.ndarray) -> Metric:
    """EPR as BEELINE's computeEarlyPrec (TF edges) computes it (module docstring)."""
    n = scores.shape[0]
    keep = source != target
    codes = np.unique(source[keep] * n + target[keep])
    if not len(codes):
        return Metric(SCENARIO, "epr", None, "the ground truth has no edge among the evaluated genes")
    tfs, genes, block, truth = _tf_block(scores, codes)
    universe = block.size - len(tfs)
    rounded = np.round(block, 6)
    predicted = ~np.isnan(rounded)
    values, is_true = rounded[predicted], truth[predicted]
    nonzero = values[values > 0]
    if not len(nonzero):
        return Metric(SCENARIO, "epr", None, "no TF -> gene pair has a non-zero score (BEELINE's code reports 0)")
    k = min(len(values), len(codes))
    kth = np.partition(values, len(values) - k)[len(values) - k]
    selected = values >= max(nonzero.min(), kth)
    early_precision = is_true[selected].sum() / selected.sum()
    return Metric(SCENARIO, "epr", float(early_precision / (len(codes) / universe)))


def beeline_aupr_ratio(scores: np.ndarray, source: np.ndarray, target: np.ndarray) -> Metric:
    """AUPR ratio from BEELINE's PRROC (directed, no self-edges) AUPRC (module docstring)."""
    n = scores.shape[0]
    nodes = np.unique(np.concatenate([source, target]))
    keep = source != target
    codes = np.unique(source[keep] * n + target[keep])
    if not len(codes):
        return Metric(SCENARIO, "aupr_ratio", None, "the ground truth has no edge among the evaluated genes")
    positives = np.abs(scores[codes // n, codes % n])
    positives[np.isnan(positives)] = 0
    _, auprc = _precision_recall(positives, _universe_blocks(scores, nodes))
    universe = len(nodes) * (len(nodes) - 1)
    return Metric(SCENARIO, "aupr_ratio", float(auprc / (len(codes) / universe)))


def _deepsem_block(
    scores: np.ndarray, source: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, int]:
    """|scores| on TFs x genes of the truth (float64, self-pairs NaN), its truth mask and n_TF."""
    n = scores.shape[0]
    codes = np.unique(source * n + target)
    if not len(codes):
        return None, np.zeros(0, dtype=bool), 0
    tfs, _, block, truth = _tf_block(scores, codes)
    return block, truth, len(tfs)


def _tf_block(scores: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TFs (sources of ``codes``), genes (their nodes), |scores| on TFs x genes (float64, self-pairs NaN)
    and the truth mask of that block."""
    n = scores.shape[0]
    source, target = codes // n, codes % n
    tfs, genes = np.unique(source), np.unique(np.concatenate([source, target]))
    block = np.abs(scores[np.ix_(tfs, genes)].astype(np.float64))
    block[tfs[:, None] == genes[None, :]] = np.nan
    truth = np.zeros(block.shape, dtype=bool)
    truth[np.searchsorted(tfs, source), np.searchsorted(genes, target)] = True
    return tfs, genes, block, truth


def _top_k_hits(values: np.ndarray, is_true: np.ndarray, k: int) -> float:
    """True pairs among the ``k`` highest ``values``; ties at the k-th value by their expected share."""
    if len(values) <= k:
        return float(is_true.sum())
    kth = np.partition(values, len(values) - k)[len(values) - k]
    above, tied = values > kth, values == kth
    return float(is_true[above].sum() + (k - above.sum()) * is_true[tied].sum() / tied.sum())


def _universe_blocks(scores: np.ndarray, nodes: np.ndarray) -> Iterator[np.ndarray]:
    """|scores| of all ordered pairs of ``nodes``, row block by row block, in one reused buffer (NaN -> 0;
    self-pairs -inf, i.e. not pairs). A block is valid until the next one is drawn."""
    rows_per_block = max(1, BLOCK_ELEMENTS // len(nodes))
    buffer = np.empty((min(rows_per_block, len(nodes)), len(nodes)), dtype=scores.dtype)
    for start in range(0, len(nodes), rows_per_block):
        rows = nodes[start : start + rows_per_block]
        block = buffer[: len(rows)]
        for i, row in enumerate(rows):
            np.take(scores[row], nodes, out=block[i])
        np.abs(block, out=block)
        np.fmax(block, 0, out=block)  # NaN -> 0
        block[np.arange(len(rows)), np.arange(start, start + len(rows))] = -np.inf
        yield block.ravel()


def _precision_recall(positives: np.ndarray, universe: Iterator[np.ndarray]) -> tuple[float, float]:
    """(average precision, trapezoidal AUPRC) of the curve of sklearn's ``precision_recall_curve``.

    ``positives``: the scores of the true pairs; ``universe``: blocks of the scores of all pairs (true ones
    included; -inf entries are not pairs). Both only need, at each distinct true score t (descending), the
    pairs scoring >= t and > t: average precision = sum over t of recall step x precision(t); the
    trapezoid joins each point to the previous one, the next-higher distinct score (sklearn's (recall 0,
    precision 1) start point for the highest score).
    """
    thresholds, counts = np.unique(positives, return_counts=True)
    thresholds, counts = thresholds[::-1], counts[::-1]
    at_least = np.zeros(len(thresholds), dtype=np.int64)
    above = np.zeros(len(thresholds), dtype=np.int64)
    for block in universe:
        block.sort()
        at_least += len(block) - np.searchsorted(block, thresholds.astype(block.dtype), side="left")
        above += len(block) - np.searchsorted(block, thresholds.astype(block.dtype), side="right")
    true_at_least = np.cumsum(counts)
    true_above = true_at_least - counts
    precision = true_at_least / at_least
    previous = np.where(above > 0, true_above / np.maximum(above, 1), 1.0)
    recall_step = counts / len(positives)
    return float(np.sum(recall_step * precision)), float(np.sum(recall_step * (previous + precision) / 2))
