"""Read a Perturb-seq screen in GEARS' AnnData layout into a checked :class:`Screen`.

GEARS' layout (its processed Norman 2019 file, and the demo's simulated screen): ``obs['condition']`` is
``ctrl``, ``A+ctrl`` (``ctrl+A`` is read as the same single) or ``A+B``; ``obs['cell_type']`` is one cell
type; ``var['gene_name']`` holds unique gene symbols; ``X`` is log-normalised. When ``uns`` holds GEARS'
ranking ``rank_genes_groups_cov_all`` (keyed ``<cell_type>_<condition>_<dose>``, gene IDs = var names) it
is used as shipped, as GEARS does; otherwise the ranking is computed the same way (:mod:`.de`).
:func:`from_targets` converts a screen that names one target gene per cell (e.g. ECCITE-seq knockouts)
into this layout.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.errors import InputError
from sclong.tasks.perturbation.de import N_DE, N_DE_GI, non_dropout_top, rank_genes
from sclong.tasks.perturbation.screen import CONTROL, Screen, perturbed_genes

RANKING_KEY = "rank_genes_groups_cov_all"
GENE = re.compile(r"^[^+\s]+$")
MIN_CELLS = 2


def read_screen(path: str | Path) -> Screen:
    """The screen in the ``.h5ad`` at ``path``, checked (one clear :class:`InputError` per problem)."""
    import anndata as ad

    try:
        adata = ad.read_h5ad(path)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(path, f"unreadable AnnData ({err})") from None
    return screen_from_adata(adata, str(path))


def screen_from_adata(adata, source: str) -> Screen:
    """Check ``adata`` against GEARS' layout and compute its DE genes; ``source`` names it in errors."""
    for column in ("condition", "cell_type"):
        if column not in adata.obs:
            raise InputError(source, f"obs has no column {column!r} (GEARS' layout)")
    if "gene_name" not in adata.var:
        raise InputError(source, "var has no column 'gene_name' (GEARS' layout)")
    genes = adata.var["gene_name"].astype(str).tolist()
    duplicated = pd.Index(genes)[pd.Index(genes).duplicated()]
    if len(duplicated):
        raise InputError(source, f"var['gene_name'] repeats gene {duplicated[0]!r}")
    cell_types = adata.obs["cell_type"].astype(str).unique()
    if len(cell_types) != 1:
        raise InputError(source, f"obs['cell_type'] has {len(cell_types)} values ({', '.join(cell_types[:5])}); "
                                 "one cell type per screen expected")  # fmt: skip
    conditions, original = _canonical_conditions(adata.obs["condition"].astype(str).to_numpy(), source)
    control_rows = np.flatnonzero(conditions == CONTROL)
    if not len(control_rows):
        raise InputError(source, f"no control cells (no obs['condition'] == {CONTROL!r})")
    names, counts = np.unique(conditions, return_counts=True)
    if (counts < MIN_CELLS).any():
        raise InputError(source, f"condition {names[counts < MIN_CELLS][0]!r} has fewer than {MIN_CELLS} cells")
    _check_values(adata.X, source)
    screen = Screen(adata=adata, genes=genes, conditions=conditions, control_rows=control_rows, de_genes={},
                    de_genes_50={}, source=source)  # fmt: skip
    order = screen.condition_list()
    rankings = _shipped_ranking(adata, [original[c] for c in order], cell_types[0], source)
    if rankings is None:
        rankings = rank_genes(_with_conditions(adata, conditions), order)
    for condition in order[1:]:
        ranking = rankings[condition]
        screen.de_genes[condition] = non_dropout_top(ranking, screen.mean(condition), screen.control_mean(), N_DE)
        screen.de_genes_50[condition] = ranking[:N_DE_GI]
    return screen


