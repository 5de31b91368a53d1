"""Errors that reach users as one clear line."""

from __future__ import annotations

from pathlib import Path


class SclongError(Exception):
    """Base class of every error the workflow reports to users."""


class InputError(SclongError):
    """A user-supplied file is unusable; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(SclongError):
    """A configuration value is invalid; the message names the key."""

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"config key '{key}': {problem}")
