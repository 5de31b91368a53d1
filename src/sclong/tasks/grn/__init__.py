"""Parts of the GRN inference task (:mod:`sclong.tasks.grn_inference`): data, metrics and methods."""
