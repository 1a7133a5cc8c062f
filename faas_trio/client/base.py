"""What the sync and the async client share, so that only their I/O differs (as in httpx):
their settings, how a :class:`~.protocol.Request` becomes the arguments of an httpx request,
and the retries (:func:`retried`), written once as steps.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterable, Sequence
from typing import Any, TypeVar

import httpx

from .api import Api, Emit, user_of_key
from .errors import Unreachable
from .protocol import Operation, Request, Response, Sleep, run, submit
from .retry import RetryPolicy

__all__ = ["DEFAULT_URL", "Attempts", "ClientBase", "retried"]

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8080"

#: Steps of an operation whose requests are single attempts: each is answered with the
#: :class:`~.protocol.Response`, or with the ``httpx.TransportError`` it failed with.
Attempts = Generator[Request | Sleep | Emit, Response | httpx.TransportError | None, T]


def retried(
    steps: Generator[Request | Sleep | Emit, Response | None, T], policy: RetryPolicy, url: str
) -> Attempts[T]:
    """``steps`` with each request tried again as ``policy`` allows, with a :class:`Sleep`
    before each new try; a request that failed for good raises
    :class:`~.errors.Unreachable` (``url`` names the platform)."""
    answer: Response | None = None
    while True:
        try:
            step = steps.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if not isinstance(step, Request):
            answer = None
            yield step
            continue
        attempt = 0
        while True:
            outcome = yield step
            if isinstance(outcome, httpx.TransportError):
                if not policy.retries_error(attempt, step, outcome):
                    raise Unreachable(url, str(outcome) or type(outcome).__name__) from outcome
            elif outcome is not None and not policy.retries_status(attempt, step, outcome.status):
                answer = outcome
                break
            yield Sleep(policy.delay(attempt))
            attempt += 1


class ClientBase:
    """The settings of a client of one platform, acting for one user: ``user`` defaults to
    the one ``key`` names (keys are ``<user>.<secret>``)."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        key: str | None = None,
        *,
        user: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.api = Api(user or user_of_key(key))
        #: Sent with every request.
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    def http_arguments(self, request: Request) -> dict[str, Any]:
        """The keyword arguments of ``httpx`` ``request()`` for one try of ``request``: its
        read timeout is the client's plus the time the platform may hold it."""
        return {
            "method": request.method,
            "url": request.path,
            "params": dict(request.params),
            "content": request.content,
            "headers": dict(request.headers),
            "timeout": httpx.Timeout(self.timeout, read=self.timeout + request.hold),
        }

    def call(self, name: str, args: Sequence[Any], timeout: float | None) -> Operation[Any]:
        """Call ``name`` with ``args`` and wait for its value (resent safely: it carries a
        fresh idempotency key)."""
        key = uuid.uuid4().hex
        return run(self.api.user, name, args, idempotency_key=key, timeout=timeout)

    def submission(self, name: str, args: Sequence[Any]) -> Operation[Any]:
        """Queue a call of ``name`` (with a fresh idempotency key); its job id."""
        return submit(self.api.user, name, args, idempotency_key=uuid.uuid4().hex)

    def group_submission(
        self, name: str, inputs: Iterable[Sequence[Any] | Any]
    ) -> Operation[dict[str, Any]]:
        """Queue one call per input (a list of arguments, or one argument) as one group."""
        items = [list(i) if isinstance(i, list | tuple) else [i] for i in inputs]
        return self.api.map_submit(name, items, idempotency_key=uuid.uuid4().hex)
