"""atomic_path: permissions of the output, cleanup on SIGTERM, stale temporaries of killed writers."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sclong.errors import InputError
from sclong.io.atomic import atomic_path, current_umask, remove_stale_temporaries

# A command whose main() holds an atomic_path open until it is killed, run as `sclong` runs commands.
WRITER = textwrap.dedent("""
    import sys, time
    from sclong.io.atomic import atomic_path

    def main(argv):
        with atomic_path(argv[0]) as tmp:
            tmp.write_text("partial")
            print("ready", flush=True)
            time.sleep(60)
        return 0

    if __name__ == "__main__":
        from sclong.cli import run_module_main
        sys.exit(run_module_main("slow_writer", sys.argv[1:]))
""")


def start_writer(tmp_path: Path, target: Path) -> subprocess.Popen[str]:
    (tmp_path / "slow_writer.py").write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    process = subprocess.Popen([sys.executable, str(tmp_path / "slow_writer.py"), str(target)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_get_the_modes_of_a_plain_open(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        with atomic_path(tmp_path / "out.tsv") as tmp:
            tmp.write_text("x\n")
        with atomic_path(tmp_path / "out.zarr", directory=True) as tmp:
            (tmp / "chunk").write_text("x\n")
        (tmp_path / "plain.tsv").write_text("x\n")
        (tmp_path / "plain").mkdir()
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out.tsv").stat().st_mode) == stat.S_IMODE((tmp_path / "plain.tsv").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "out.zarr").stat().st_mode) == stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "out.tsv").stat().st_mode) == 0o666 & ~umask
    assert current_umask() == previous


def test_sigterm_removes_the_temporary_and_says_so(tmp_path: Path) -> None:
    target = tmp_path / "out" / "result.h5ad"
    process = start_writer(tmp_path, target)
    assert len(hidden(target.parent)) == 1
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143
    assert stderr.strip().splitlines()[-1] == "error: stopped by SIGTERM (no partial output kept)"
    assert list(target.parent.iterdir()) == []


def test_a_killed_writers_temporary_is_removed_by_the_next_run(tmp_path: Path) -> None:
    target = tmp_path / "result.tsv"
    process = start_writer(tmp_path, target)
    process.kill()
    process.wait(timeout=30)
    assert len(hidden(tmp_path)) == 1  # SIGKILL cannot be handled
    with atomic_path(target) as tmp:
        tmp.write_text("done\n")
    assert hidden(tmp_path) == [] and target.read_text() == "done\n"


def test_temporaries_of_running_writers_and_other_hosts_stay(tmp_path: Path) -> None:
    target = tmp_path / "result.tsv"
    with atomic_path(target) as tmp:
        other_host = tmp_path / f".result.tsv.elsewhere-{os.getpid() + 1}.abc.tmp.tsv"
        other_host.write_text("")
        assert remove_stale_temporaries(target) == []
        assert tmp.exists()
        tmp.write_text("x")
    assert hidden(tmp_path) == [other_host.name]


def test_a_target_of_the_other_kind_is_refused_first(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("")
    ran = []
    with pytest.raises(InputError, match="exists and is a directory; not replacing it"), \
            atomic_path(tmp_path / "dir"):  # fmt: skip
        ran.append(1)
    with pytest.raises(InputError, match="exists and is a file"), atomic_path(tmp_path / "file", directory=True):
        ran.append(1)
    assert ran == [] and hidden(tmp_path) == []
