"""Progress: log lines (no carriage returns) when stderr is not a terminal, a tqdm bar on a terminal."""

from __future__ import annotations

import io
import logging
import os

import pytest

from sclong.progress import Progress, track


def test_log_lines_off_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sclong.progress")
    stream = io.StringIO()
    with Progress(10_000, "embedding", "cells", interval_s=0, stream=stream) as progress:
        progress.update(3_200)
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("embedding: 3,200/10,000 cells (32%), ") and ", eta " in lines[0]
    assert lines[-1].startswith("embedding: 3,200/10,000 cells (32%), ") and lines[-1].endswith(" in all")
    assert stream.getvalue() == "" and not any("\r" in line for line in lines)


def test_lines_are_rate_limited_and_bytes_scaled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sclong.progress")
    with Progress(45_600_000, "go.obo.gz", "B", initial=1_000_000, stream=io.StringIO()) as progress:
        for _ in range(100):
            progress.update(100_000)
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("go.obo.gz: 11.0 MB/45.6 MB (24%), ")


def test_a_bar_on_a_terminal(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sclong.progress")
    leader, follower = os.openpty()
    with os.fdopen(follower, "w") as terminal:
        with Progress(10, "embedding", "cells", interval_s=0, stream=terminal) as progress:
            progress.update(4)
        terminal.flush()
        shown = os.read(leader, 4096).decode()
    os.close(leader)
    assert "embedding:" in shown and "/10 " in shown and "\r" in shown
    assert caplog.records == []


def test_disabled_progress_and_tracked_loops(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sclong.progress")
    with Progress(10, "other rank", "steps", interval_s=0, stream=io.StringIO(), enabled=False) as progress:
        progress.update(5)
    assert caplog.records == []
    assert list(track(iter("abc"), 3, "letters", "items")) == ["a", "b", "c"]
    assert caplog.records[-1].getMessage().startswith("letters: 3/3 items (100%), ")
