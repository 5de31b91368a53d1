"""Paper-scale folder datasets (:mod:`sclong.data.file_sets`): ``python -m sclong.data.folders``.

Each role of the dataset's ``files`` (a downloaded file, or a ``member`` of the zip or tar archive it is)
is copied byte for byte to the role's name in the format's file set, inside a folder written as a whole
(atomically: a failed or interrupted copy leaves no folder behind). The content is not converted here: the
task reads the files with the format's readers, which refuse what they cannot read, naming the file.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from sclong.cli import run_module_main
from sclong.data.datasets import DatasetFile, open_file
from sclong.data.file_sets import FILE_SETS, check_roles
from sclong.io.atomic import atomic_path
from sclong.settings import add_settings_argument, parse_settings

log = logging.getLogger(__name__)


def write_folder(fmt: str, files: Mapping[str, DatasetFile], out: str | Path) -> Path:
    """Copy every role's file into the folder ``out`` under the format's names; return ``out``."""
    check_roles(fmt, set(files), "files")
    with atomic_path(out, directory=True) as tmp:
        for role, name in FILE_SETS[fmt].items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open_file(files[role], "rb") as source, open(target, "wb") as handle:
                shutil.copyfileobj(source, handle)
            log.info("%s: %s <- %s (%d bytes)", role, name, files[role].label, target.stat().st_size)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`write_folder`."""
    parser = argparse.ArgumentParser(prog="python -m sclong.data.folders", description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help="the dataset's key in the config")
    parser.add_argument("--file", action="append", default=[], metavar="ROLE=PATH", help="a downloaded file")
    parser.add_argument("--out", required=True, help="folder to write")
    add_settings_argument(parser, "datasets.<name>")
    args = parser.parse_args(argv)
    key = f"datasets.{args.name}"
    settings = parse_settings(args.settings, key)
    check_roles(settings["format"], set(settings["files"]), f"{key}.files")
    paths = dict(pair.split("=", 1) for pair in args.file)
    files = {role: DatasetFile(Path(paths[role]), spec.get("member")) for role, spec in settings["files"].items()}
    write_folder(settings["format"], files, args.out)
    log.info("dataset %s: %d %s files -> %s", args.name, len(files), settings["format"], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(run_module_main(__name__, sys.argv[1:]))
