"""The blocking client: :class:`Client` and its handles :class:`Function`, :class:`Job`.

Every method carries out one operation of :class:`~.api.Api` over an ``httpx.Client``,
sending again what :class:`~.retry.RetryPolicy` allows (:func:`~.base.retried`). Every
request has a timeout (``timeout`` seconds, plus the time the platform is asked to hold a long
poll).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from .api import Emit, Stream
from .base import DEFAULT_URL, ClientBase, retried
from .protocol import Operation, Request, Response, Sleep, result, wait_record
from .retry import RetryPolicy
from .sources import read_requirements, read_source

__all__ = ["Client", "Function", "Job"]

T = TypeVar("T")


class Client(ClientBase):
    """A connection to one platform, acting for one user (see :class:`~.base.ClientBase`).
    Use it as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        key: str | None = None,
        *,
        user: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, key, user=user, timeout=timeout, retry=retry)
        self._http = httpx.Client(
            base_url=self.url, headers=self.headers, timeout=timeout, transport=transport
        )

    # ---- carrying out steps --------------------------------------------------------------
    def _attempt(self, request: Request) -> Response | httpx.TransportError:
        try:
            answer = self._http.request(**self.http_arguments(request))
        except httpx.TransportError as exc:
            return exc
        return Response(answer.status_code, answer.headers, answer.content)

    def _carry_out(self, operation: Stream | Operation[T]) -> Generator[Any, None, T]:
        """Carry out ``operation`` (retried as :attr:`retry` allows): yields what it emits,
        returns its value."""
        steps = retried(operation, self.retry, self.url)
        answer: Response | httpx.TransportError | None = None
        while True:
            try:
                step = steps.send(answer)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            answer = None
            if isinstance(step, Emit):
                yield step.value
            elif isinstance(step, Sleep):
                time.sleep(step.seconds)
            else:
                answer = self._attempt(step)

    def run(self, operation: Operation[T]) -> T:
        """Carry out ``operation`` and return its value."""
        steps = self._carry_out(operation)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    def stream(self, operation: Stream) -> Iterator[Any]:
        """Carry out a streaming ``operation``, yielding what it emits."""
        yield from self._carry_out(operation)

    # ---- users and functions -------------------------------------------------------------
    def create_user(self, name: str) -> str | None:
        """Register ``name``; its API key in keys mode (shown only this once), else None."""
        res = self.run(self.api.create_user(name))
        return res.get("api_key") if isinstance(res, dict) else None

    def delete_user(self, name: str) -> None:
        self.run(self.api.delete_user(name))

    def deploy(
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
    ) -> Function:
        """Register (or replace) a function from source text or a file, wait for its build.

        ``requirements`` is a list of lines or a requirements file. Raises BuildFailed.
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
        self.run(operation)
        return self.function(name)

    def function(self, name: str) -> Function:
        """A handle on the user's function ``name`` (no request is made)."""
        return Function(self, name)

    def functions(self) -> dict[str, str]:
        """``{name: source}`` of the user's functions."""
        return self.run(self.api.functions())

    def set_secret(self, name: str, value: str) -> None:
        """Store (or replace) the secret ``name``; functions that name it get it at call time."""
        self.run(self.api.set_secret(name, value))

    def secrets(self) -> list[str]:
        """The names of the user's secrets (values are never shown)."""
        return self.run(self.api.secrets())

    def delete_secret(self, name: str) -> None:
        self.run(self.api.delete_secret(name))

    def job(self, job_id: str) -> Job:
        """A handle on the job ``job_id`` (no request is made)."""
        return Job(self, job_id)

    def jobs(self, state: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """The user's recent job records, newest first."""
        jobs: list[dict[str, Any]] = self.run(self.api.jobs(state, limit))
        return jobs

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Function:
    """A function of the client's user: call it, submit calls, map it over inputs."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name

    def __call__(self, *args: Any, timeout: float | None = None) -> Any:
        """Call and wait: the value; JobFailed/JobTimeout/JobCancelled, WaitTimeout."""
        return self.client.run(self.client.call(self.name, args, timeout))

    def submit(self, *args: Any) -> Job:
        """Queue a call; the job, without waiting for it."""
        job_id = self.client.run(self.client.submission(self.name, args))
        return Job(self.client, str(job_id))

    def map(
        self,
        inputs: Iterable[Sequence[Any] | Any],
        *,
        ordered: bool = True,
        timeout: float | None = None,
        return_exceptions: bool = False,
    ) -> Iterator[Any]:
        """One call per input (a list of arguments, or one argument) as one group; the
        values as they finish, in input order unless ``ordered=False``."""
        group = self.map_group(inputs)
        return self.client.stream(
            self.client.api.map_results(
                group, ordered=ordered, timeout=timeout, return_exceptions=return_exceptions
            )
        )

    def map_group(self, inputs: Iterable[Sequence[Any] | Any]) -> dict[str, Any]:
        """Queue one call per input as one group: ``{id, total, jobs}``."""
        return self.client.run(self.client.group_submission(self.name, inputs))

    def info(self) -> dict[str, Any]:
        """The function's description (source, runtime, limits, version, build)."""
        return self.client.run(self.client.api.get_function(self.name))

    def delete(self) -> None:
        self.client.run(self.client.api.delete_function(self.name))


class Job:
    """One submitted call."""

    def __init__(self, client: Client, job_id: str) -> None:
        self.client = client
        self.id = job_id

    def result(self, timeout: float | None = None) -> Any:
        """The value once final; JobFailed/JobTimeout/JobCancelled, or WaitTimeout."""
        return self.client.run(result(self.id, timeout))

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """The record once final (whatever the state); WaitTimeout if not in time."""
        return self.client.run(wait_record(self.id, timeout))

    def record(self) -> dict[str, Any]:
        """The record as it stands now."""
        return self.client.run(self.client.api.record(self.id))

    def logs(self) -> str:
        """What the call printed so far (capped by the platform)."""
        return self.client.run(self.client.api.logs(self.id))

    def cancel(self) -> None:
        """Cancel the job (a running call is killed) and remove it."""
        self.client.run(self.client.api.cancel(self.id))

    def __repr__(self) -> str:
        return f"Job({self.id!r})"
