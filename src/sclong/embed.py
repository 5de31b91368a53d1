"""``sclong embed``: scLong representations for any AnnData (the command line and its settings).

Usage::

    sclong embed INPUT --checkpoint DIR -o OUT.h5ad [--layer NAME] [--input-kind auto|raw|log1p]
                 [--genes A,B|all --gene-output GENES.zarr [--gene-reduce none|mean]]
                 [--settings JSON | --batch-size N --min-coverage F --normalization M --precision P]
                 [--device auto|cpu|cuda[:N]] [--attention performer|sdpa]

``INPUT`` is an ``.h5ad`` file or a ``.zarr`` AnnData store; the checkpoint directory carries the model,
its vocabulary and its gene table. What is computed, and the rules of gene mapping, coverage and input
kinds, are in :mod:`sclong.embedding` (imported only when a run starts, so ``--help`` is immediate).

Settings (:class:`EmbedSettings`): ``batch_size``, ``min_coverage``, ``normalization``, ``precision``.
Their defaults are the class's, the one place the standalone command takes them from. The workflow
passes its config section ``embed`` (minus ``datasets``, ``variants``, ``threads``) as one ``--settings``
JSON mapping; a mapping may give any subset of the settings, an unknown key is an error, and a setting
may not come both from ``--settings`` and from its own flag.

Every option and path is checked before anything heavy is imported or loaded: option values by the
parser, then the output paths (not an existing directory, a writable parent), the input and checkpoint
paths and the device; an input without usable expression values (see
:func:`sclong.embedding.input_matrix`) is refused before the model is loaded.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

from sclong.cli import run_module_main
from sclong.data.kinds import NORMALIZATIONS, Normalization
from sclong.errors import ConfigError, InputError
from sclong.settings import from_mapping, parse_settings

log = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16"]
InputKind = Literal["auto", "raw", "log1p"]
GeneReduce = Literal["none", "mean"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
INPUT_KINDS: tuple[str, ...] = get_args(InputKind)
GENE_REDUCTIONS: tuple[str, ...] = get_args(GeneReduce)
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
SECTION = "embed"


@dataclass(frozen=True)
class EmbedSettings:
    """Settings of an embedding run; the defaults are the standalone command's (rules in the module doc).

    ``batch_size``: cells per forward pass; ``min_coverage``: the smallest fraction of the vocabulary's
    genes the input must feed; ``normalization``: of raw counts, as in pretraining (``paper`` or
    ``scanpy``); ``precision``: ``fp32`` or ``bf16`` (bfloat16 autocast).
    """

    batch_size: int = 32
    min_coverage: float = 0.5
    normalization: Normalization = "paper"
    precision: Precision = "fp32"

    def __post_init__(self) -> None:
        checks = {
            "batch_size": (_is_int(self.batch_size) and self.batch_size >= 1, "an integer >= 1"),
            "min_coverage": (_is_number(self.min_coverage) and 0 <= self.min_coverage <= 1, "a number in [0, 1]"),
            "normalization": (self.normalization in NORMALIZATIONS, f"one of {', '.join(NORMALIZATIONS)}"),
            "precision": (self.precision in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
        }
        for name, (ok, wanted) in checks.items():
            if not ok:
                raise ConfigError(f"{SECTION}.{name}", f"must be {wanted}, got {getattr(self, name)!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _batch_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}")
    return value


def _device(text: str) -> str:
    if not DEVICE.match(text):
        raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    """The ``sclong embed`` parser; setting flags default to absent (:class:`EmbedSettings` has the defaults)."""
    defaults = EmbedSettings()
    parser = argparse.ArgumentParser(prog="sclong embed", description="scLong representations for any AnnData")
    parser.add_argument("input", help=".h5ad file or .zarr AnnData store (raw counts or log1p; var names "
                                      "gene symbols or Ensembl IDs)")  # fmt: skip
    parser.add_argument("--checkpoint", required=True, help="model directory (weights, vocabulary, gene table)")
    parser.add_argument("-o", "--output", required=True, help="output .h5ad (a copy of the input + X_sclong)")
    parser.add_argument("--layer", help="embed this layer instead of X (e.g. counts)")
    parser.add_argument("--input-kind", choices=INPUT_KINDS, default="auto",
                        help="auto: detect raw counts / log1p of normalised counts and refuse anything else; "
                             "raw or log1p: take the values as that (checked for range, not for count "
                             "structure)")  # fmt: skip
    parser.add_argument("--genes", help="comma-separated genes whose representations to write, or 'all'")
    parser.add_argument("--gene-output", help="zarr directory for the --genes representations")
    parser.add_argument("--gene-reduce", choices=GENE_REDUCTIONS, default="none",
                        help="mean: store the mean over the gene_dim features (cells x genes)")
    parser.add_argument("--settings", metavar="JSON",
                        help="settings as one JSON object (any of batch_size, min_coverage, normalization, "
                             "precision), as the workflow passes its config section 'embed'")  # fmt: skip
    suppress = argparse.SUPPRESS
    parser.add_argument("--batch-size", type=_batch_size, default=suppress,
                        help=f"cells per forward pass (default {defaults.batch_size})")
    parser.add_argument("--min-coverage", type=_fraction, default=suppress,
                        help="minimum fraction of the vocabulary's genes the input must feed "
                             f"(default {defaults.min_coverage})")  # fmt: skip
    parser.add_argument("--normalization", choices=NORMALIZATIONS, default=suppress,
                        help=f"normalisation of raw counts, as in pretraining (default {defaults.normalization})")
    parser.add_argument("--precision", choices=PRECISIONS, default=suppress,
                        help=f"bf16: bfloat16 autocast (default {defaults.precision})")
    parser.add_argument("--device", type=_device, default="auto",
                        help="auto (CUDA when usable, else CPU), cpu, cuda or cuda:N")
    parser.add_argument("--attention", choices=("performer", "sdpa"), help="override the attention backend")
    return parser


def settings_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> EmbedSettings:
    """:class:`EmbedSettings` from ``--settings`` and the setting flags (a setting given both ways is an error)."""
    mapping = parse_settings(args.settings, SECTION) if args.settings is not None else {}
    flags = {field.name: getattr(args, field.name) for field in fields(EmbedSettings) if hasattr(args, field.name)}
    both = sorted(set(mapping) & set(flags))
    if both:
        parser.error(f"--{both[0].replace('_', '-')} is given both as a flag and in --settings")
    return from_mapping(EmbedSettings, {**mapping, **flags}, SECTION)


def check_output(path: Path, *, directory: bool) -> None:
    """Refuse an output path that cannot be written, before any work: the wrong kind of existing entry,
    or no writable directory to create it in."""
    if path.is_dir() and not directory:
        raise InputError(path, "is a directory; -o takes the path of the .h5ad file to write")
    if path.exists() and not path.is_dir() and directory:
        raise InputError(path, "is a file; --gene-output takes the path of a zarr directory to write")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(path, f"cannot be created: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(path, f"cannot be written: no write permission in {parent}")


def resolve_device(parser: argparse.ArgumentParser, requested: str) -> str:
    """The torch device for ``requested`` (``auto``: CUDA when usable); a CUDA device that is not there is
    an option error."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            parser.error(f"--device {requested}: CUDA is not available here (torch {torch.__version__} finds no "
                         "usable GPU); use --device cpu or --device auto")  # fmt: skip
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            parser.error(f"--device {requested}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return requested


def load_checkpoint(directory: str, device: str, attention: str | None) -> Any:
    """The model, vocabulary, gene table and weights hash saved in ``directory``."""
    from sclong.model.checkpoint import load_checkpoint as load

    return load(directory, map_location=device, attention=attention)


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module doc)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = settings_from_args(parser, args)
    if (args.genes is None) != (args.gene_output is None):
        parser.error("--genes and --gene-output go together")
    genes = args.genes if args.genes in (None, "all") else [g.strip() for g in args.genes.split(",") if g.strip()]
    if genes == []:
        parser.error("--genes names no gene")
    check_output(Path(args.output), directory=False)
    if args.gene_output is not None:
        check_output(Path(args.gene_output), directory=True)
    if not Path(args.input).exists():
        raise InputError(args.input, "input AnnData not found (an .h5ad file or a .zarr directory)")
    if not Path(args.checkpoint).is_dir():
        raise InputError(args.checkpoint, "checkpoint directory not found")
    device = resolve_device(parser, args.device)

    from sclong import embedding
    from sclong.io.atomic import atomic_path

    adata = embedding.read_anndata(args.input)
    embedding.input_matrix(adata, args.layer, args.input)
    log.info("embedding %s (%d cells x %d genes) on %s", args.input, adata.n_obs, adata.n_vars, device)
    checkpoint = load_checkpoint(args.checkpoint, device, args.attention)
    out = embedding.embed_anndata(
        adata, checkpoint.model, checkpoint.vocabulary, gene_table=checkpoint.gene_table, settings=settings,
        layer=args.layer, input_kind=args.input_kind, genes=genes, gene_output=args.gene_output,
        gene_reduce=args.gene_reduce, source=args.input,
    )  # fmt: skip
    out.uns[embedding.UNS_KEY]["checkpoint_sha256"] = checkpoint.sha256
    with atomic_path(args.output) as tmp:
        out.write_h5ad(tmp)
    log.info("wrote %s (%d cells x %d)", args.output, *out.obsm[embedding.OBSM_KEY].shape)
    return 0


if __name__ == "__main__":  # `python -m sclong.embed`: run the importable module, whose classes sclong.embedding uses
    sys.exit(run_module_main("sclong.embed", sys.argv[1:]))
