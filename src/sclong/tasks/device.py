"""The torch device a task runs on (``tasks.device``); only modules that run torch import this one."""

from __future__ import annotations

from typing import Literal

from sclong.errors import ConfigError

Device = Literal["auto", "cpu", "cuda"]


def torch_device(device: Device) -> str:
    """The torch device of ``tasks.device``: ``auto`` is CUDA when usable, else the CPU; ``cuda`` without a
    usable CUDA device is refused."""
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("tasks.device", "is cuda but no CUDA device is usable")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
