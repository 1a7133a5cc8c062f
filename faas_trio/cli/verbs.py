"""What every group of ``faas-trio`` subcommands shares: how it plugs into the parser.

A group is a module with ``register(commands)`` that adds its subcommands to ``commands``
and gives each parser a ``run`` default: a function of the parsed arguments returning the
exit code. :data:`faas_trio.cli.GROUPS` lists the groups, so adding one is one new module
and one line there.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, TypeAlias

__all__ = ["Commands", "Run", "example"]

#: The object ``ArgumentParser.add_subparsers`` returns.
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: A subcommand's body: parsed arguments in, exit code out.
Run = Callable[[argparse.Namespace], int]


def example(*lines: str) -> dict[str, Any]:
    """Keyword arguments for ``add_parser`` that end its ``--help`` with worked examples."""
    body = "\n".join(f"  {line}" for line in lines)
    return {
        "epilog": f"example:\n{body}",
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
