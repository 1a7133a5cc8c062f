"""The REST API as steps, written once for the sync and the async client (sans-I/O).

An operation is a generator: it yields a :class:`Request` (or a :class:`Sleep`), is sent the
:class:`Response` (or None after a sleep), and returns its value. :class:`~.sync.Client` and
:class:`~.aio.AsyncClient` only carry the steps out, so what a route means, how its answer
is decoded and how a long wait is cut into long polls exists once, here.

:func:`decode` is the one place an answer becomes a value or an exception
(:func:`~.errors.error_for`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from .errors import ProtocolError, WaitTimeout, error_for, job_error_for

__all__ = [
    "FINAL_STATES",
    "Operation",
    "Request",
    "Response",
    "Sleep",
    "decode",
    "job_path",
    "result",
    "user_path",
    "wait_record",
]

T = TypeVar("T")

#: Job states that never change again.
FINAL_STATES = frozenset({"succeeded", "failed", "timeout", "cancelled"})
#: The longest single long poll (``?wait=``); the platform's default ceiling is 60 s.
POLL_CHUNK = 20.0


@dataclass(frozen=True)
class Request:
    """One HTTP request, relative to the client's base URL."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Seconds the platform may hold the request (``?wait=``), added to the read timeout.
    hold: float = 0.0
    #: Whether sending it twice does no harm, so it may be resent after a broken connection
    #: (GETs, replacements, submissions carrying an ``Idempotency-Key``).
    resendable: bool = True


@dataclass(frozen=True)
class Response:
    """What came back: the status, the headers (lower-case names) and the body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Sleep:
    """Wait this many seconds before the next step."""

    seconds: float


#: A step sequence returning ``T``.
Operation = Generator[Request | Sleep, Response | None, T]


def user_path(user: str, *rest: str) -> str:
    """``/u/<user>/...`` with every part quoted."""
    return "/".join(["", "u", *(quote(part, safe="") for part in (user, *rest))])


def job_path(job_id: str, *rest: str) -> str:
    """``/j/<id>/...`` with every part quoted."""
    return "/".join(["", "j", *(quote(part, safe="") for part in (job_id, *rest))])


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def envelope(response: Response) -> tuple[bool, Any]:
    """``(error, res)`` of the platform's envelope; ProtocolError when the body is not one."""
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    if not isinstance(body, dict) or "error" not in body or "res" not in body:
        snippet = response.body[:200].decode("utf-8", "replace")
        raise ProtocolError(f"HTTP {response.status}, not a faas-trio answer: {snippet!r}")
    return bool(body["error"]), body["res"]


def decode(response: Response) -> Any:
    """The ``res`` of a successful answer.

    Raises:
        ApiError: (a subclass by status) the platform answered with an error.
        ProtocolError: the body is not the platform's envelope.
    """
    error, res = envelope(response)
    if error or response.status >= 400:
        message = res if isinstance(res, str) else json.dumps(res)
        raise error_for(response.status, message, _retry_after(response.headers))
    return res


def call(request: Request) -> Operation[Any]:
    """One request, its ``res`` returned (the simplest operation)."""
    response = yield request
    assert response is not None
    return decode(response)


def json_body(value: Any) -> bytes:
    """``value`` as the compact JSON the platform reads."""
    return json.dumps(value, separators=(",", ":")).encode()


def submit(
    user: str,
    function: str,
    args: Sequence[Any],
    *,
    idempotency_key: str,
    wait: float = 0.0,
) -> Operation[Any]:
    """Queue a call: the job id, or with ``wait`` the record so far (final or not)."""
    params = {"wait": f"{wait:g}"} if wait > 0 else {}
    request = Request(
        "POST",
        user_path(user, "fn", function, "run"),
        params=params,
        content=json_body(list(args)),
        headers={"Idempotency-Key": idempotency_key, "Content-Type": "application/json"},
        hold=wait,
    )
    response = yield request
    assert response is not None
    return decode(response)


def wait_record(job_id: str, timeout: float | None) -> Operation[dict[str, Any]]:
    """The job's record once final, long-polling in chunks until ``timeout`` seconds pass.

    Raises:
        WaitTimeout: the job was not final in time (``timeout`` None: wait for ever).
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = POLL_CHUNK if deadline is None else max(0.0, deadline - time.monotonic())
        chunk = min(POLL_CHUNK, left)
        params = {"wait": f"{chunk:.3f}"} if chunk > 0 else {}
        response = yield Request("GET", job_path(job_id, "record"), params=params, hold=chunk)
        assert response is not None
        record: dict[str, Any] = decode(response)
        if record.get("state") in FINAL_STATES:
            return record
        if deadline is not None and time.monotonic() >= deadline:
            raise WaitTimeout("job", job_id, timeout or 0.0)


def value_of(record: dict[str, Any]) -> Any:
    """The value of a final job: its ``value``; JobError (by state) when it has none."""
    if record.get("state") == "succeeded":
        return record.get("value")
    raise job_error_for(record)


def result(job_id: str, timeout: float | None) -> Operation[Any]:
    """The job's value once final (see :func:`wait_record` and :func:`value_of`)."""
    record = yield from wait_record(job_id, timeout)
    return value_of(record)


def run(
    user: str,
    function: str,
    args: Sequence[Any],
    *,
    idempotency_key: str,
    timeout: float | None,
) -> Operation[Any]:
    """Call and wait: submit with a first wait, then long-poll; the value or JobError."""
    first = POLL_CHUNK if timeout is None else min(POLL_CHUNK, timeout)
    started = time.monotonic()
    record = yield from submit(user, function, args, idempotency_key=idempotency_key, wait=first)
    if record.get("state") not in FINAL_STATES:
        left = None if timeout is None else max(0.0, timeout - (time.monotonic() - started))
        try:
            record = yield from wait_record(record["id"], left)
        except WaitTimeout as exc:
            raise WaitTimeout("job", exc.ident, timeout or 0.0) from None
    return value_of(record)
