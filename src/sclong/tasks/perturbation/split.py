"""GEARS' 'simulation' split of a screen's conditions, drawn per seed.

With ``RandomState(seed)`` (GEARS seeds NumPy's global generator the same way), ``train_gene_fraction`` of
the perturbed genes (sorted) become train genes. Singles of train genes -> train; doubles of two train genes
-> ``combo_train_fraction`` train, the rest test (``seen_2_2``); doubles of one train gene -> test
(``seen_1_2``); of none -> test (``seen_0_2``); singles of the other genes -> test (``seen_0_1``). The
validation list is cut from the training list the same way with fractions 0.9 and 0.9, and ``ctrl`` is
added to training, as GEARS' ``DataSplitter.split_data`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sclong.tasks.perturbation.screen import CONTROL, Scenario, Split, perturbed_genes

VAL_FRACTION = 0.9


def simulation_split(conditions: Sequence[str], seed: int, train_gene_fraction: float,
                     combo_train_fraction: float) -> Split:  # fmt: skip
    """The split of ``conditions`` (control included or not) for ``seed``."""
    perts = [c for c in conditions if c != CONTROL]
    train, test, scenario = _split_once(perts, seed, train_gene_fraction, combo_train_fraction)
    train, val, _ = _split_once(train, seed, VAL_FRACTION, VAL_FRACTION)
    return Split(seed=seed, train=(*train, CONTROL), val=tuple(val), test=tuple(test), scenario=scenario)


def _split_once(perts: list[str], seed: int, gene_fraction: float,
                combo_fraction: float) -> tuple[list[str], list[str], dict[str, Scenario]]:  # fmt: skip
    """One GEARS ``get_simulation_split``: (train, test, test condition -> scenario)."""
    genes = np.unique([g for p in perts for g in perturbed_genes(p)])
    rng = np.random.RandomState(seed)
    train_genes = set(rng.choice(genes, int(len(genes) * gene_fraction), replace=False).tolist())
    singles = [p for p in perts if len(perturbed_genes(p)) == 1]
    doubles = [p for p in perts if len(perturbed_genes(p)) == 2]

    def seen(p: str) -> int:
        return sum(g in train_genes for g in perturbed_genes(p))

    single_train = [p for p in singles if seen(p) == 1]
    seen_1 = [p for p in doubles if seen(p) == 1]
    seen_2 = sorted(p for p in doubles if seen(p) == 2)
    rng = np.random.RandomState(seed)
    combo_train = rng.choice(np.array(seen_2, dtype=object), int(len(seen_2) * combo_fraction), replace=False).tolist()
    seen_2_test = sorted(set(seen_2) - set(combo_train))
    seen_0_1 = [p for p in singles if seen(p) == 0]
    seen_0 = [p for p in doubles if seen(p) == 0]
    scenario: dict[str, Scenario] = {p: "seen_1_2" for p in seen_1}
    scenario.update({p: "seen_2_2" for p in seen_2_test})
    scenario.update({p: "seen_0_1" for p in seen_0_1})
    scenario.update({p: "seen_0_2" for p in seen_0})
    return [*single_train, *combo_train], [*seen_1, *seen_2_test, *seen_0_1, *seen_0], scenario
