"""Names of the kinds of expression values and of the normalisations (no heavy imports: parsers use them).

The rules behind the names are in :mod:`sclong.data.normalize`.
"""

from __future__ import annotations

from typing import Literal, get_args

Kind = Literal["raw", "log1p", "unknown"]
Normalization = Literal["paper", "scanpy"]
KINDS: tuple[str, ...] = get_args(Kind)
NORMALIZATIONS: tuple[str, ...] = get_args(Normalization)
