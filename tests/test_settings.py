"""Stage settings built from one config mapping: every key required, none unknown, null kept."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from sclong.errors import ConfigError
from sclong.settings import from_mapping, parse_settings, to_json


@dataclass(frozen=True)
class Example:
    top_k: int
    clip_norm: float | None


def test_null_stays_none() -> None:
    assert from_mapping(Example, parse_settings(to_json({"top_k": 3, "clip_norm": None}), "x"), "x") == Example(3, None)


def test_missing_and_unknown_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"'stage.clip_norm': is required"):
        from_mapping(Example, {"top_k": 3}, "stage")
    with pytest.raises(ConfigError, match=r"'stage.top_kk': unknown key \(allowed here: clip_norm, top_k\)"):
        from_mapping(Example, {"top_kk": 3, "clip_norm": 1.0}, "stage")


def test_bad_json_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not valid JSON"):
        parse_settings("{top_k: 3", "stage")
    with pytest.raises(ConfigError, match="JSON object"):
        parse_settings("[1]", "stage")
