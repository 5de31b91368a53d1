"""The two baselines without training: No-Change and additive.

* ``no_change``: each test cell's prediction is its paired (seeded random) control cell, so a condition's
  prediction is the mean of its cells' paired controls.
* ``additive``: control mean + the measured single-gene deltas (mean - control mean) of the perturbed genes,
  as GEARS' additive reference; it is undefined for an unseen single (``seen_0_1``: the prediction would
  be the answer), and a double one of whose singles was not measured is not predicted. For doubles of genes
  unseen in training (``seen_0_2``, ``seen_1_2``) it reads the measured singles of test conditions, as GEARS'
  reference and the paper's numbers for those scenarios do: an oracle there, and its metrics say so.
"""

from __future__ import annotations

import numpy as np

from sclong.tasks.perturbation.screen import CONTROL, Predictions, Screen, Split, pair_controls, row_mean

ADDITIVE_NOT_APPLICABLE = "not applicable: the additive model of a single perturbation is its own measurement"
ADDITIVE_ORACLE = {
    scenario: "oracle: adds the measured effects of test singles (GEARS' additive reference)"
    for scenario in ("seen_0_2", "seen_1_2")
}


def no_change(screen: Screen, split: Split, rng: np.random.Generator) -> Predictions:
    """Mean of the paired control cells of every test condition."""
    pairs = pair_controls(screen, split.test, rng)
    return {c: row_mean(screen.adata.X, pairs.controls[pairs.conditions == c]) for c in split.test}


def additive(screen: Screen, split: Split) -> Predictions:
    """Control mean plus the measured single deltas, for every test double whose singles were measured."""
    measured = set(screen.conditions.tolist())
    control = screen.control_mean()
    predictions = {}
    for condition in split.test:
        singles = [f"{g}+{CONTROL}" for g in screen.perturbed(condition)]
        if len(singles) == 2 and set(singles) <= measured:
            predictions[condition] = control + sum(screen.mean(s) - control for s in singles)
    return predictions
