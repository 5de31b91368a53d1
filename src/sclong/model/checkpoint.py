"""A model checkpoint: one directory that carries the model and the gene files it belongs to.

Files (:func:`save_model` writes each atomically, ``manifest.json`` last):

* ``model.safetensors``: every parameter and buffer, GO graph buffers and FAVOR+ projection matrices
  included, so a loaded model reproduces the saved one's outputs exactly;
* ``model_config.json``: the :class:`~sclong.model.config.ModelConfig`;
* ``vocabulary.tsv``: a copy of the vocabulary the model was trained with (row ``i`` is gene ``i``
  of the model);
* ``gene_table.tsv.gz``: a copy of the gene table the vocabulary was built from (symbols and their
  previous and alias names, to map a dataset's genes);
* ``manifest.json``: ``n_genes`` and the size and sha256 of each file above.

:func:`load_model` and :func:`load_checkpoint` check the manifest before they read anything else:
every file present, of its recorded size and sha256, and the vocabulary's row count equal to the
model's ``n_genes``. A truncated, corrupted, modified or swapped file is an
:class:`~sclong.errors.InputError` naming it, so a model can be neither loaded from damaged weights
nor paired with another vocabulary. Optimizer, scheduler and RNG state are the trainer's
(:mod:`sclong.train.checkpoint`).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sclong.errors import ConfigError, InputError
from sclong.io.atomic import atomic_path
from sclong.io.hashing import file_sha256
from sclong.knowledge.files import is_gzip
from sclong.knowledge.genes import GeneTable, read_gene_table
from sclong.knowledge.vocabulary import read_vocabulary
from sclong.model.config import ENCODERS, ModelConfig
from sclong.model.sclong import ScLong

WEIGHTS = "model.safetensors"
CONFIG = "model_config.json"
VOCABULARY = "vocabulary.tsv"
GENE_TABLE = "gene_table.tsv.gz"
MANIFEST = "manifest.json"
FILES = (WEIGHTS, CONFIG, VOCABULARY, GENE_TABLE)
FORMAT = "sclong-checkpoint/1"
PROJECTION_SUFFIX = "fast_attention.projection_matrix"
Attention = Literal["performer", "sdpa"]


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the model, its vocabulary and gene table, and the sha256 of its weights."""

    model: ScLong
    vocabulary: pd.DataFrame
    gene_table: GeneTable
    sha256: str


