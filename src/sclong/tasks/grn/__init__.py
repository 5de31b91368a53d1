"""Parts of the GRN inference task (:mod:`sclong.tasks.grn_inference`).

``data`` (BEELINE's CSVs, ground truth, expression, evaluated genes), ``metrics`` (EPR, AUPR ratio),
``settings`` (the method blocks of the config), ``deepsem``, ``genie3``, ``go_scores`` (the GO Graph
baseline) and ``similarity`` (the scLong variants' initial A).
"""
