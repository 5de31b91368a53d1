"""Progress of long loops: a tqdm bar on a terminal, one log line every few seconds otherwise.

Snakemake rules send stderr to a log file, where a bar's carriage returns make noise; there a
:class:`Progress` logs lines such as ``embedding: 3,200/10,000 cells (32%), 220 cells/s, eta 31 s`` at most
every ``interval_s`` seconds, and one closing line with the total and the mean rate.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import IO, Any, TypeVar

log = logging.getLogger(__name__)

INTERVAL_S = 10.0
T = TypeVar("T")
BYTE_UNITS = ("B", "kB", "MB", "GB", "TB")


def _number(value: float, unit: str) -> str:
    """``3,200``, or for bytes a decimal multiple with its unit (``12.3 MB``)."""
    if unit != "B":
        return f"{value:,.0f}"
    for prefix in BYTE_UNITS[:-1]:
        if abs(value) < 1000:
            return f"{value:.0f} {prefix}" if prefix == "B" else f"{value:.1f} {prefix}"
        value /= 1000
    return f"{value:.1f} {BYTE_UNITS[-1]}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Progress:
    """Count work done towards ``total`` (``None``: unknown) in ``unit``; use as a context manager.

    ``initial`` is work done before (a resumed download). On a terminal ``stream`` a tqdm bar shows it;
    elsewhere a line is logged at most every ``interval_s`` seconds, plus one on leaving; ``enabled``
    False shows nothing (e.g. on the other ranks of a distributed run).
    """

    def __init__(
        self,
        total: int | None,
        desc: str,
        unit: str,
        *,
        initial: int = 0,
        interval_s: float = INTERVAL_S,
        stream: IO[str] | None = None,
        enabled: bool = True,
    ) -> None:
        self.total, self.desc, self.unit, self.interval_s, self.enabled = total, desc, unit, interval_s, enabled
        self.done = self.initial = initial
        self._start = self._last = time.monotonic()
        stream = sys.stderr if stream is None else stream
        self._bar: Any = None
        if enabled and stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, unit_scale=unit == "B",
                             leave=False, file=stream)  # fmt: skip

    def update(self, n: int) -> None:
        """Record ``n`` more units of work."""
        self.done += n
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            log.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        """The progress line at time ``now`` (monotonic seconds; default: now)."""
        elapsed = max((time.monotonic() if now is None else now) - self._start, 1e-9)
        rate = (self.done - self.initial) / elapsed
        unit = "" if self.unit == "B" else f" {self.unit}"
        total = f"/{_number(self.total, self.unit)}" if self.total else ""
        text = f"{self.desc}: {_number(self.done, self.unit)}{total}{unit}"
        if self.total:
            text += f" ({100 * self.done / self.total:.0f}%)"
        text += f", {_number(rate, self.unit)}{unit}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", eta {_duration((self.total - self.done) / rate)}"
        return text

    def close(self) -> None:
        """Finish: close the bar, or log the closing line (total and mean rate)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.enabled:
            log.info("%s; %s in all", self.line(), _duration(time.monotonic() - self._start))
        self.enabled = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def track(items: Iterable[T], total: int | None, desc: str, unit: str) -> Iterator[T]:
    """Yield ``items``, counting one ``unit`` for each (a :class:`Progress` around a loop)."""
    with Progress(total, desc, unit) as bar:
        for item in items:
            yield item
            bar.update(1)
