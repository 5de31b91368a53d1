"""The task device of tasks.device."""

from __future__ import annotations

import pytest
import torch

from sclong.errors import ConfigError
from sclong.tasks.device import torch_device


@pytest.mark.parametrize(("usable", "device", "expected"), [
    (True, "auto", "cuda"), (False, "auto", "cpu"), (True, "cpu", "cpu"), (False, "cpu", "cpu"), (True, "cuda", "cuda"),
])  # fmt: skip
def test_torch_device(monkeypatch: pytest.MonkeyPatch, usable: bool, device: str, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: usable)
    assert torch_device(device) == expected


def test_cuda_without_a_device_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="tasks.device.*no CUDA device"):
        torch_device("cuda")
