"""Free TCP ports for the servers the kit and the tests start, chosen outside the kernel's
ephemeral range.

A port the kernel handed out for ``bind(0)`` comes from the ephemeral range, the same range
it draws the local port of every outgoing connection from. Between choosing such a port and
binding it, any connection on the machine (a client polling a server not yet up, a ZeroMQ
socket reconnecting to it) may be given that very port as its source, and the server then
cannot bind for as long as the connection lives. Ports below the ephemeral range are never
handed out that way, so only a server someone else starts on purpose can take one.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from collections.abc import Iterator
from pathlib import Path

__all__ = ["free_ports", "unused_endpoint"]

#: The lowest port handed out (below it sit the well-known and registered services).
LOWEST = 15_000
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _candidates() -> tuple[Iterator[int], int]:
    """The ports of this process's share of ``[LOWEST, ephemeral low)``, once each in turn
    from a random start, then again: two test processes run side by side
    (``PYTEST_XDIST_WORKER``: gw0, gw1…) draw from disjoint shares, and one process comes
    back to a port only after it has been through all the others. Also the share's size."""
    low, high = LOWEST, max(_ephemeral_low(), LOWEST + 1_000)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    share = (high - low) // max(count, 1)
    low, high = low + index * share, low + (index + 1) * share
    start = random.randrange(low, high)
    return itertools.cycle(itertools.chain(range(start, high), range(low, start))), high - low


_ports, _share = _candidates()


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1, free when chosen and outside the ephemeral
    range (see the module docstring), different from every port this process was given
    recently."""
    chosen: list[int] = []
    for port in itertools.islice(_ports, _share):
        if port not in chosen and _is_free(port):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise OSError(f"fewer than {count} free ports below the ephemeral range")


def unused_endpoint() -> str:
    """``tcp://127.0.0.1:<port>`` where nothing listens (a port just found free)."""
    [port] = free_ports(1)
    return f"tcp://127.0.0.1:{port}"
