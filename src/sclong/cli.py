"""The ``sclong`` command: one sub-command per module that has a ``main(argv)``.

This module imports nothing heavy: ``sclong --help`` lists the commands without loading any of them, and
a command's module is imported only when it runs.
"""

from __future__ import annotations

import importlib
import signal
import sys
from types import FrameType

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


class Terminated(SystemExit):
    """SIGTERM, raised in the main thread so that every ``finally`` and ``with`` block runs."""


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated(128 + signum)


def run_module_main(module: str, argv: list[str]) -> int:
    """Run ``module.main(argv)``; report a :class:`SclongError` as one line on stderr and exit 1.

    SIGTERM (exit status 143) and Ctrl-C (130) unwind through every ``finally`` and ``with`` block, so
    temporary outputs are removed, and end with one line too (a command may install its own SIGTERM
    handler instead, as pretraining does).
    """
    configure_logging()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        return importlib.import_module(module).main(argv) or 0
    except SclongError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except Terminated as stop:
        print("error: stopped by SIGTERM (no partial output kept)", file=sys.stderr)
        return int(stop.code)
    except KeyboardInterrupt:
        print("error: interrupted (no partial output kept)", file=sys.stderr)
        return 130


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
