"""``faas-trio up|frontend|dbmanager|jqmanager|worker|scaler``: run a process of the platform.

Each subcommand runs one component's ``main()``, imported only when chosen, so that running
a worker does not load the frontend. Components are configured by environment variables only
(each package's ``config`` module lists them).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import cast

from .verbs import Commands

__all__ = ["COMMANDS", "register"]

#: Subcommand -> (module whose ``main()`` runs it, help text).
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("faas_trio.supervisor", "run the whole platform locally, in the foreground"),
    "frontend": ("faas_trio.frontend", "the HTTP API (PORT, DB_URL, JQ_URL)"),
    "dbmanager": ("faas_trio.dbmanager", "the store served over RPC (PORT, DB_URL)"),
    "jqmanager": ("faas_trio.jqmanager", "the job queue (PORT, DB_URL)"),
    "worker": ("faas_trio.worker", "runs jobs in sandboxes (JQ_URL)"),
    "scaler": ("faas_trio.scaler", "resizes the worker pool (JQ_URL, FAAS_SCALER_ACTUATOR)"),
}


def _run_component(args: argparse.Namespace) -> int:
    """Run the chosen component's ``main()`` until it stops (a signal); exit 0 after, at once
    (:func:`~faas_trio.core.lifecycle.end_process`)."""
    # Imported here, not at the top, so that `--help` stays instant.
    from ..core.lifecycle import end_process
    from ..supervisor.children import die_with_parent

    die_with_parent()
    module = importlib.import_module(COMMANDS[args.command][0])
    component_main = cast(Callable[[], None], module.main)
    component_main()
    end_process(0)


def register(commands: Commands) -> None:
    """Add one subcommand per component."""
    for name, (_, help_text) in COMMANDS.items():
        parser = commands.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(run=_run_component)
