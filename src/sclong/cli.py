"""The ``sclong`` command: one sub-command per module that has a ``main(argv)``."""

from __future__ import annotations

import importlib
import sys

from sclong.errors import SclongError
from sclong.logs import configure_logging

COMMANDS: dict[str, tuple[str, str]] = {
    "download": ("sclong.io.download", "fetch a URL with checksum, retries and resume"),
    "gene-table": ("sclong.knowledge.gene_table", "validate a gene table or convert HGNC's complete set"),
    "vocabulary": ("sclong.knowledge.vocabulary", "build the Ensembl gene vocabulary and its mapping report"),
    "go-graph": ("sclong.knowledge.go_graph", "GO Jaccard top-k gene graph"),
    "random-go": ("sclong.knowledge.random_go", "the Random GO ablation graph (U(0,1) weights)"),
    "gene2vec": ("sclong.knowledge.gene2vec", "Gene2vec matrix aligned to the vocabulary"),
    "simulate": ("sclong.data.simulate", "seeded GRN simulator of raw counts with ground truth"),
    "local-census": ("sclong.data.local_census", "a local, Census-shaped tiledbsoma store"),
    "corpus": ("sclong.data.corpus", "Census gene counts and the sharded, normalised corpus"),
    "pretrain": ("sclong.train.pretrain", "masked-value pretraining (resumable)"),
    "launch": ("sclong.train.launch", "torchrun / srun launch of pretraining"),
    "random-leg": ("sclong.model.random_leg", "the Random LEG ablation of a trained model"),
    "model-size": ("sclong.model.size", "parameter count of a model config (meta device)"),
    "embed": ("sclong.embed", "scLong representations for any .h5ad"),
}


def run_module_main(module: str, argv: list[str]) -> int:
    """Run ``module.main(argv)``; report a :class:`SclongError` as one line on stderr and exit 1."""
    configure_logging()
    try:
        return importlib.import_module(module).main(argv) or 0
    except SclongError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``sclong <command> ...`` to the module that implements the command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in sorted(COMMANDS.items())]
        print("usage: sclong <command> [options]\n\ncommands:\n" + "\n".join(lines), file=sys.stderr)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    return run_module_main(COMMANDS[argv[0]][0], argv[1:])


if __name__ == "__main__":
    sys.exit(main())
