"""The ``sclong`` command: one sub-command per module that has a ``main(argv)``."""

from __future__ import annotations

import importlib
import sys

from sclong.errors import SclongError
from sclong.logs import configure_logging

COMMANDS: dict[str, tuple[str, str]] = {
    "download": ("sclong.io.download", "fetch a URL with checksum, retries and resume"),
}


def run_module_main(module: str, argv: list[str]) -> int:
    """Run ``module.main(argv)``; report a :class:`SclongError` as one line on stderr and exit 1."""
    configure_logging()
    try:
        return importlib.import_module(module).main(argv) or 0
    except SclongError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``sclong <command> ...`` to the module that implements the command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in sorted(COMMANDS.items())]
        print("usage: sclong <command> [options]\n\ncommands:\n" + "\n".join(lines), file=sys.stderr)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    return run_module_main(COMMANDS[argv[0]][0], argv[1:])


if __name__ == "__main__":
    sys.exit(main())
