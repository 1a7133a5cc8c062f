"""The pymongo client of the MongoDB store: how it is made, how its errors are translated, and
how the store calls it (:class:`MongoCalls`).

:func:`new_client` sets the timeouts, aware datetimes, the write concern (the URL's, else
``w=majority`` and ``journal=true``: :func:`write_concern`) and the command monitoring that
counts every command (:class:`CommandCounter`). :func:`translated` maps pymongo errors to
``Transient`` (worth retrying) or :class:`~faas_trio.core.errors.InternalError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import trio
from pymongo import MongoClient, monitoring
from pymongo.collection import Collection
from pymongo.errors import (
    AutoReconnect,
    NetworkTimeout,
    NotPrimaryError,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from ..core.errors import InternalError, PeerUnavailable
from ..core.messages import StoreMetrics
from ..core.retry import Backoff
from .mongo_documents import Doc
from .monitoring import StoreMonitor

__all__ = [
    "THREADS", "CommandCounter", "MongoCalls", "Transient", "new_client", "translated",
    "write_concern",
]  # fmt: skip

#: pymongo calls running at once, each in a worker thread.
THREADS = 8

_T = TypeVar("_T")

_TRANSIENT = (AutoReconnect, NotPrimaryError, NetworkTimeout, ServerSelectionTimeoutError)


class Transient(Exception):
    """A pymongo error worth retrying; its ``__cause__`` is the original."""


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Map pymongo errors: transient ones to ``Transient`` (retried), the rest to
    ``InternalError``, each chained to the original."""
    try:
        yield
    except _TRANSIENT as exc:
        raise Transient(str(exc)) from exc
    except PyMongoError as exc:
        raise InternalError(f"MongoDB error: {exc}") from exc


class CommandCounter(monitoring.CommandListener):
    """Feeds every command's round trip to the monitor, under the calling thread's operation."""

    def __init__(self, monitor: StoreMonitor) -> None:
        self._monitor = monitor

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._monitor.observe(self._monitor.current(), event.duration_micros / 1e6)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._monitor.observe(self._monitor.current(), event.duration_micros / 1e6)


def write_concern(url: str) -> dict[str, Any]:
    """The write concern options to give pymongo: those the URL lacks of ``w=majority`` and
    ``journal=true`` (the URL's own win)."""
    query = urlsplit(url).query
    given = {key.lower() for key in parse_qs(query, keep_blank_values=True)}
    options: dict[str, Any] = {}
    if "w" not in given:
        options["w"] = "majority"
    if "journal" not in given and "j" not in given:
        options["journal"] = True
    return options


def new_client(url: str, select_timeout: float, monitor: StoreMonitor) -> MongoClient[Doc]:
    """A client of ``url`` that waits ``select_timeout`` seconds for a server (and to
    connect; 3 times it for an answer), reporting its commands to ``monitor``. It connects on
    first use. Raises pymongo's ``ConfigurationError`` or ``InvalidURI`` for a bad URL."""
    ms = int(select_timeout * 1000)
    return MongoClient(
        url,
        serverSelectionTimeoutMS=ms,
        connectTimeoutMS=ms,
        socketTimeoutMS=3 * ms,
        connect=False,
        tz_aware=True,
        event_listeners=[CommandCounter(monitor)],
        **write_concern(url),
    )


class MongoCalls:
    """How the store calls pymongo, which blocks: in worker threads (at most
    :data:`THREADS` at once, never on the trio thread), pymongo errors translated
    (:func:`translated`), each command counted under the store operation it serves, and
    transient errors retried with backoff for ``retry_timeout`` seconds."""

    def __init__(
        self, client: MongoClient[Doc], *, retry_timeout: float, monitor: StoreMonitor | None
    ) -> None:
        self._client = client
        self._retry_timeout = retry_timeout
        self._threads = trio.CapacityLimiter(THREADS)
        self._closed = False
        self._monitor = monitor or StoreMonitor()

    async def aclose(self) -> None:
        """Close the client and its sockets. Idempotent.

        Cancellation: waits for the close in a thread, which is quick and not abandoned.
        """
        if not self._closed:
            self._closed = True
            await trio.to_thread.run_sync(self._client.close)

    async def _run(self, fn: Callable[[], _T], *, op: str, write: bool = False) -> _T:
        """Run blocking ``fn`` in a worker thread, pymongo errors translated, its commands
        counted under the store operation ``op``.

        Cancellation: a read is abandoned (its thread ends on its own); a write is waited for,
        bounded by the socket timeout, so no write is left in flight unseen.
        """
        if self._closed:
            raise trio.ClosedResourceError("the store is closed")

        def counted() -> _T:
            with self._monitor.operation(op):
                return fn()

        with translated():
            return await trio.to_thread.run_sync(
                counted, limiter=self._threads, abandon_on_cancel=not write
            )

    async def _run_write(self, fn: Callable[[], _T]) -> _T:
        return await self._run(fn, op="write", write=True)

    async def _run_read(self, fn: Callable[[], _T]) -> _T:
        return await self._run(fn, op="write")

    def metrics(self) -> StoreMetrics:
        """The commands sent so far, by store operation, and their round-trip times."""
        return self._monitor.snapshot()

    async def _retrying(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Await ``fn(*args)``, retrying transient errors with backoff for ``retry_timeout``.

        Raises:
            PeerUnavailable: still failing at the deadline; chained to the pymongo error.

        Cancellation: waits in backoff sleeps and in ``fn``; a cancel propagates at once.
        """
        backoff = Backoff(0.05, 1.0, deadline=self._retry_timeout)
        while True:
            try:
                return await fn(*args)
            except Transient as exc:
                if not await backoff.sleep():
                    raise PeerUnavailable(f"MongoDB unreachable: {exc}") from exc.__cause__

    async def _find(
        self,
        collection: Collection[Doc],
        query: Doc,
        projection: Doc | None = None,
        sort: list[tuple[str, int]] | None = None,
        limit: int = 0,
        *,
        op: str,
    ) -> list[Doc]:
        """The matching documents, read with retries. Cancellation: abandons the read."""

        def find() -> list[Doc]:
            return list(collection.find(query, projection, sort=sort, limit=limit))

        docs: list[Doc] = await self._retrying(lambda: self._run(find, op=op))
        return docs
