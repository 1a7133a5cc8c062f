"""The ``faas-trio`` command: the platform's processes and the client verbs.

Subcommands come in groups, one module each (see :mod:`.verbs`): :mod:`.components` runs a
process of the platform (``up``, ``frontend``...); :mod:`.account`, :mod:`.functions`,
:mod:`.calls` and :mod:`.mapping` are the client verbs, which speak only the REST API through
:mod:`faas_trio.client`. Modules are imported only as far as
building the parser needs; each subcommand imports what it uses when it runs, so running a
worker does not load the client, nor ``--help`` the platform.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import cast

from .components import COMMANDS
from .verbs import Run

__all__ = ["COMMANDS", "GROUPS", "main"]

#: Modules that each add a group of subcommands, in the order ``--help`` lists them.
GROUPS: tuple[str, ...] = (
    "faas_trio.cli.components",
    "faas_trio.cli.keys",
    "faas_trio.cli.settings",
    "faas_trio.cli.account",
    "faas_trio.cli.functions",
    "faas_trio.cli.calls",
    "faas_trio.cli.mapping",
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: every group's subcommands."""
    parser = argparse.ArgumentParser(
        prog="faas-trio",
        description="faas-trio: a small Functions-as-a-Service platform. "
        "Every component is configured by environment variables.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in GROUPS:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, run the chosen subcommand, and exit with its code."""
    args = build_parser().parse_args(argv)
    code = cast(Run, args.run)(args)
    if code:
        sys.exit(code)
