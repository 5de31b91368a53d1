"""Download a URL to a file: checksum verification, retries with back-off, resume, atomic rename.

A download is written to ``<target>.part``; an interrupted transfer resumes from there with an
HTTP ``Range`` request. The finished file is hashed and compared with the expected sha256 (from the
config, or from the checksum lock file written by the first download of a source without one).
A file with the wrong checksum is moved aside to ``<target>.rejected`` and never used.

The file's bytes are stored exactly as the server holds them: the request asks for no transfer
encoding (``Accept-Encoding: identity``), and a server that still sends ``Content-Encoding: gzip``
(common for ``.gz`` files) is not decoded, so checksums and resumed ranges refer to the raw bytes.

The retry policy is the config's ``download`` section, passed to the command as one ``--settings`` mapping.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3

from sclong.errors import ConfigError, InputError
from sclong.io.hashing import file_sha256
from sclong.progress import Progress
from sclong.settings import add_settings_argument, from_mapping, parse_settings

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
HTML_MARKERS = (b"<!doctype html", b"<html")
RETRYABLE = (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a download is retried (the config's ``download`` section)."""

    attempts: int
    backoff_s: float
    timeout_s: float

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int) or self.attempts < 1:
            raise ConfigError("download.attempts", f"must be an integer >= 1, got {self.attempts!r}")
        if not isinstance(self.backoff_s, int | float) or self.backoff_s < 0:
            raise ConfigError("download.backoff_s", f"must be a number >= 0, got {self.backoff_s!r}")
        if not isinstance(self.timeout_s, int | float) or self.timeout_s <= 0:
            raise ConfigError("download.timeout_s", f"must be a number > 0, got {self.timeout_s!r}")


class TransientError(Exception):
    """A failure worth retrying (dropped connection, server error)."""


def _looks_like_html(path: Path, url: str) -> bool:
    if url.lower().split("?")[0].endswith((".html", ".htm")):
        return False
    with open(path, "rb") as handle:
        head = handle.read(512).lstrip().lower()
    return head.startswith(HTML_MARKERS)


def _fetch_once(url: str, part: Path, timeout_s: float) -> None:
    """One HTTP transfer into ``part``, resuming from its current size when the server allows it."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    with requests.get(url, headers=headers, stream=True, timeout=timeout_s) as response:
        if response.status_code == 416:  # the part file already holds everything
            return
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise InputError(url, f"download failed with HTTP {response.status_code} {response.reason}")
        resumed = response.status_code == 206
        if offset and not resumed:
            log.info("server ignored the Range request; restarting %s from byte 0", url)
            offset = 0
        expected = response.headers.get("Content-Length")
        total = offset + int(expected) if expected is not None else None
        with open(part, "ab" if resumed else "wb") as handle, Progress(total, part.name, "B", initial=offset) as bar:
            for chunk in response.raw.stream(CHUNK_BYTES, decode_content=False):
                handle.write(chunk)
                bar.update(len(chunk))
        if total is not None and part.stat().st_size < total:
            raise TransientError(f"connection closed after {part.stat().st_size} of {total} bytes")


def _fetch_with_retries(url: str, part: Path, policy: RetryPolicy) -> None:
    for attempt in range(1, policy.attempts + 1):
        try:
            _fetch_once(url, part, policy.timeout_s)
            return
        except (TransientError, *RETRYABLE) as err:
            if attempt == policy.attempts:
                raise InputError(url, f"download failed after {attempt} attempts: {err}") from err
            wait = policy.backoff_s * 2 ** (attempt - 1)
            log.warning("attempt %d/%d for %s failed (%s); retrying in %.1f s", attempt, policy.attempts,
                        url, err, wait)
            time.sleep(wait)


def read_lock(lock_file: Path) -> dict[str, str]:
    """Checksums recorded by earlier downloads: URL -> sha256."""
    if not lock_file.exists():
        return {}
    entries = {}
    for number, line in enumerate(lock_file.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or len(fields[1]) != 64:
            raise InputError(lock_file, f"line {number} is not '<url>\\t<sha256>'")
        entries[fields[0]] = fields[1]
    return entries


def record_in_lock(lock_file: Path, url: str, sha256: str) -> None:
    """Add ``url``'s checksum to the lock file (safe against concurrent downloads)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        known = {line.split("\t")[0] for line in handle.read().splitlines() if "\t" in line}
        if url not in known:
            if handle.tell() == 0:
                handle.write("# sha256 of every source downloaded without a checksum in the config; commit me\n")
            handle.write(f"{url}\t{sha256}\n")


def download(url: str, target: str | Path, sha256: str | None = None, lock_file: str | Path | None = None, *,
             policy: RetryPolicy) -> str:
    """Download ``url`` to ``target`` and return its sha256.

    The expected checksum is ``sha256`` or, failing that, the one the lock file recorded for ``url``;
    with neither, the download's checksum is recorded in the lock file for later runs to verify.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = Path(lock_file) if lock_file else None
    expected = sha256 or (read_lock(lock_path).get(url) if lock_path else None)
    part = target.with_name(target.name + ".part")
    _fetch_with_retries(url, part, policy)
    if _looks_like_html(part, url):
        rejected = target.with_name(target.name + ".rejected")
        os.replace(part, rejected)
        raise InputError(url, f"server sent an HTML page instead of data (kept aside as {rejected})")
    actual = file_sha256(part)
    if expected and actual != expected.lower():
        rejected = target.with_name(target.name + ".rejected")
        os.replace(part, rejected)
        raise InputError(url, f"sha256 mismatch: expected {expected}, got {actual} (kept aside as {rejected})")
    os.replace(part, target)
    if not expected and lock_path:
        record_in_lock(lock_path, url, actual)
        log.info("recorded sha256 %s of %s in %s", actual, url, lock_path)
    log.info("downloaded %s -> %s (%d bytes, sha256 %s)", url, target, target.stat().st_size, actual)
    return actual


def main(argv: list[str] | None = None) -> int:
    """Command line: ``sclong download URL TARGET --settings JSON [--sha256 H] [--lock-file F]``."""
    parser = argparse.ArgumentParser(prog="sclong download", description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("target", type=Path)
    parser.add_argument("--sha256", default=None, help="expected checksum (hex)")
    parser.add_argument("--lock-file", type=Path, default=None, help="checksum lock file (TSV url, sha256)")
    add_settings_argument(parser, "download")
    args = parser.parse_args(argv)
    policy = from_mapping(RetryPolicy, parse_settings(args.settings, "download"), "download")
    download(args.url, args.target, args.sha256 or None, args.lock_file, policy=policy)
    return 0


if __name__ == "__main__":
    from sclong.cli import run_module_main

    sys.exit(run_module_main(__name__, sys.argv[1:]))
