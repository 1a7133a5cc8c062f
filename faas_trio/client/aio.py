"""The async client: :class:`AsyncClient` and its handles, for trio and asyncio alike.

The same operations as :class:`~.sync.Client` (:class:`~.api.Api`), carried out over an
``httpx.AsyncClient``; sleeps go through anyio, so the one class runs under ``trio.run``
and ``asyncio.run``.

Cancellation: every method that waits can be cancelled at any await; a cancelled request is
dropped (its connection closed), and a submission already received stays queued on the
platform (its job id is lost to the caller, who can find it with :meth:`AsyncClient.jobs`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from .api import Emit, Stream
from .base import DEFAULT_URL, ClientBase, retried
from .protocol import Operation, Request, Response, Sleep, result, wait_record
from .retry import RetryPolicy
from .sources import read_requirements, read_source

__all__ = ["AsyncClient", "AsyncFunction", "AsyncJob"]

T = TypeVar("T")


class AsyncClient(ClientBase):
    """A connection to one platform, acting for one user (see :class:`~.base.ClientBase`).
    Use it as an async context manager, or await :meth:`aclose`."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        key: str | None = None,
        *,
        user: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, key, user=user, timeout=timeout, retry=retry)
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=self.headers, timeout=timeout, transport=transport
        )

    # ---- carrying out steps --------------------------------------------------------------
    async def _step(self, step: Request | Sleep) -> Response | httpx.TransportError | None:
        """One try of a request (its answer, or the error it failed with), or a sleep.

        Cancellation: at the request or the sleep.
        """
        if isinstance(step, Sleep):
            await anyio.sleep(step.seconds)
            return None
        try:
            answer = await self._http.request(**self.http_arguments(step))
        except httpx.TransportError as exc:
            return exc
        return Response(answer.status_code, answer.headers, answer.content)

    async def run(self, operation: Operation[T]) -> T:
        """Carry out ``operation`` (retried as :attr:`retry` allows) and return its value.

        Cancellation: at any request or sleep of the operation.
        """
        steps = retried(operation, self.retry, self.url)
        answer: Response | httpx.TransportError | None = None
        while True:
            try:
                step = steps.send(answer)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            assert not isinstance(step, Emit)  # an Operation emits nothing
            answer = await self._step(step)

    async def stream(self, operation: Stream) -> AsyncIterator[Any]:
        """Carry out a streaming ``operation``, yielding what it emits.

        Cancellation: at any request or sleep of the operation.
        """
        steps = retried(operation, self.retry, self.url)
        answer: Response | httpx.TransportError | None = None
        while True:
            try:
                step = steps.send(answer)
            except StopIteration:
                return
            if isinstance(step, Emit):
                yield step.value
                answer = None
            else:
                answer = await self._step(step)

    # ---- users and functions -------------------------------------------------------------
    async def create_user(self, name: str) -> str | None:
        """Register ``name``; its API key in keys mode (shown only this once), else None."""
        res = await self.run(self.api.create_user(name))
        return res.get("api_key") if isinstance(res, dict) else None

    async def delete_user(self, name: str) -> None:
        await self.run(self.api.delete_user(name))

    async def deploy(
        self,
        name: str,
        source_or_path: str | Path,
        *,
        runtime: str | None = None,
        timeout: float | None = None,
        memory_mb: int | None = None,
        requirements: Sequence[str] | str | Path | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Sequence[str] | None = None,
        build_timeout: float = 600.0,
    ) -> AsyncFunction:
        """Register (or replace) a function, wait for its build (see ``Client.deploy``).

        Cancellation: while registering or waiting for the build; the registration may
        have been made.
        """
        operation = self.api.deploy(
            name,
            read_source(source_or_path),
            runtime=runtime,
            timeout=timeout,
            memory_mb=memory_mb,
            requirements=read_requirements(requirements),
            env=env,
            secrets=secrets,
            build_timeout=build_timeout,
        )
        await self.run(operation)
        return self.function(name)

    def function(self, name: str) -> AsyncFunction:
        """A handle on the user's function ``name`` (no request is made)."""
        return AsyncFunction(self, name)

    async def functions(self) -> dict[str, str]:
        """``{name: source}`` of the user's functions."""
        return await self.run(self.api.functions())

    async def set_secret(self, name: str, value: str) -> None:
        """Store (or replace) the secret ``name``. Cancellation: the write may be done."""
        await self.run(self.api.set_secret(name, value))

    async def secrets(self) -> list[str]:
        """The names of the user's secrets (values are never shown)."""
        return await self.run(self.api.secrets())

    async def delete_secret(self, name: str) -> None:
        await self.run(self.api.delete_secret(name))

    def job(self, job_id: str) -> AsyncJob:
        """A handle on the job ``job_id`` (no request is made)."""
        return AsyncJob(self, job_id)

    async def jobs(
        self, state: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """The user's recent job records, newest first."""
        jobs: list[dict[str, Any]] = await self.run(self.api.jobs(state, limit))
        return jobs

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class AsyncFunction:
    """A function of the client's user (see :class:`~.sync.Function`)."""

    def __init__(self, client: AsyncClient, name: str) -> None:
        self.client = client
        self.name = name

    async def __call__(self, *args: Any, timeout: float | None = None) -> Any:
        """Call and wait: the value; JobFailed/JobTimeout/JobCancelled, WaitTimeout.

        Cancellation: while submitting or waiting; the job may stay queued or running.
        """
        return await self.client.run(self.client.call(self.name, args, timeout))

    async def submit(self, *args: Any) -> AsyncJob:
        """Queue a call; the job, without waiting for it.

        Cancellation: while submitting; the job may have been queued.
        """
        job_id = await self.client.run(self.client.submission(self.name, args))
        return AsyncJob(self.client, str(job_id))

    async def map(
        self,
        inputs: Iterable[Sequence[Any] | Any],
        *,
        ordered: bool = True,
        timeout: float | None = None,
        return_exceptions: bool = False,
    ) -> AsyncIterator[Any]:
        """One call per input as one group; the values as they finish (see ``Function.map``).

        Cancellation: while submitting or waiting; the group's items keep running.
        """
        group = await self.map_group(inputs)
        operation = self.client.api.map_results(
            group, ordered=ordered, timeout=timeout, return_exceptions=return_exceptions
        )
        async for value in self.client.stream(operation):
            yield value

    async def map_group(self, inputs: Iterable[Sequence[Any] | Any]) -> dict[str, Any]:
        """Queue one call per input as one group: ``{id, total, jobs}``.

        Cancellation: while submitting; the group may have been queued.
        """
        return await self.client.run(self.client.group_submission(self.name, inputs))

    async def info(self) -> dict[str, Any]:
        return await self.client.run(self.client.api.get_function(self.name))

    async def delete(self) -> None:
        await self.client.run(self.client.api.delete_function(self.name))


class AsyncJob:
    """One submitted call (see :class:`~.sync.Job`)."""

    def __init__(self, client: AsyncClient, job_id: str) -> None:
        self.client = client
        self.id = job_id

    async def result(self, timeout: float | None = None) -> Any:
        """The value once final; JobFailed/JobTimeout/JobCancelled, or WaitTimeout.

        Cancellation: while long-polling; the job is not affected.
        """
        return await self.client.run(result(self.id, timeout))

    async def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """The record once final. Cancellation: while long-polling; the job is not affected."""
        return await self.client.run(wait_record(self.id, timeout))

    async def record(self) -> dict[str, Any]:
        return await self.client.run(self.client.api.record(self.id))

    async def logs(self) -> str:
        return await self.client.run(self.client.api.logs(self.id))

    async def cancel(self) -> None:
        """Cancel the job (a running call is killed) and remove it."""
        await self.client.run(self.client.api.cancel(self.id))

    def __repr__(self) -> str:
        return f"AsyncJob({self.id!r})"