def save_model(directory: str | Path, model: ScLong, *, vocabulary: str | Path, gene_table: str | Path) -> Path:
    """Write the checkpoint of ``model`` trained with the ``vocabulary`` TSV and ``gene_table`` TSV(.gz).

    The files must pass :func:`check_gene_files`; both are copied (a plain gene table is gzipped).
    Returns ``directory``.
    """
    directory = Path(directory)
    check_gene_files(vocabulary, gene_table, model.config.n_genes)
    (directory / MANIFEST).unlink(missing_ok=True)  # an interrupted rewrite reads as incomplete
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    with atomic_path(directory / CONFIG) as tmp:
        tmp.write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    with atomic_path(directory / VOCABULARY) as tmp:
        shutil.copyfile(vocabulary, tmp)
    with atomic_path(directory / GENE_TABLE) as tmp:
        if is_gzip(gene_table):
            shutil.copyfile(gene_table, tmp)
        else:
            with open(gene_table, "rb") as source, gzip.GzipFile(tmp, "wb", mtime=0) as target:
                shutil.copyfileobj(source, target)
    files = {name: {"bytes": (directory / name).stat().st_size, "sha256": file_sha256(directory / name)}
             for name in FILES}  # fmt: skip
    manifest = {"format": FORMAT, "n_genes": model.config.n_genes, "files": files}
    with atomic_path(directory / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    return directory


def check_gene_files(vocabulary: str | Path, gene_table: str | Path, n_genes: int) -> None:
    """Check that ``vocabulary`` has ``n_genes`` rows, all of them genes of ``gene_table``."""
    genes = read_vocabulary(vocabulary)
    if len(genes) != n_genes:
        raise InputError(vocabulary, f"has {len(genes)} genes, the model (and its corpus) {n_genes}")
    known = read_gene_table(gene_table).frame.index
    unknown = genes["ensembl_id"][~genes["ensembl_id"].isin(known)].tolist()
    if unknown:
        raise InputError(gene_table, f"lacks {len(unknown)} vocabulary gene(s) ({', '.join(unknown[:3])}): "
                                     f"not the gene table {vocabulary} was built from")  # fmt: skip


def verify_checkpoint(directory: str | Path) -> dict[str, Any]:
    """The manifest of a checkpoint directory, once every file it lists has its recorded size and sha256."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not directory.is_dir():
        raise InputError(directory, "checkpoint directory not found")
    if not path.is_file():
        raise InputError(path, "missing: not a complete checkpoint, or one written by an older sclong "
                               "(re-run pretraining)")  # fmt: skip
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        ok = (
            manifest["format"] == FORMAT
            and isinstance(manifest["n_genes"], int)
            and sorted(files) == sorted(FILES)
            and all(isinstance(files[n]["bytes"], int) and isinstance(files[n]["sha256"], str) for n in FILES)
        )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise InputError(path, f"unreadable checkpoint manifest ({type(err).__name__}: {err})") from None
    if not ok:
        raise InputError(path, f"not a {FORMAT} manifest with n_genes and the size and sha256 of {', '.join(FILES)}")
    for name in FILES:
        file, recorded = directory / name, files[name]
        if not file.is_file():
            raise InputError(file, "missing from the checkpoint (restore it or re-run pretraining)")
        size = file.stat().st_size
        if size != recorded["bytes"]:
            state = "empty" if size == 0 else "truncated" if size < recorded["bytes"] else "longer than recorded"
            raise InputError(file, f"{state}: {size:,} bytes, the manifest records {recorded['bytes']:,} "
                                   "(restore it or re-run pretraining)")  # fmt: skip
        if file_sha256(file) != recorded["sha256"]:
            raise InputError(file, "sha256 differs from the manifest: the file was corrupted, modified or replaced "
                                   "(restore it or re-run pretraining)")  # fmt: skip
    return manifest


def load_model(
    directory: str | Path, map_location: str | torch.device = "cpu", attention: Attention | None = None
) -> ScLong:
    """Rebuild the saved :class:`ScLong` on ``map_location``, after :func:`verify_checkpoint`.

    ``attention`` (``performer`` | ``sdpa``) switches every encoder's backend: the weights carry over
    because both backends share parameter names; switching to ``performer`` draws fresh FAVOR+
    projection matrices.
    """
    return _load(Path(directory), map_location, attention)[0]


def load_checkpoint(
    directory: str | Path, map_location: str | torch.device = "cpu", attention: Attention | None = None
) -> Checkpoint:
    """The verified model (as :func:`load_model`) with the vocabulary and gene table it was trained with."""
    directory = Path(directory)
    model, vocabulary, sha256 = _load(directory, map_location, attention)
    return Checkpoint(model, vocabulary, read_gene_table(directory / GENE_TABLE), sha256)


def read_model_config(directory: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` saved beside the weights (not verified: see :func:`verify_checkpoint`)."""
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise InputError(path, "model config not found (expected a directory written by save_model)")
    try:
        return ModelConfig.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as err:
        raise InputError(path, f"not valid JSON: {err}") from err
    except ConfigError as err:
        raise InputError(path, f"invalid model config ({err})") from err


def _load(
    directory: Path, map_location: str | torch.device, attention: Attention | None
) -> tuple[ScLong, pd.DataFrame, str]:
    """The verified checkpoint's model, vocabulary and weights sha256."""
    manifest = verify_checkpoint(directory)
    config = read_model_config(directory)
    vocabulary = _checked_vocabulary(directory, manifest, config)
    return _build(directory, config, map_location, attention), vocabulary, manifest["files"][WEIGHTS]["sha256"]


def _checked_vocabulary(directory: Path, manifest: dict[str, Any], config: ModelConfig) -> pd.DataFrame:
    """The checkpoint's vocabulary, whose rows must number the manifest's and the model config's genes."""
    path = directory / VOCABULARY
    vocabulary = read_vocabulary(path)
    n_genes = config.n_genes
    if not len(vocabulary) == manifest["n_genes"] == n_genes:
        raise InputError(path, f"has {len(vocabulary)} genes, the model {n_genes} (manifest: {manifest['n_genes']})")
    return vocabulary


def _build(
    directory: Path, config: ModelConfig, map_location: str | torch.device, attention: Attention | None
) -> ScLong:
    path = directory / WEIGHTS
    try:
        # clone: tensors viewing one unaligned file buffer take other CPU kernels (outputs differ in the last bit)
        state = {k: v.clone() for k, v in load_file(str(path), device=str(torch.device(map_location))).items()}
        graph = (state["gene_encoder.gene2vec"], state["gene_encoder.edge_index"], state["gene_encoder.edge_weight"])
        if attention is None or all(getattr(config, name).attention == attention for name in ENCODERS):
            with torch.device("meta"):
                model = ScLong(config, *graph)
            model.load_state_dict(state, strict=True, assign=True)
            return model
        switched = {name: dataclasses.replace(getattr(config, name), attention=attention) for name in ENCODERS}
        config = dataclasses.replace(config, **switched)
        with torch.device(map_location):
            model = ScLong(config, *graph)
        wanted = model.state_dict()
        missing, _ = model.load_state_dict({k: v for k, v in state.items() if k in wanted}, strict=False)
    except (SafetensorError, KeyError, RuntimeError, ValueError) as err:
        raise InputError(path, f"weights do not fit {CONFIG} ({str(err).splitlines()[0]})") from None
    if any(not key.endswith(PROJECTION_SUFFIX) for key in missing):
        raise InputError(path, f"weights lack {[k for k in missing if not k.endswith(PROJECTION_SUFFIX)][:3]}")
    return model
