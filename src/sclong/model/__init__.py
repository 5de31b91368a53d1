"""The scLong model: configuration, modules, checkpoints."""

from sclong.model.checkpoint import Checkpoint, load_checkpoint, load_model, save_model
from sclong.model.config import EncoderConfig, ModelConfig, paper_model_config
from sclong.model.sclong import ScLong, ScLongOutput, cell_vectors, randomize_mini_encoder, rank_elements

__all__ = [
    "Checkpoint",
    "EncoderConfig",
    "ModelConfig",
    "ScLong",
    "ScLongOutput",
    "cell_vectors",
    "load_checkpoint",
    "load_model",
    "paper_model_config",
    "randomize_mini_encoder",
    "rank_elements",
    "save_model",
]
