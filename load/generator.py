"""The load generator: a fixed number of requests, run by a fixed number of concurrent tasks,
bounded in time.

A scenario hands :func:`drive` a ``request(client, index)`` coroutine that makes one request and
says whether it succeeded. ``drive`` starts ``concurrency`` tasks that take indexes
``0..total-1`` in order; each task stops when the indexes run out or the time limit passes, so
every run ends by itself. A request that raises an ``httpx.HTTPError`` (connection refused,
timeout, ...) or a ``ValueError`` (a body that is not the JSON expected) counts as an error.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import trio

from .progress import Progress
from .stats import Summary, summarize

__all__ = [
    "MAX_CONCURRENCY",
    "RequestFailed",
    "RequestFn",
    "Sample",
    "check_loopback",
    "drive",
    "open_client",
]

#: One request: takes the client and the request's index, answers True when it succeeded.
RequestFn = Callable[[httpx.AsyncClient, int], Awaitable[bool]]

#: The longest any single request may take before it counts as an error.
REQUEST_TIMEOUT = 30.0
#: The most requests a scenario keeps in flight on one client. httpx's connection pool costs
#: more CPU per request the more connections it holds: against the baseline app on a 2-core
#: machine, 0.57 ms of client CPU per request at 1 connection, 0.78 ms at 16 and 1.59 ms at
#: 64, where the throughput halves (1,284 -> 629 requests/s). Past 16 the generator, not the
#: platform, would be measured.
MAX_CONCURRENCY = 16


class RequestFailed(Exception):
    """A request was answered, but with a failure; ``kind`` (e.g. ``"HTTP 429"``) groups it
    with others of its sort in the report. Raised by request functions."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Sample:
    """What one :func:`drive` measured. Offsets are seconds since the phase started."""

    label: str
    total: int
    concurrency: int
    #: Latency of every successful request, in completion order.
    latencies_ms: list[float] = field(default_factory=list)
    #: When each request (successful or not) finished.
    finish_offsets: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    #: True when the time limit stopped the phase before ``total`` requests were made.
    timed_out: bool = False

    def summary(self) -> Summary:
        return summarize(self.label, self.latencies_ms, self.errors, self.elapsed_s)


def check_loopback(url: str) -> str:
    """``url`` without a trailing slash, or ValueError unless it is http(s) on a loopback host:
    the kit generates real load and must never point it at another machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url}: only http:// and https:// URLs can be load-tested")
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") and not (
        parts.hostname or ""
    ).startswith("127."):
        raise ValueError(f"{url}: the kit only targets loopback addresses (127.0.0.1, ::1)")
    return url.rstrip("/")


def open_client(
    url: str,
    concurrency: int,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    api_key: str | None = None,
) -> httpx.AsyncClient:
    """An HTTP/1.1 client for ``url`` whose connection pool holds ``concurrency`` connections,
    so that no request waits for a connection while another task's is idle. ``transport``
    replaces the network (tests pass an ``httpx.MockTransport``); ``api_key`` is sent as a
    bearer token."""
    return httpx.AsyncClient(
        headers={"Authorization": f"Bearer {api_key}"} if api_key else None,
        base_url=check_loopback(url),
        transport=transport,
        http1=True,
        http2=False,
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        timeout=httpx.Timeout(REQUEST_TIMEOUT),
    )


async def drive(
    client: httpx.AsyncClient,
    request: RequestFn,
    *,
    label: str,
    total: int,
    concurrency: int,
    time_limit: float,
    progress: bool = True,
) -> Sample:
    """Make up to ``total`` requests with ``concurrency`` tasks for at most ``time_limit``
    seconds, and return what was measured. Requests still in flight at the time limit are
    abandoned and not counted.

    Cancellation: blocks until the requests are done or the limit passes; a cancel abandons
    the requests in flight and propagates.
    """
    if total < 0 or concurrency < 1 or time_limit <= 0:
        raise ValueError("drive needs total >= 0, concurrency >= 1 and time_limit > 0")
    sample = Sample(label=label, total=total, concurrency=concurrency)
    meter = Progress(label, total, enabled=progress)
    next_index = 0
    started = time.perf_counter()

    async def run_requests() -> None:
        nonlocal next_index
        while next_index < total:
            index = next_index
            next_index += 1
            t0 = time.perf_counter()
            try:
                ok = await request(client, index)
                kind = "" if ok else "unexpected answer"
            except RequestFailed as exc:
                ok, kind = False, exc.kind
            except (httpx.HTTPError, ValueError) as exc:
                ok, kind = False, type(exc).__name__
            t1 = time.perf_counter()
            sample.finish_offsets.append(t1 - started)
            meter.add(ok=ok)
            if ok:
                sample.latencies_ms.append((t1 - t0) * 1000)
            else:
                sample.errors += 1
                sample.error_kinds[kind] += 1

    async with trio.open_nursery() as outer:
        outer.start_soon(meter.draw_until_cancelled)
        with trio.move_on_after(time_limit) as limit:
            async with trio.open_nursery() as workers:
                for _ in range(min(concurrency, max(total, 1))):
                    workers.start_soon(run_requests)
        sample.elapsed_s = time.perf_counter() - started
        sample.timed_out = limit.cancelled_caught
        outer.cancel_scope.cancel()
    return sample
