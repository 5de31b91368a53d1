"""scLong per-gene values of bulk cell-line expression (the cell features of drug response and drug combination).

A cell line is fed to the model as one "cell": its genes are mapped to the checkpoint's vocabulary and
normalised exactly as ``sclong embed`` does (:func:`sclong.tasks.representations.load_model_cells`, which
calls :func:`sclong.embedding.prepare_cells`), and each input gene's value is the mean over the features of
its scLong representation (the paper's "mean over the 200 dims"). Genes that feed no vocabulary gene
(status other than ``used``) are dropped from the values and listed in the coverage table.

Input kinds (``kind``), and why they are converted: the embed normalisation accepts raw counts or log1p
of library-size-normalised counts, and refuses TPM (it detects values >= 20 that are not integers). Bulk
cell-line data come as TPM (DeepDDS' 954-gene table) or as ``log2(TPM + 1)`` (DepMap's CCLE expression,
DeepCDR's 697-gene table). TPM already is a library-size normalisation (per million transcripts, over the
whole transcriptome); it is rescaled to the corpus' 10,000 per cell and log1p-transformed,
``log1p(TPM / 100)``, and given to the embed step as ``log1p`` knowingly (``input_kind="log1p"``: the
count-structure check does not apply to TPM). ``log`` input is first turned back into TPM,
``2 ** x - 1``. The panel is not renormalised to its own genes: a 697-gene panel's values stay the
whole-transcriptome abundances, as a single cell's measured genes do. The kind is never guessed:
``tpm`` values all below 20 (they look logged) and ``log`` values reaching 20 (``log2(TPM + 1)`` stays
below ``log2(1e6 + 1)`` = 19.93) are refused, as are NaN, infinite and negative values.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from sclong.errors import ConfigError, InputError

log = logging.getLogger(__name__)

ExpressionKind = Literal["tpm", "log"]
EXPRESSION_KINDS: tuple[str, ...] = get_args(ExpressionKind)
TPM_PER_TARGET = 100.0  # TPM (per 1e6 transcripts) / 100 = per 1e4, the corpus' library size
LOG_MAX = 20.0  # log2(TPM + 1) < log2(1e6 + 1); TPM tables reach far above it
COVERAGE_COLUMNS = ("gene", "status", "ensembl_id", "vocabulary_symbol")
EXAMPLES = 5


@dataclass(frozen=True)
class CellLineValues:
    """scLong per-gene values of cell lines.

    ``values``: cell lines x genes (the input's gene names, in its order; genes without a vocabulary gene
    dropped). ``coverage``: one row per input gene (columns :data:`COVERAGE_COLUMNS`): its mapping status
    as ``sclong embed`` names it (``used``: its value is in ``values``; ``not_in_vocabulary``, ``unmapped``,
    ``ambiguous``, ``duplicate``, ``outranked``, ``tie``: absent, see :mod:`sclong.embedding`), the Ensembl
    ID it resolved to and the vocabulary's symbol of the gene it feeds (empty when none).
    """

    values: pd.DataFrame
    coverage: pd.DataFrame


def to_log1p(expression: pd.DataFrame, kind: ExpressionKind, source: str) -> pd.DataFrame:
    """``log1p(TPM / 100)`` of ``expression`` holding ``kind`` values (rules and refusals in the module doc)."""
    if kind not in EXPRESSION_KINDS:
        raise ConfigError("kind", f"must be one of {', '.join(EXPRESSION_KINDS)}, got {kind!r}")
    try:
        values = expression.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise InputError(source, f"expression holds non-numeric values ({err})") from None
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise InputError(source, f"{int(bad.sum())} expression value(s) are NaN or infinite, e.g. cell line "
                                 f"{expression.index[row]}, gene {expression.columns[col]}")  # fmt: skip
    if values.size and values.min() < 0:
        row, col = np.unravel_index(np.argmin(values), values.shape)
        raise InputError(source, f"expression values are negative (minimum {values.min():g}, cell line "
                                 f"{expression.index[row]}, gene {expression.columns[col]}): neither TPM nor "
                                 "log2(TPM + 1)")  # fmt: skip
    top = float(values.max()) if values.size else 0.0
    if kind == "tpm" and top < LOG_MAX:
        raise InputError(source, f"expression given as TPM but every value is below {LOG_MAX:g} (maximum "
                                 f"{top:g}): they look log-transformed; give kind 'log' for log2(TPM + 1)")  # fmt: skip
    if kind == "log" and top >= LOG_MAX:
        raise InputError(source, f"expression given as log2(TPM + 1) but values reach {top:g} (>= {LOG_MAX:g}, "
                                 "above log2 of a million): give kind 'tpm' for TPM")  # fmt: skip
    tpm = values if kind == "tpm" else np.exp2(values) - 1.0
    return pd.DataFrame(np.log1p(tpm / TPM_PER_TARGET), index=expression.index, columns=expression.columns)


def cell_line_values(
    expression: pd.DataFrame,
    checkpoint: Path,
    kind: ExpressionKind,
    device: Literal["auto", "cpu", "cuda"],
    normalization: str,
    batch_size: int,
    source: str,
) -> CellLineValues:
    """scLong per-gene values of ``expression`` (cell lines x genes, gene symbols or Ensembl IDs) from
    ``checkpoint``; mapping, normalisation (``embed.normalization``) and kinds as in the module doc. The
    coverage is logged and returned; ``source`` names the input in messages."""
    import anndata as ad
    import scipy.sparse as sp

    from sclong.tasks.representations import gene_representations, load_model_cells

    _check_labels(expression, source)
    logged = to_log1p(expression, kind, source)
    adata = ad.AnnData(sp.csr_matrix(logged.to_numpy(dtype=np.float32)))
    adata.obs_names = [str(name) for name in expression.index]
    adata.var_names = [str(name) for name in expression.columns]
    cells = load_model_cells(checkpoint, adata, device, normalization, source, input_kind="log1p")
    coverage = _coverage(cells.mapping, cells.vocabulary)
    used = coverage.loc[coverage["status"] == "used", "gene"].tolist()
    _log_coverage(coverage, source)
    rows = np.arange(adata.n_obs)
    values = gene_representations(cells, used, rows, reduce="features", batch_size=batch_size)
    frame = pd.DataFrame(values, index=adata.obs_names.copy(), columns=used)
    return CellLineValues(frame, coverage)


def _check_labels(expression: pd.DataFrame, source: str) -> None:
    """Refuse an empty table and repeated cell-line or gene labels (which row or column is meant is unclear)."""
    if expression.shape[0] == 0 or expression.shape[1] == 0:
        raise InputError(source, f"expression table is empty ({expression.shape[0]} cell lines x "
                                 f"{expression.shape[1]} genes)")  # fmt: skip
    for axis, labels in (("cell line", expression.index), ("gene", expression.columns)):
        repeated = pd.Index(labels.astype(str))[pd.Index(labels.astype(str)).duplicated()].unique()
        if len(repeated):
            raise InputError(source, f"{len(repeated)} {axis} label(s) appear more than once, e.g. "
                                     f"{', '.join(repeated[:EXAMPLES])}")  # fmt: skip


def _coverage(mapping: pd.DataFrame, vocabulary: pd.DataFrame) -> pd.DataFrame:
    """The coverage table (:data:`COVERAGE_COLUMNS`) of a mapping table from :mod:`sclong.embedding`."""
    symbols = vocabulary["symbol"].fillna("").astype(str).to_numpy()
    position = mapping["vocab_index"].to_numpy()
    used = mapping["status"].to_numpy() == "used"
    symbol = np.where(used, symbols[np.clip(position, 0, None)], "")
    return pd.DataFrame({
        "gene": mapping["query"].astype(str).to_numpy(),
        "status": mapping["status"].astype(str).to_numpy(),
        "ensembl_id": mapping["ensembl_id"].fillna("").astype(str).to_numpy(),
        "vocabulary_symbol": symbol,
    })  # fmt: skip


def _log_coverage(coverage: pd.DataFrame, source: str) -> None:
    """One line: genes used, and the absent ones by status with examples."""
    absent = coverage[coverage["status"] != "used"]
    n_used = len(coverage) - len(absent)
    if absent.empty:
        log.info("%s: all %d genes feed the model's vocabulary", source, len(coverage))
        return
    by_status = "; ".join(f"{status} {len(rows)} (e.g. {', '.join(rows['gene'].head(EXAMPLES))})"
                          for status, rows in absent.groupby("status", sort=True))  # fmt: skip
    log.warning("%s: %d of %d genes (%.1f%%) feed the model's vocabulary; %d absent, not used: %s", source,
                n_used, len(coverage), 100 * n_used / len(coverage), len(absent), by_status)  # fmt: skip
