"""``faas-trio config``: the effective settings, from the one settings table.

Prints every setting a component reads (all components by default) with its value and
whether it was set or is the default; exits 2 naming the first malformed variable, as the
component itself would. ``--markdown`` prints the README's configuration table instead, and
``--write-readme FILE`` puts it between the markers in FILE (``make settings-doc``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .verbs import Commands

__all__ = ["BEGIN", "END", "register"]

BEGIN = "<!-- settings table: generated from faas_trio/core/settings.py by `make settings-doc` -->"
END = "<!-- end of settings table -->"


def _run(args: argparse.Namespace) -> int:
    from ..core.config import ConfigError
    from ..core.settings import COMPONENTS, effective, markdown_table

    if args.markdown:
        sys.stdout.write(markdown_table())
        return 0
    if args.write_readme:
        path = Path(args.write_readme)
        text = path.read_text(encoding="utf-8")
        head, begin, rest = text.partition(BEGIN)
        _, end, tail = rest.partition(END)
        if not begin or not end:
            print(f"{path}: the markers {BEGIN!r} and {END!r} are missing", file=sys.stderr)
            return 1
        path.write_text(f"{head}{BEGIN}\n{markdown_table()}{END}{tail}", encoding="utf-8")
        return 0
    components = [args.component] if args.component else list(COMPONENTS)
    env = dict(os.environ)
    try:
        for component in components:
            print(f"# {component}")
            for name, value, source in effective(component, env):
                print(f"{name}={value}  # {source}")
    except ConfigError as exc:
        print(f"bad setting: {exc}", file=sys.stderr)
        return 2
    return 0


def register(commands: Commands) -> None:
    """Add ``config``."""
    from ..core.settings import COMPONENTS

    text = "print the effective settings (exit 2 on a malformed one)"
    parser = commands.add_parser("config", help=text, description=text)
    parser.add_argument("component", nargs="?", choices=COMPONENTS, help="only this one")
    parser.add_argument("--markdown", action="store_true", help="the README table instead")
    parser.add_argument("--write-readme", metavar="FILE", help="update FILE's settings table")
    parser.set_defaults(run=_run)
