"""Resume state of a pretraining run, written atomically under ``<out>/checkpoint/step-NNNNNNNNN/``.

Each checkpoint directory holds ``weights.safetensors`` (every parameter and buffer of the model) and
``state.pt`` (optimizer, scheduler, RNG states, data position, metrics so far, ...). A directory is
written under a temporary name and renamed when complete; older ones are deleted only after that, so a
``kill -9`` at any moment leaves the last good checkpoint in place.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from sclong.errors import InputError
from sclong.io.atomic import atomic_path

WEIGHTS = "weights.safetensors"
STATE = "state.pt"


def rng_state() -> dict[str, Any]:
    """The python, numpy, torch and CUDA random states, in types ``torch.load(weights_only=True)`` accepts."""
    numpy_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    random.setstate(state["python"])
    numpy = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": numpy["key"].numpy().astype(np.uint32), "pos": numpy["pos"]},
            "has_gauss": numpy["has_gauss"],
            "gauss": numpy["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_root(out_dir: str | Path) -> Path:
    """The directory holding the checkpoints of a run."""
    return Path(out_dir) / "checkpoint"


def latest(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or ``None``."""
    root = checkpoint_root(out_dir)
    found = sorted(root.glob("step-*")) if root.is_dir() else []
    return found[-1] if found else None


def save(out_dir: str | Path, step: int, model: torch.nn.Module, state: dict[str, Any]) -> Path:
    """Write checkpoint ``step`` of ``model`` (unwrapped, not DDP) and ``state``; delete older ones."""
    root = checkpoint_root(out_dir)
    target = root / f"step-{step:09d}"
    with atomic_path(target, directory=True) as tmp:
        safetensors.torch.save_model(model, str(tmp / WEIGHTS))
        torch.save(state, tmp / STATE)
    for old in root.iterdir():
        if old != target and (old.name.startswith("step-") or old.name.startswith(".step-")):
            shutil.rmtree(old, ignore_errors=True)
    return target


def load(path: str | Path, model: torch.nn.Module, device: torch.device) -> dict[str, Any]:
    """Load the weights of checkpoint ``path`` into ``model`` and return its state."""
    path = Path(path)
    try:
        missing, unexpected = safetensors.torch.load_model(
            model, str(path / WEIGHTS), strict=False, device=str(device)
        )
        state = torch.load(path / STATE, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as err:
        raise InputError(path, f"unreadable checkpoint ({err})") from None
    if missing or unexpected:
        raise InputError(
            path, f"checkpoint does not fit the model: missing {missing}, unexpected {unexpected}"
        )
    return state
