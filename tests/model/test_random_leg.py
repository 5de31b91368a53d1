"""Random LEG: only the mini encoder of a saved model changes, the gene files travel, a w/o LEG model is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sclong.errors import InputError
from sclong.model.checkpoint import GENE_TABLE, VOCABULARY, load_checkpoint, load_model
from sclong.model.random_leg import derive_random_leg

from .helpers import save_tiny, tiny_model


def test_only_the_mini_encoder_is_redrawn(tmp_path: Path) -> None:
    model = tiny_model()
    save_tiny(tmp_path / "sclong", model)
    derive_random_leg(str(tmp_path / "sclong"), seed=3, out=str(tmp_path / "random_leg"))
    before = load_model(tmp_path / "sclong").state_dict()
    after = load_model(tmp_path / "random_leg").state_dict()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    mini = {name for name in before if name.startswith("mini.") and before[name].is_floating_point()}
    assert changed and changed <= mini
    weights = torch.cat([after[name].flatten() for name in sorted(changed)])
    assert abs(weights.mean().item()) < 0.1 and abs(weights.std().item() - 1) < 0.1
    for name in (VOCABULARY, GENE_TABLE):  # the source's gene files, byte for byte
        assert (tmp_path / "random_leg" / name).read_bytes() == (tmp_path / "sclong" / name).read_bytes()
    assert load_checkpoint(tmp_path / "random_leg").sha256 != load_checkpoint(tmp_path / "sclong").sha256


def test_model_without_mini_encoder_is_refused(tmp_path: Path) -> None:
    save_tiny(tmp_path / "wo_leg", tiny_model(use_leg=False))
    with pytest.raises(InputError, match="no mini encoder"):
        derive_random_leg(str(tmp_path / "wo_leg"), seed=0, out=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
