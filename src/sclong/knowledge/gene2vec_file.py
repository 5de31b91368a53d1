"""Read gene vectors in word2vec text format (Gene2vec's distribution format)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from sclong.errors import InputError
from sclong.knowledge.files import open_text


def _has_header(path: str | Path) -> bool:
    """Whether the first line is a word2vec ``<count> <dim>`` header."""
    with open_text(path) as handle:
        tokens = handle.readline().split()
    return len(tokens) == 2 and all(token.isdigit() for token in tokens)


def read_word2vec_text(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Return the words (gene symbols) and their float32 vectors; the header line is optional."""
    try:
        frame = pd.read_csv(
            path,
            sep=r"\s+",
            header=None,
            skiprows=1 if _has_header(path) else 0,
            dtype={0: str},
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
        )
        vectors = frame.iloc[:, 1:].to_numpy(dtype=np.float32)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a word2vec text file ({err})") from err
    if frame.shape[1] < 2 or np.isnan(vectors).any():
        raise InputError(path, "not a word2vec text file (rows must be a word followed by equally many numbers)")
    return frame[0].tolist(), vectors
