"""The platform's REST API as the scenarios use it: users, functions, runs, and waiting for jobs.

Every body is the envelope ``{"error": bool, "res": ...}``. Setup calls (user, function) raise
:class:`SetupError` when they fail, since a scenario cannot go on without them; calls made
under load answer data and let the generator count failures.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import httpx
import trio

from .generator import RequestFailed

__all__ = [
    "FINAL_STATES",
    "SetupError",
    "cancel_job",
    "create_user",
    "delete_user",
    "envelope",
    "register_function",
    "run_and_wait",
    "submit",
    "wait_for_job",
]

#: Job states that never change again.
FINAL_STATES = frozenset({"succeeded", "failed", "timeout", "cancelled"})


class SetupError(RuntimeError):
    """A call a scenario needs before it can load anything failed; the message says which."""


def envelope(response: httpx.Response) -> tuple[bool, Any]:
    """``(ok, res)`` of a response: ok when the status is 2xx and ``error`` is false.

    Raises:
        ValueError: the body is not the JSON envelope.
    """
    body = response.json()
    if not isinstance(body, dict) or "res" not in body:
        raise ValueError(f"not an envelope: {response.text[:200]!r}")
    return response.is_success and body.get("error") is False, body["res"]


async def _setup_call(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = await client.request(method, path, **kwargs)
        ok, res = envelope(response)
    except (httpx.HTTPError, ValueError) as exc:
        raise SetupError(f"{method} {path}: {exc!r}") from exc
    if not ok:
        raise SetupError(f"{method} {path}: HTTP {response.status_code} {res!r}")
    return res


async def create_user(client: httpx.AsyncClient, user: str) -> None:
    """Register ``user`` (resetting it if it exists).

    Cancellation: blocks on one request; the user may or may not exist after a cancel.
    """
    await _setup_call(client, "POST", f"/u/{user}")


async def delete_user(client: httpx.AsyncClient, user: str) -> None:
    """Remove ``user``; a failure is ignored, since this is only tidying up.

    Cancellation: blocks on one request.
    """
    try:
        await client.delete(f"/u/{user}")
    except httpx.HTTPError:
        pass


async def register_function(
    client: httpx.AsyncClient,
    user: str,
    name: str,
    source: str,
    *,
    runtime: str | None = None,
    function_timeout: float | None = None,
) -> None:
    """Register ``source`` as ``user``'s function ``name``, with the platform's per-call
    ``function_timeout`` (s) when given.

    Cancellation: blocks on one request; the function may or may not exist after a cancel.
    """
    params: dict[str, str] = {}
    if runtime is not None:
        params["runtime"] = runtime
    if function_timeout is not None:
        params["timeout"] = f"{function_timeout:g}"
    await _setup_call(
        client, "POST", f"/u/{user}/fn/{name}", content=source.encode(), params=params
    )


async def run_and_wait(
    client: httpx.AsyncClient, user: str, fn: str, args: Sequence[Any], wait: float
) -> dict[str, Any]:
    """Run ``fn(*args)`` with ``?wait=`` and answer the job record of a call that succeeded
    within ``wait`` s.

    Raises:
        RequestFailed: the call was refused (``HTTP <status>``), did not finish in time
            (``HTTP 202``) or did not succeed (``state <state>``).
        httpx.HTTPError, ValueError: the request failed or the answer was not an envelope.

    Cancellation: blocks on one request, up to ``wait`` plus the platform's own deadline; a
    cancel may leave the job queued.
    """
    response = await client.post(
        f"/u/{user}/fn/{fn}/run", params={"wait": f"{wait:g}"}, content=json.dumps(args)
    )
    ok, record = envelope(response)
    if not ok or response.status_code != 200 or not isinstance(record, dict):
        raise RequestFailed(f"HTTP {response.status_code}")
    if record.get("state") != "succeeded":
        raise RequestFailed(f"state {record.get('state')}")
    return record


async def submit(client: httpx.AsyncClient, user: str, fn: str, args: Sequence[Any]) -> str:
    """Queue ``fn(*args)`` without waiting and answer the job id.

    Raises:
        RequestFailed: the call was refused (``HTTP <status>``, e.g. 429 when a queue limit
            is reached).
        httpx.HTTPError, ValueError: the request failed or the answer was not an envelope.

    Cancellation: blocks on one request; a cancel may leave the job queued.
    """
    response = await client.post(f"/u/{user}/fn/{fn}/run", content=json.dumps(args))
    ok, job_id = envelope(response)
    if not ok or not isinstance(job_id, str):
        raise RequestFailed(f"HTTP {response.status_code}")
    return job_id


def _missing_route(response: httpx.Response) -> bool:
    """Whether a 404 says the route does not exist (rather than the job)."""
    return "no such route" in response.text or not response.text.lstrip().startswith("{")


async def wait_for_job(
    client: httpx.AsyncClient, job_id: str, *, poll_wait: float, time_limit: float
) -> dict[str, Any] | None:
    """Wait until job ``job_id`` is final and answer its record (``/j/<id>/record?wait=``), or
    ``{"id": job_id, "state": "done", "finished_at": <now>}`` when the platform only has the
    old ``/j/<id>`` status route. None when ``time_limit`` s pass first or the job is unknown.

    Raises:
        httpx.HTTPError, ValueError: a request failed or an answer was not an envelope.

    Cancellation: blocks on long polls of at most ``poll_wait`` s; nothing to undo.
    """
    record_route = True
    with trio.move_on_after(time_limit):
        while True:
            if record_route:
                response = await client.get(
                    f"/j/{job_id}/record", params={"wait": f"{poll_wait:g}"}
                )
                if response.status_code == 404:
                    if _missing_route(response):
                        record_route = False
                        continue
                    return None
                ok, record = envelope(response)
                if ok and isinstance(record, dict) and record.get("state") in FINAL_STATES:
                    return record
            else:
                response = await client.get(f"/j/{job_id}", params={"wait": f"{poll_wait:g}"})
                ok, status = envelope(response)
                if response.status_code == 404:
                    return None
                if ok and status == 1:
                    return {"id": job_id, "state": "done", "finished_at": time.time()}
                # The old API has no long poll: do not spin on it.
                await trio.sleep(0.05)
    return None


async def cancel_job(client: httpx.AsyncClient, job_id: str) -> bool:
    """Cancel and remove job ``job_id`` (``DELETE /j/<id>``); True when it answered 2xx.

    Raises:
        httpx.HTTPError: the request failed.

    Cancellation: blocks on one request; the job may or may not be cancelled after a cancel.
    """
    return (await client.delete(f"/j/{job_id}")).is_success
