"""Counting what a store sends to its database: commands by store operation, and round trips.

A store runs its database calls in worker threads; each call names the store operation it
serves (:meth:`StoreMonitor.operation`, e.g. ``write`` for a batch of writes, ``get_job``),
and every command sent meanwhile from that thread is counted under that name, with its round
trip time (:meth:`StoreMonitor.observe`). The MongoDB store observes each wire command
(pymongo's command monitoring); the SQLite store observes each call to its file (one
transaction or read). :meth:`StoreMonitor.snapshot` gives the counters as a
:class:`~faas_trio.core.messages.StoreMetrics`, which the frontend renders as
``faas_store_commands_total{op}`` and ``faas_store_roundtrip_seconds``.

Thread-safe: observations come from the store's worker threads (and pymongo's).
"""

from __future__ import annotations

import bisect
import contextlib
import threading
from collections.abc import Iterator

from ..core.messages import StoreMetrics
from ..core.records import Histogram

__all__ = ["ROUNDTRIP_BOUNDS", "StoreMonitor"]

#: Bucket bounds of the round-trip histogram, seconds.
ROUNDTRIP_BOUNDS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
#: The operation named when a command is sent outside :meth:`StoreMonitor.operation`.
OTHER = "other"


class StoreMonitor:
    """Commands by store operation, and a histogram of their round-trip times."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._commands: dict[str, int] = {}
        self._buckets = [0] * len(ROUNDTRIP_BOUNDS)
        self._count = 0
        self._sum = 0.0

    @contextlib.contextmanager
    def operation(self, name: str) -> Iterator[None]:
        """Count the commands this thread sends inside the block under ``name``."""
        outer = getattr(self._local, "op", None)
        self._local.op = name
        try:
            yield
        finally:
            self._local.op = outer

    def current(self) -> str:
        """The operation this thread serves now (``other`` outside any)."""
        return getattr(self._local, "op", None) or OTHER

    def observe(self, op: str, seconds: float) -> None:
        """Count one command of ``op`` that took ``seconds`` from send to answer."""
        index = bisect.bisect_left(ROUNDTRIP_BOUNDS, seconds)
        with self._lock:
            self._commands[op] = self._commands.get(op, 0) + 1
            if index < len(self._buckets):
                self._buckets[index] += 1
            self._count += 1
            self._sum += seconds

    def snapshot(self) -> StoreMetrics:
        """The counters so far (the histogram's buckets cumulative, as Prometheus has them)."""
        with self._lock:
            cumulative, total = [], 0
            for count in self._buckets:
                total += count
                cumulative.append(total)
            return StoreMetrics(
                commands_total=dict(self._commands),
                roundtrip=Histogram(
                    bounds=list(ROUNDTRIP_BOUNDS),
                    counts=cumulative,
                    count=self._count,
                    sum=self._sum,
                ),
            )
