"""Parts of the genetic perturbation task (:mod:`sclong.tasks.genetic_perturbation`).

``screen`` (the shared types: Screen, Split, Pairs, Predictions), ``reader`` (a GEARS-format AnnData ->
Screen), ``de`` (GEARS' DE genes), ``split`` (GEARS' 'simulation' split), ``metrics`` (GEARS' metrics per
condition and scenario), ``gi`` (genetic-interaction magnitude scores) and ``baselines`` (No-Change,
additive). The models are in ``model`` and ``gears_baseline``.
"""