def _canonical_conditions(raw: np.ndarray, source: str) -> tuple[np.ndarray, dict[str, str]]:
    """Conditions in GEARS' grammar, ``ctrl+A`` rewritten ``A+ctrl`` (and each canonical name's original);
    refuses anything else."""
    mapping, by_genes = {}, {}
    for condition in pd.unique(raw):
        parts = condition.split("+")
        genes = perturbed_genes(condition)
        valid = condition == CONTROL or (
            len(parts) == 2 and all(GENE.match(p) for p in parts) and len(genes) >= 1 and len(set(genes)) == len(genes)
        )
        if not valid:
            raise InputError(source, f"condition {condition!r} is not in GEARS' grammar (ctrl, A+ctrl or A+B)")
        canonical = _canonical(condition)
        key = frozenset(genes)
        if key in by_genes and by_genes[key] != condition:
            raise InputError(source, f"conditions {by_genes[key]!r} and {condition!r} name the same perturbation")
        by_genes[key] = condition
        mapping[condition] = canonical
    return np.array([mapping[c] for c in raw], dtype=object), {v: k for k, v in mapping.items()}


def _canonical(condition: str) -> str:
    genes = perturbed_genes(condition)
    return condition if len(genes) != 1 else f"{genes[0]}+{CONTROL}"


def _check_values(matrix, source: str) -> None:
    values = matrix.data if hasattr(matrix, "data") and not isinstance(matrix, np.ndarray) else np.asarray(matrix)
    if not np.isfinite(values).all() or (values < 0).any():
        raise InputError(source, "X has negative or non-finite values (log-normalised expression expected)")


def _with_conditions(adata, conditions: np.ndarray):
    """A light copy of ``adata`` whose obs holds only the canonical conditions."""
    import anndata as ad

    return ad.AnnData(X=adata.X, obs=pd.DataFrame({"condition": conditions}, index=adata.obs_names),
                      var=pd.DataFrame(index=adata.var_names))  # fmt: skip


def _shipped_ranking(adata, conditions: list[str], cell_type: str, source: str) -> dict[str, np.ndarray] | None:
    """GEARS' shipped ranking, as gene positions per canonical condition (``conditions``: the names as in
    the file, control first; GEARS keys them so); ``None`` when ``uns`` has none."""
    shipped = adata.uns.get(RANKING_KEY)
    if shipped is None:
        return None
    position = {gene: i for i, gene in enumerate(adata.var_names)}
    rankings = {}
    for condition in conditions[1:]:
        key = f"{cell_type}_{condition}_{gears_dose(condition)}"
        if key not in shipped:
            raise InputError(source, f"uns[{RANKING_KEY!r}] has no entry {key!r}")
        unknown = [g for g in shipped[key] if g not in position]
        if unknown:
            raise InputError(source, f"uns[{RANKING_KEY!r}][{key!r}] names gene {unknown[0]!r} absent from var")
        rankings[_canonical(condition)] = np.array([position[g] for g in shipped[key]], dtype=np.int64)
    return rankings


def gears_dose(condition: str) -> str:
    """GEARS' ``dose_val`` of a condition: ``1+1`` for anything with a '+', else ``1``."""
    return "1+1" if len(condition.split("+")) == 2 else "1"


def from_targets(adata, target_key: str, control_value: str, cell_type: str, source: str):
    """A counts AnnData naming one target gene per cell -> GEARS' layout (``A+ctrl``; control ``ctrl``).

    X is normalised as GEARS' Norman (``normalize_total`` then ``log1p``); var names become ``gene_name``.
    """
    import anndata as ad
    import scanpy as sc

    if target_key not in adata.obs:
        raise InputError(source, f"obs has no column {target_key!r}")
    targets = adata.obs[target_key].astype(str)
    multiple = targets[targets.str.contains(r"[+,;\s]", regex=True) & (targets != control_value)]
    if len(multiple):
        raise InputError(source, f"obs[{target_key!r}] value {multiple.iloc[0]!r} is not a single gene")
    condition = np.where(targets == control_value, CONTROL, targets + f"+{CONTROL}")
    out = ad.AnnData(X=adata.X.copy(), obs=pd.DataFrame({"condition": condition, "cell_type": cell_type},
                     index=adata.obs_names), var=pd.DataFrame({"gene_name": adata.var_names.astype(str)},
                     index=adata.var_names))  # fmt: skip
    sc.pp.normalize_total(out)
    sc.pp.log1p(out)
    return out
