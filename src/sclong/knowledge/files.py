"""Open plain or gzip-compressed text inputs."""

from __future__ import annotations

import contextlib
import gzip
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pandas as pd

from sclong.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | Path) -> bool:
    """Whether the file starts with the gzip magic bytes."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == GZIP_MAGIC
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror or err})") from err


def open_text(path: str | Path) -> TextIO:
    """Open a text file for reading, decompressing it on the fly if it is gzipped."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


@contextlib.contextmanager
def plain_path(path: str | Path) -> Iterator[Path]:
    """Yield a path to an uncompressed copy of ``path`` (the file itself when it is not gzipped)."""
    if not is_gzip(path):
        yield Path(path)
        return
    with tempfile.TemporaryDirectory(prefix="sclong-") as tmp:
        plain = Path(tmp) / Path(path).name.removesuffix(".gz")
        with gzip.open(path, "rb") as source, open(plain, "wb") as target:
            shutil.copyfileobj(source, target)
        yield plain


def read_text_table(path: str | Path, required: tuple[str, ...], what: str) -> pd.DataFrame:
    """Read a TSV(.gz) as strings (empty cells stay ``""``); a missing column is an :class:`InputError`."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read {what} ({err})") from err
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise InputError(path, f"{what} lacks required column(s): {', '.join(missing)}")
    return frame
