"""``faas-trio map``: one function over many inputs as one group, with a progress bar.

Inputs are JSON lines, one argument array per line (a line that is not an array is one
argument). Results are written as JSON lines in input order, as soon as every item before
them is final: ``{"index", "state", "value"}`` (``"error"`` instead of ``"value"`` when the
item did not succeed). The progress bar (on a terminal, to stderr) shows items done and
items/s. Ctrl-C cancels the group.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import IO, Any

from .output import EXIT_FAILED, Output, guarded
from .target import client_for, client_options
from .verbs import Commands, example

__all__ = ["done_count", "read_inputs", "register"]

#: Seconds between looks at the group's progress.
_TICK = 0.25
#: Exit code after Ctrl-C (128 + SIGINT), as shells report it.
_EXIT_INTERRUPTED = 130
#: Job states that never change again (as in :mod:`faas_trio.client.protocol`, which is not
#: imported here so that building the parser does not load the client).
FINAL_STATES = frozenset({"succeeded", "failed", "timeout", "cancelled"})


def read_inputs(stream: IO[str]) -> list[list[Any]]:
    """The argument arrays of a JSON-lines stream (blank lines skipped).

    Raises:
        ValueError: a line is not JSON (the message names the line).
    """
    items = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"input line {number} is not JSON: {exc}") from None
        items.append(value if isinstance(value, list) else [value])
    return items


def done_count(group: dict[str, Any]) -> int:
    """Items of a group (as ``GET /g/<id>`` describes it) that are final."""
    counts = group.get("counts")
    if not isinstance(counts, dict):
        counts = group
    return sum(int(counts.get(state) or 0) for state in FINAL_STATES)


def _line(index: int, item: dict[str, Any]) -> str:
    out: dict[str, Any] = {"index": index, "state": item.get("state")}
    if item.get("state") == "succeeded":
        out["value"] = item.get("value")
    else:
        out["error"] = item.get("error") or item.get("result") or item.get("state")
    return json.dumps(out)


class _Progress:
    """A rich progress bar on stderr when it is a terminal; nothing otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.started = time.monotonic()
        self.bar = Progress(
            TextColumn("map"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} items/s"),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
        )
        self.task = self.bar.add_task("map", total=total, rate="0")
        self.bar.start()

    def update(self, done: int) -> None:
        if self.bar is not None:
            rate = done / max(1e-3, time.monotonic() - self.started)
            self.bar.update(self.task, completed=done, rate=f"{rate:,.0f}")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _map(args: argparse.Namespace) -> int:
    def body() -> int:
        if args.input == "-":
            items = read_inputs(sys.stdin)
        else:
            with open(args.input) as stream:
                items = read_inputs(stream)
        if not items:
            raise ValueError("no inputs: give one JSON argument array per line")
        out = Output(args.json)
        sink = open(args.output, "w") if args.output else sys.stdout  # noqa: SIM115
        with client_for(args) as client:
            group = client.function(args.name).map_group(items)
            progress = _Progress(int(group["total"]), sys.stderr.isatty() and not args.json)
            failed = 0
            try:
                first = 0
                total = int(group["total"])
                while first < total:
                    described = client.run(client.api.group(group["id"]))
                    progress.update(done_count(described))
                    page = client.run(client.api.group_results(group["id"], first))
                    for item in page:
                        if first >= total or item.get("state") not in FINAL_STATES:
                            break
                        failed += item.get("state") != "succeeded"
                        sink.write(_line(first, item) + "\n")
                        first += 1
                    sink.flush()
                    if first < total:
                        time.sleep(_TICK)
                progress.update(total)
            except KeyboardInterrupt:
                progress.stop()
                client.run(client.api.cancel_group(group["id"]))
                sys.stderr.write(f"faas-trio: cancelled group {group['id']}\n")
                return _EXIT_INTERRUPTED
            finally:
                progress.stop()
                if sink is not sys.stdout:
                    sink.close()
        if args.output and not args.json:
            out.text(f"{total} results in {args.output} ({failed} not succeeded)")
        return EXIT_FAILED if failed else 0

    return guarded(body)


def register(commands: Commands) -> None:
    """Add ``map``."""
    parser = commands.add_parser(
        "map",
        parents=[client_options()],
        help="call a function once per input line, as one group, with a progress bar",
        description="Queue one call per input line (a JSON array of arguments) as one "
        "group and write the results as JSON lines in input order. Ctrl-C cancels the group.",
        **example(
            "python3 -c 'for i in range(1000): print([i, i])' > pairs.jsonl",
            "faas-trio map add --input pairs.jsonl --output sums.jsonl",
        ),
    )
    parser.add_argument("name", help="the function's name")
    parser.add_argument("--input", "-i", required=True, help="JSON lines file, or - for stdin")
    parser.add_argument("--output", "-o", help="write results here (default: stdout)")
    parser.set_defaults(run=_map)
