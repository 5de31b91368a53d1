"""Stage settings: one section of the validated workflow config, handed to the package as one mapping.

Rules pass a config section as inline JSON (``--settings '{"top_k": 20, ...}'``); the stage builds a
frozen dataclass from it with :func:`from_mapping`. The dataclass declares no defaults for config keys:
the config file is the one place a value comes from, and a missing or unknown key is an error naming
it, so that no value is silently replaced (``null`` stays ``None``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from sclong.errors import ConfigError

T = TypeVar("T")


def from_mapping(cls: type[T], mapping: Mapping[str, Any], key: str) -> T:
    """Build dataclass ``cls`` from ``mapping``: exactly its init fields, each named ``key.<field>`` in errors."""
    if not isinstance(mapping, Mapping):
        raise ConfigError(key, f"must be a mapping, got {type(mapping).__name__}")
    fields = [field for field in dataclasses.fields(cls) if field.init]  # type: ignore[arg-type]
    names = {field.name for field in fields}
    unknown = sorted(set(mapping) - names)
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", f"unknown key (allowed here: {', '.join(sorted(names))})")
    required = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in mapping]
    if missing:
        raise ConfigError(f"{key}.{missing[0]}", "is required")
    return cls(**dict(mapping))


def parse_settings(text: str, key: str) -> dict[str, Any]:
    """The mapping of an inline JSON ``--settings`` value."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(key, f"--settings is not valid JSON ({err})") from err
    if not isinstance(value, dict):
        raise ConfigError(key, "--settings must be a JSON object")
    return value


def add_settings_argument(parser: argparse.ArgumentParser, key: str) -> None:
    """Add the required ``--settings`` option holding config section ``key`` as inline JSON."""
    parser.add_argument(
        "--settings", required=True, metavar="JSON", help=f"the config section '{key}' as one JSON object"
    )


def to_json(section: Mapping[str, Any]) -> str:
    """The compact JSON of a config section (what rules pass as ``--settings``)."""
    return json.dumps(section, sort_keys=True, separators=(",", ":"))
