"""Write files and directories so that a crash never leaves a partial output behind.

Rules of :func:`atomic_path`:

* the output is written to a hidden temporary beside the target, ``.<name>.<host>-<pid>.<random>.tmp<suffixes>``,
  and renamed onto the target only when the block succeeds; on an exception (``KeyboardInterrupt`` and
  ``SystemExit`` included: :func:`sclong.cli.run_module_main` turns SIGTERM into ``SystemExit``) it is removed;
* a writer killed outright (SIGKILL, power loss) cannot clean up: the next :func:`atomic_path` for the
  same target removes temporaries whose writer (same host, process id in the name) no longer runs;
* a target of the other kind (a directory where a file is to be written, or the reverse) is refused
  before the block runs;
* the renamed output gets the permissions a plain ``open()`` / ``mkdir()`` would give it
  (``0o666`` / ``0o777`` minus the umask), not the private ``0o600`` / ``0o700`` of ``tempfile``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sclong.errors import InputError

log = logging.getLogger(__name__)


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _host() -> str:
    """This machine's name, reduced to characters safe in a file name."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(target: str | Path) -> list[Path]:
    """Remove the temporaries of ``target`` left by writers on this host that no longer run; return them."""
    target = Path(target)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(?P<host>[A-Za-z0-9_-]+)-(?P<pid>\d+)\.[^.]+\.tmp")
    host = _host()
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in target.parent.iterdir():
            match = pattern.match(entry.name)
            if not match or match["host"] != host or _running(int(match["pid"])):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    if removed:
        log.info("removed %d stale temporary file(s) of %s left by a killed run", len(removed), target)
    return removed


@contextlib.contextmanager
def atomic_path(target: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds.

    The temporary path keeps the target's suffixes so writers that infer a format from the
    name (``.h5ad``, ``.npy``, ``.tsv.gz``) behave as they would on the target. Rules in the module doc.
    """
    target = Path(target)
    if target.is_dir() != directory and target.exists():
        raise InputError(target, f"exists and is {'a file' if directory else 'a directory'}; not replacing it")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    prefix = f".{target.name}.{_host()}-{os.getpid()}."
    suffix = "".join(target.suffixes)
    if directory:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=f".tmp{suffix}", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if tmp.exists():
            tmp.chmod((0o777 if tmp.is_dir() else 0o666) & ~current_umask())
        if directory and target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise
