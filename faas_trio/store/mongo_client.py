"""The pymongo client of the MongoDB store: how it is made, and how its errors are translated.

:func:`new_client` sets the timeouts, aware datetimes, the write concern (the URL's, else
``w=majority`` and ``journal=true``: :func:`write_concern`) and the command monitoring that
counts every command (:class:`CommandCounter`). :func:`translated` maps pymongo errors to
``Transient`` (worth retrying) or :class:`~faas_trio.core.errors.InternalError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pymongo import MongoClient, monitoring
from pymongo.errors import (
    AutoReconnect,
    NetworkTimeout,
    NotPrimaryError,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from ..core.errors import InternalError
from .mongo_documents import Doc
from .monitoring import StoreMonitor

__all__ = ["CommandCounter", "Transient", "new_client", "translated", "write_concern"]

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
