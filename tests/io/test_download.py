"""Downloads against real HTTP servers on 127.0.0.1 serving ../shared/data."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from sclong.errors import InputError
from sclong.io.download import RetryPolicy, download, read_lock

from .http_servers import serve

FAST = RetryPolicy(attempts=3, backoff_s=0.01, timeout_s=10)
SOURCE = "go/go_2019-01-29.obo.gz"


@pytest.fixture(scope="module")
def source_sha(shared_data: Path) -> str:
    return hashlib.sha256((shared_data / SOURCE).read_bytes()).hexdigest()


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_download_verifies_checksum(shared_data: Path, source_sha: str, tmp_path: Path) -> None:
    target = tmp_path / "go.obo.gz"
    with serve(shared_data) as (url, _):
        assert download(f"{url}/{SOURCE}", target, sha256=source_sha, policy=FAST) == source_sha
    assert target.read_bytes() == (shared_data / SOURCE).read_bytes()
    assert leftovers(tmp_path) == ["go.obo.gz"]


def test_interrupted_download_resumes_with_range(shared_data: Path, source_sha: str, tmp_path: Path) -> None:
    target = tmp_path / "go.obo.gz"
    with serve(shared_data, fault="drop_first") as (url, seen):
        download(f"{url}/{SOURCE}", target, sha256=source_sha, policy=FAST)
    assert len(seen) == 2
    size = (shared_data / SOURCE).stat().st_size
    resumed_at = int(seen[1]["range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= size // 2
    assert target.read_bytes() == (shared_data / SOURCE).read_bytes()
    assert leftovers(tmp_path) == ["go.obo.gz"]


def test_partial_file_from_an_earlier_run_is_resumed(shared_data: Path, source_sha: str, tmp_path: Path) -> None:
    data = (shared_data / SOURCE).read_bytes()
    (tmp_path / "go.obo.gz.part").write_bytes(data[:1000])
    with serve(shared_data) as (url, seen):
        download(f"{url}/{SOURCE}", tmp_path / "go.obo.gz", sha256=source_sha, policy=FAST)
    assert seen == [{"path": f"/{SOURCE}", "range": "bytes=1000-", "accept_encoding": "identity"}]
    assert (tmp_path / "go.obo.gz").read_bytes() == data


def test_corrupted_bytes_are_refused_and_kept_aside(shared_data: Path, source_sha: str, tmp_path: Path) -> None:
    target = tmp_path / "go.obo.gz"
    with serve(shared_data, fault="corrupt") as (url, _), pytest.raises(InputError, match="sha256 mismatch"):
        download(f"{url}/{SOURCE}", target, sha256=source_sha, policy=FAST)
    assert not target.exists()
    assert leftovers(tmp_path) == ["go.obo.gz.rejected"]


def test_html_instead_of_data_is_refused(shared_data: Path, tmp_path: Path) -> None:
    target = tmp_path / "go.obo.gz"
    with serve(shared_data, fault="html") as (url, _), pytest.raises(InputError, match="HTML page"):
        download(f"{url}/{SOURCE}", target, policy=FAST)
    assert not target.exists()


def test_missing_file_fails_without_retry(shared_data: Path, tmp_path: Path) -> None:
    with serve(shared_data) as (url, seen), pytest.raises(InputError, match="HTTP 404"):
        download(f"{url}/nope.gz", tmp_path / "x.gz", policy=FAST)
    assert len(seen) == 1


def test_unreachable_server_gives_up_after_retries(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="after 3 attempts"):
        download("http://127.0.0.1:9/x.gz", tmp_path / "x.gz", policy=FAST)


def test_lock_file_records_first_checksum_and_verifies_later(shared_data: Path, source_sha: str,
                                                             tmp_path: Path) -> None:
    lock = tmp_path / "checksums.lock.tsv"
    with serve(shared_data) as (url, _):
        download(f"{url}/{SOURCE}", tmp_path / "a.gz", lock_file=lock, policy=FAST)
        assert read_lock(lock) == {f"{url}/{SOURCE}": source_sha}
        download(f"{url}/{SOURCE}", tmp_path / "b.gz", lock_file=lock, policy=FAST)
    with serve(shared_data, fault="corrupt") as (url2, _):
        lock.write_text(f"{url2}/{SOURCE}\t{source_sha}\n")
        with pytest.raises(InputError, match="sha256 mismatch"):
            download(f"{url2}/{SOURCE}", tmp_path / "c.gz", lock_file=lock, policy=FAST)
    assert not (tmp_path / "c.gz").exists()


def test_command_line_reports_one_line(shared_data: Path, tmp_path: Path) -> None:
    with serve(shared_data) as (url, _):
        result = subprocess.run(
            [sys.executable, "-m", "sclong.cli", "download", f"{url}/{SOURCE}", str(tmp_path / "x.gz"),
             "--sha256", "0" * 64, "--settings", '{"attempts": 1, "backoff_s": 0, "timeout_s": 10}'],
            capture_output=True, text=True, check=False,
        )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "sha256 mismatch" in errors[0]


def test_gzip_content_encoding_keeps_the_raw_bytes(shared_data: Path, source_sha: str, tmp_path: Path) -> None:
    """A server labelling a .gz file ``Content-Encoding: gzip``: the file is stored as served, not decoded."""
    raw = (shared_data / SOURCE).read_bytes()
    with serve(shared_data, content_encoding="gzip") as (url, seen):
        assert download(f"{url}/{SOURCE}", tmp_path / "go.obo.gz", sha256=source_sha, policy=FAST) == source_sha
    assert (tmp_path / "go.obo.gz").read_bytes() == raw
    assert seen[0]["accept_encoding"] == "identity"


def test_gzip_content_encoding_without_checksum_locks_the_raw_bytes(shared_data: Path, source_sha: str,
                                                                    tmp_path: Path) -> None:
    lock = tmp_path / "checksums.lock.tsv"
    with serve(shared_data, content_encoding="gzip") as (url, _):
        assert download(f"{url}/{SOURCE}", tmp_path / "go.obo.gz", lock_file=lock, policy=FAST) == source_sha
        assert read_lock(lock) == {f"{url}/{SOURCE}": source_sha}
    assert (tmp_path / "go.obo.gz").read_bytes() == (shared_data / SOURCE).read_bytes()


def test_gzip_content_encoding_resumes_with_range(shared_data: Path, source_sha: str, tmp_path: Path) -> None:
    with serve(shared_data, fault="drop_first", content_encoding="gzip") as (url, seen):
        download(f"{url}/{SOURCE}", tmp_path / "go.obo.gz", sha256=source_sha, policy=FAST)
    assert len(seen) == 2 and seen[1]["range"].startswith("bytes=")
    assert (tmp_path / "go.obo.gz").read_bytes() == (shared_data / SOURCE).read_bytes()
    assert leftovers(tmp_path) == ["go.obo.gz"]


@pytest.mark.parametrize(("settings", "message"), [
    ('{"attempts": 0, "backoff_s": 1, "timeout_s": 10}', "'download.attempts': must be an integer >= 1, got 0"),
    ('{"attempts": 2, "backoff_s": 1}', "'download.timeout_s': is required"),
    ('{"attempts": 2, "backoff_s": 1, "timeout_s": 10, "retries": 3}', "'download.retries': unknown key"),
])
def test_command_line_settings_are_checked(settings: str, message: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sclong.io.download", "http://127.0.0.1:9/x.gz", str(tmp_path / "x.gz"),
         "--settings", settings], capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: config key {message}")
