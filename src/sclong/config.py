"""Validation of the workflow configuration against config/schema.yaml, reported as one line."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from sclong.errors import ConfigError


def load_schema(path: str | Path) -> dict[str, Any]:
    """Read the JSON Schema (written as YAML)."""
    with open(path) as handle:
        return yaml.safe_load(handle)


def _key_of(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def _specificity(error: jsonschema.ValidationError) -> tuple[int, int]:
    rank = {"additionalProperties": 0, "type": 2, "required": 2}.get(str(error.validator), 1)
    return (-len(error.absolute_path), rank)


def _describe(error: jsonschema.ValidationError) -> ConfigError:
    if error.context:  # a oneOf/anyOf: report the branch error that says most about the value
        return _describe(min(error.context, key=_specificity))
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        prefix = _key_of(error)
        key = f"{prefix}.{unknown[0]}" if prefix != "<top level>" else unknown[0]
        return ConfigError(key, f"unknown key (allowed here: {', '.join(allowed)})")
    if error.validator == "required":
        missing = next(k for k in error.validator_value if k not in error.instance)
        prefix = _key_of(error)
        return ConfigError(f"{prefix}.{missing}" if prefix != "<top level>" else missing, "is required")
    return ConfigError(_key_of(error), error.message)


def validate_config(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first offending key, deepest error first."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (-len(e.absolute_path), e.path))
    if errors:
        raise _describe(errors[0])


def check_source_paths(sources: Mapping[str, Any], root: Path) -> None:
    """Every source given as a local ``path`` must exist."""
    for name, source in sources.items():
        if source and "path" in source and not (root / source["path"]).exists():
            raise ConfigError(f"sources.{name}.path", f"file not found: {source['path']}")
