"""Warm sync calls on two source trees side by side, in alternating rounds.

On a shared machine a load run's figures swing with whatever else runs, so a change is shown
by comparing it with the code before it *at the same time*: this starts one platform from each
tree (``python -m faas_trio up`` with the tree first on ``PYTHONPATH``), registers and warms one
Python function on each, then runs rounds of ``run?wait=10`` calls, one tree after the other
(the order swapped every round), at each concurrency asked for. Per tree and concurrency it
prints the latency percentiles over all rounds and each component's CPU per call (from
``/proc``, as the load kit reads it), plus the load average at the start and the end::

    python -m load.ab_sync --before /tmp/base --after . --rounds 6 --calls 300

Both platforms stay up for the whole run (an idle platform costs little: heartbeats), and
both use the kit's settings (raised per-user limits). Run it both ways round (``--before``
and ``--after`` swapped): on a busy 2-vCPU VM the platform started first spent 6-10% less
CPU per call in both orders, more than the changes it was used to compare.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import trio

from .api import create_user, register_function, run_and_wait
from .cpu import component_cpu_seconds
from .functions import PY_ADD
from .generator import drive, open_client
from .processes import RAISED_LIMITS, Platform, running_platform
from .stats import percentile

__all__ = ["main"]

USER = "ab_sync"
#: Roles whose CPU is printed, in this order (``all`` is their sum plus the rest).
ROLES = ("frontend", "jqmanager", "dbmanager", "worker", "all")


@dataclass
class Side:
    """One tree's platform and what was measured on it, per concurrency."""

    name: str
    tree: Path
    platform: Platform | None = None
    latencies: dict[int, list[float]] = field(default_factory=dict)
    cpu_s: dict[int, dict[str, float]] = field(default_factory=dict)
    calls: dict[int, int] = field(default_factory=dict)
    errors: dict[int, int] = field(default_factory=dict)


@asynccontextmanager
async def _platform(side: Side, workers: int, home: Path) -> AsyncIterator[Platform]:
    path = os.pathsep.join(p for p in (str(side.tree.resolve()), os.environ.get("PYTHONPATH")) if p)
    settings = {**RAISED_LIMITS, "PYTHONPATH": path, "FAAS_WORKERS": str(workers),
                "FAAS_WORKERS_MAX": str(workers)}
    async with running_platform(home, home / "platform.log", settings) as platform:
        yield platform


async def _call(client: httpx.AsyncClient, index: int) -> bool:
    record = await run_and_wait(client, USER, "add", [index, 1], 10.0)
    return record.get("value") == index + 1


async def _round(side: Side, concurrency: int, calls: int) -> None:
    assert side.platform is not None
    async with open_client(side.platform.url, concurrency) as client:
        await drive(client, _call, label="warm", total=concurrency * 2,
                    concurrency=concurrency, time_limit=30, progress=False)  # fmt: skip
        before = component_cpu_seconds(side.platform.pid)
        sample = await drive(client, _call, label="ab", total=calls,
                             concurrency=concurrency, time_limit=120, progress=False)  # fmt: skip
        after = component_cpu_seconds(side.platform.pid)
    spent = side.cpu_s.setdefault(concurrency, {})
    for role in after:
        spent[role] = spent.get(role, 0.0) + after[role] - before.get(role, 0.0)
    side.latencies.setdefault(concurrency, []).extend(sample.latencies_ms)
    side.calls[concurrency] = side.calls.get(concurrency, 0) + len(sample.latencies_ms)
    side.errors[concurrency] = side.errors.get(concurrency, 0) + sample.errors


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _table(sides: Sequence[Side], concurrencies: Sequence[int]) -> str:
    head = ["tree", "c", "calls", "err", "p50 ms", "p90 ms", "p99 ms"]
    head += [f"cpu {role}" for role in ROLES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for concurrency in concurrencies:
        for side in sides:
            lat = side.latencies.get(concurrency, [])
            calls = max(1, side.calls.get(concurrency, 0))
            spent = side.cpu_s.get(concurrency, {})
            cpu = {role: spent.get(role, 0.0) * 1000 / calls for role in ROLES[:-1]}
            cpu["all"] = sum(spent.values()) * 1000 / calls
            row = [side.name, str(concurrency), str(len(lat)), str(side.errors.get(concurrency, 0))]
            row += [f"{percentile(lat, q) or 0:.2f}" for q in (50, 90, 99)]
            row += [f"{cpu[role]:.2f}" for role in ROLES]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


async def run(args: argparse.Namespace) -> str:
    """Start both platforms, run the rounds, and answer the table.

    Cancellation: the platforms are stopped before the cancel propagates.
    """
    sides = [Side("before", Path(args.before)), Side("after", Path(args.after))]
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    load_start = _load()
    with tempfile.TemporaryDirectory(prefix="ab-sync-") as tmp:
        async with AsyncExitStack() as stack:
            for side in sides:
                home = Path(tmp) / side.name
                home.mkdir()
                side.platform = await stack.enter_async_context(
                    _platform(side, args.workers, home)
                )
                async with open_client(side.platform.url, 1) as client:
                    await create_user(client, USER)
                    await register_function(client, USER, "add", PY_ADD)
            for number in range(args.rounds):
                order = sides if number % 2 == 0 else sides[::-1]
                for concurrency in concurrencies:
                    for side in order:
                        await _round(side, concurrency, args.calls * (4 if concurrency > 1 else 1))
    text = _table(sides, concurrencies)
    return f"load average at the start {load_start}, at the end {_load()}\n\n{text}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m load.ab_sync", description=__doc__)
    parser.add_argument("--before", required=True, help="source tree of the code before")
    parser.add_argument("--after", default=".", help="source tree of the code after")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=300, help="calls per round at c1 (x4 above)")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--workers", type=int, default=2, help="FAAS_WORKERS of each platform")
    print(trio.run(run, parser.parse_args(argv)))


if __name__ == "__main__":
    main()
