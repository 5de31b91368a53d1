"""File input/output: downloads, atomic writes, AnnData and CSR shard helpers."""
