"""The Random LEG ablation: a trained scLong model whose mini encoder is redrawn from N(0, 1).

``python -m sclong.model.random_leg --checkpoint results/pretrain/sclong --seed 0 --out DIR`` loads the
trained model (verified, :func:`sclong.model.checkpoint.load_model`), redraws every mini-encoder
parameter and saves the result as a checkpoint of its own, with copies of the source checkpoint's
vocabulary and gene table.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from sclong.errors import InputError
from sclong.model.checkpoint import GENE_TABLE, VOCABULARY, load_model, save_model
from sclong.model.sclong import randomize_mini_encoder

log = logging.getLogger(__name__)


def derive_random_leg(checkpoint: str, seed: int, out: str) -> None:
    """Write the Random LEG variant of the model saved in ``checkpoint`` to ``out``."""
    model = load_model(checkpoint)
    if model.mini is None:
        raise InputError(checkpoint, "the model has no mini encoder (a w/o LEG model cannot be randomised)")
    randomize_mini_encoder(model, seed)
    save_model(out, model, vocabulary=Path(checkpoint) / VOCABULARY, gene_table=Path(checkpoint) / GENE_TABLE)
    redrawn = sum(p.numel() for p in model.mini.parameters())
    log.info("random LEG: %d mini-encoder parameters redrawn from N(0, 1) (seed %d) -> %s", redrawn, seed, out)


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`derive_random_leg`."""
    parser = argparse.ArgumentParser(prog="python -m sclong.model.random_leg", description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="directory of the trained sclong model")
    parser.add_argument("--seed", type=int, required=True, help="seed of the N(0, 1) draws")
    parser.add_argument("--out", required=True, help="directory to write the Random LEG model to")
    args = parser.parse_args(argv)
    derive_random_leg(args.checkpoint, args.seed, args.out)
    return 0


if __name__ == "__main__":
    from sclong.cli import run_module_main

    sys.exit(run_module_main(__name__, sys.argv[1:]))
