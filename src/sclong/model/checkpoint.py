"""Save and load model weights: ``model.safetensors`` + ``model_config.json`` in one directory.

The weights include the GO graph buffers and the FAVOR+ projection matrices, so a loaded model
reproduces the saved one's outputs exactly. Optimizer, scheduler and RNG state are the trainer's.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from sclong.errors import InputError
from sclong.io.atomic import atomic_path
from sclong.model.config import ENCODERS, ModelConfig
from sclong.model.sclong import ScLong

WEIGHTS = "model.safetensors"
CONFIG = "model_config.json"
PROJECTION_SUFFIX = "fast_attention.projection_matrix"


def save_model(directory: str | Path, model: ScLong) -> Path:
    """Write ``directory/model.safetensors`` and ``directory/model_config.json`` (each atomically)."""
    directory = Path(directory)
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    with atomic_path(directory / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    with atomic_path(directory / CONFIG) as tmp:
        tmp.write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
    return directory


def read_model_config(directory: str | Path) -> ModelConfig:
    """The :class:`ModelConfig` saved beside the weights."""
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise InputError(path, "model config not found (expected a directory written by save_model)")
    try:
        return ModelConfig.from_dict(json.loads(path.read_text()))
    except json.JSONDecodeError as err:
        raise InputError(path, f"not valid JSON: {err}") from err


def load_model(
    directory: str | Path, map_location: str | torch.device = "cpu", attention: str | None = None
) -> ScLong:
    """Rebuild the saved :class:`ScLong` on ``map_location``.

    ``attention`` (``performer`` | ``sdpa``) switches every encoder's backend: the weights carry over
    because both backends share parameter names; switching to ``performer`` draws fresh FAVOR+
    projection matrices.
    """
    directory = Path(directory)
    config = read_model_config(directory)
    path = directory / WEIGHTS
    if not path.is_file():
        raise InputError(path, "model weights not found")
    # clone: tensors viewing one unaligned file buffer take other CPU kernels (outputs differ in the last bit)
    state = {k: v.clone() for k, v in load_file(str(path), device=str(torch.device(map_location))).items()}
    graph = (state["gene_encoder.gene2vec"], state["gene_encoder.edge_index"], state["gene_encoder.edge_weight"])
    if attention is None or all(getattr(config, name).attention == attention for name in ENCODERS):
        with torch.device("meta"):
            model = ScLong(config, *graph)
        model.load_state_dict(state, strict=True, assign=True)
        return model
    switched = {
        name: dataclasses.replace(getattr(config, name), attention=attention) for name in ENCODERS
    }
    config = dataclasses.replace(config, **switched)
    with torch.device(map_location):
        model = ScLong(config, *graph)
    wanted = model.state_dict()
    missing, unexpected = model.load_state_dict({k: v for k, v in state.items() if k in wanted}, strict=False)
    if any(not key.endswith(PROJECTION_SUFFIX) for key in missing):
        raise InputError(path, f"weights lack {[k for k in missing if not k.endswith(PROJECTION_SUFFIX)][:3]}")
    return model
