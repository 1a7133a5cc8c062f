"""How client verbs print, and how their failures become exit codes.

On a terminal, tables and highlighted source (rich); when piped, plain tab-separated text a
script can cut; with ``--json``, JSON. Errors go to stderr as one line.

Exit codes: 0 done; 1 the call failed or timed out (the job failed, a wait ran out, the
platform failed with 5xx); 2 usage; 3 the platform refused the request (4xx); 4 the platform
could not be reached (the message names the URL).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

__all__ = ["EXIT_FAILED", "EXIT_REFUSED", "EXIT_UNREACHABLE", "EXIT_USAGE", "Output", "exit_code"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_UNREACHABLE = 4


def exit_code(exc: BaseException) -> int:
    """The exit code of a verb that raised ``exc`` (see the module doc)."""
    # Imported here: building the parser must not load the client (and httpx).
    from ..client.errors import (
        ApiError,
        BuildFailed,
        JobError,
        ProtocolError,
        ServerError,
        Unreachable,
        WaitTimeout,
    )

    if isinstance(exc, Unreachable | ProtocolError):
        return EXIT_UNREACHABLE
    if isinstance(exc, ServerError):
        return EXIT_FAILED
    if isinstance(exc, ApiError):
        return EXIT_REFUSED
    if isinstance(exc, JobError | WaitTimeout | BuildFailed):
        return EXIT_FAILED
    if isinstance(exc, ValueError):
        return EXIT_USAGE
    return EXIT_FAILED


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, str):
        return value
    return json.dumps(value)


class Output:
    """Where a verb prints: rich on a terminal, plain text when piped, JSON when asked."""

    def __init__(self, json_mode: bool, out: TextIO | None = None) -> None:
        self.json_mode = json_mode
        self.out = out or sys.stdout
        self.rich = not json_mode and self.out.isatty()

    def console(self, stderr: bool = False) -> Any:
        """A rich Console (imported only when printing to a terminal)."""
        from rich.console import Console

        return Console(file=sys.stderr if stderr else self.out, highlight=False)

    def json(self, value: Any) -> None:
        self.out.write(json.dumps(value, indent=None if not self.rich else 2) + "\n")

    def text(self, value: str) -> None:
        """Plain text as it is (a result, logs); nothing is interpreted as markup."""
        self.out.write(value if value.endswith("\n") or not value else value + "\n")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
        """Rows under headed columns: a rich table on a terminal, tab-separated when piped."""
        if not self.rich:
            for row in rows:
                self.out.write("\t".join(_cell(v) for v in row) + "\n")
            return
        from rich.table import Table
        from rich.text import Text

        table = Table(title=title or None)
        for column in columns:
            table.add_column(column)
        for row in rows:
            # Text, not str: a user's string must never be read as rich markup.
            table.add_row(*(Text(_cell(v)) for v in row))
        self.console().print(table)

    def fields(self, record: dict[str, Any]) -> None:
        """A record as ``name: value`` lines (a two-column table on a terminal)."""
        self.table(("field", "value"), [(k, v) for k, v in record.items()])

    def source(self, code: str, runtime: str) -> None:
        """Source code, highlighted on a terminal."""
        if not self.rich:
            self.text(code)
            return
        from rich.syntax import Syntax

        lexer = "python" if runtime == "python" else "javascript"
        self.console().print(Syntax(code, lexer, line_numbers=True))


def error(message: str) -> None:
    """One line on stderr."""
    sys.stderr.write(f"faas-trio: {message}\n")


def guarded(run: Callable[[], int]) -> int:
    """Run a verb's body; a client error or a bad setting is printed and mapped to its code."""
    from ..client.errors import FaasClientError

    try:
        return run()
    except FaasClientError as exc:
        error(str(exc))
        return exit_code(exc)
    except ValueError as exc:
        error(str(exc))
        return EXIT_USAGE
