"""The pretraining corpus: Census queries, QC, normalisation, the demo's local Census and simulator."""
