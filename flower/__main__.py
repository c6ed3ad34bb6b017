"""``flower`` (the console script) and ``python -m flower``: where the command line starts.

This module sits above everything else in the import graph: ``flower demo [...]`` runs the demo
(:func:`flower.demo.cli.main`, which imports the server to serve its cluster), anything else is the server's own
command line (:func:`flower.command.main`). The server never imports the demo; this is the one place where the
two meet (the import contract in pyproject.toml holds it). Runs on the main thread.
"""

from __future__ import annotations

import sys
from typing import Callable

from flower import command
from flower.demo import cli as demo_cli

#: ``flower NAME [arguments]``: what runs each subcommand, given the arguments after its name; returns the exit code
SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {'demo': demo_cli.main}


def main(argv: list[str] | None = None) -> None:
    """Run a subcommand, or else the server (celery's options and flower's, as :func:`flower.command.main`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        sys.exit(SUBCOMMANDS[argv[0]](argv[1:]))
    command.main(argv)


if __name__ == '__main__':
    main()
