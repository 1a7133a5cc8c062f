"""The operations of one user, as step generators (:mod:`.protocol`) both clients carry out.

:class:`Api` knows the user the client acts for and builds every operation the clients
offer: users, functions (with the build wait), calls, jobs, and maps (groups).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .errors import BuildFailed, WaitTimeout, job_error_for
from .protocol import (
    FINAL_STATES,
    POLL_CHUNK,
    Operation,
    Request,
    Response,
    Sleep,
    call,
    decode,
    job_path,
    json_body,
    user_path,
)

__all__ = ["Api", "Emit", "Stream", "user_of_key"]

#: Build states after which a function's build will not change.
_BUILD_DONE = frozenset({"ready", "failed"})
#: Seconds between looks at a build in progress.
_BUILD_POLL = 0.5
#: Items read per page of a group's results.
_PAGE = 500


@dataclass(frozen=True)
class Emit:
    """A streaming operation's next value, handed to the caller's iterator."""

    value: Any


#: A step sequence that also emits values (see :class:`Emit`).
Stream = Generator[Request | Sleep | Emit, Response | None, None]


def user_of_key(key: str | None) -> str | None:
    """The user a key belongs to: keys are ``<user>.<secret>``; the admin's names none."""
    if key and "." in key:
        return key.split(".", 1)[0]
    return None


def _group_path(group_id: str, *rest: str) -> str:
    return "/".join(["", "g", *(quote(part, safe="") for part in (group_id, *rest))])


def _item_value(item: dict[str, Any], return_exceptions: bool) -> Any:
    if item.get("state") == "succeeded":
        return item.get("value")
    error = job_error_for(item)
    if return_exceptions:
        return error
    raise error


class Api:
    """Every operation, for ``user`` (None: only user-free operations work)."""

    def __init__(self, user: str | None) -> None:
        self._user = user

    @property
    def user(self) -> str:
        """The user this client acts for; ValueError when it has none."""
        if self._user is None:
            raise ValueError("no user: pass user=... or an API key (which names its user)")
        return self._user

    # ---- users ---------------------------------------------------------------------------
    def create_user(self, name: str) -> Operation[Any]:
        """Register ``name``: 1 in open mode, ``{user, api_key}`` in keys mode."""
        return call(Request("POST", user_path(name), resendable=False))

    def delete_user(self, name: str) -> Operation[Any]:
        return call(Request("DELETE", user_path(name), resendable=False))

    def time_ms(self) -> Operation[Any]:
        return call(Request("GET", user_path(self.user, "time")))

    # ---- functions -----------------------------------------------------------------------
    def deploy(
        self,
        name: str,
        source: str,
        *,
        runtime: str | None = None,
        timeout: float | None = None,
        memory_mb: int | None = None,
        requirements: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        secrets: Sequence[str] | None = None,
        build_timeout: float = 600.0,
    ) -> Operation[dict[str, Any]]:
        """Register (or replace) a function and wait for its build; its description.

        Without requirements, env or secrets the body is the raw source (the old API);
        otherwise the JSON registration. Raises BuildFailed when the build fails.
        """
        path = user_path(self.user, "fn", name)
        limits = {"runtime": runtime, "timeout": timeout, "memory_mb": memory_mb}
        if requirements or env or secrets:
            body: dict[str, Any] = {"source": source}
            body.update({k: v for k, v in limits.items() if v is not None})
            if requirements:
                body["requirements"] = list(requirements)
            if env:
                body["env"] = dict(env)
            if secrets:
                body["secrets"] = list(secrets)
            wait = min(POLL_CHUNK, build_timeout)
            request = Request(
                "POST",
                path,
                params={"wait": f"{wait:g}"} if requirements else {},
                content=json_body(body),
                headers={"Content-Type": "application/json"},
                hold=wait if requirements else 0.0,
            )
        else:
            params = {k: f"{v:g}" if isinstance(v, float) else str(v) for k, v in limits.items()}
            request = Request(
                "POST",
                path,
                params={k: v for k, v in params.items() if v != "None"},
                content=source.encode(),
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
        yield from call(request)
        deadline = time.monotonic() + build_timeout
        while True:
            info: dict[str, Any] = yield from self.get_function(name)
            build = info.get("build")
            if not isinstance(build, dict) or build.get("state") in _BUILD_DONE:
                break
            if time.monotonic() >= deadline:
                raise WaitTimeout("the build of", name, build_timeout)
            yield Sleep(_BUILD_POLL)
        if isinstance(build, dict) and build.get("state") == "failed":
            words = [str(build[k]) for k in ("error", "log") if build.get(k)]
            raise BuildFailed(name, "\n".join(words))
        return info

    def get_function(self, name: str) -> Operation[dict[str, Any]]:
        return call(Request("GET", user_path(self.user, "fn", name)))

    def functions(self) -> Operation[dict[str, str]]:
        """``{name: source}`` of every function of the user."""
        return call(Request("GET", user_path(self.user, "fn")))

    def delete_function(self, name: str) -> Operation[Any]:
        return call(Request("DELETE", user_path(self.user, "fn", name)))

    # ---- secrets -------------------------------------------------------------------------
    def set_secret(self, name: str, value: str) -> Operation[Any]:
        """Store (or replace) a secret: its value is write-only."""
        request = Request(
            "PUT",
            user_path(self.user, "secrets", name),
            content=value.encode(),
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        return call(request)

    def secrets(self) -> Operation[list[str]]:
        """The names of the user's secrets (never their values)."""
        return call(Request("GET", user_path(self.user, "secrets")))

    def delete_secret(self, name: str) -> Operation[Any]:
        return call(Request("DELETE", user_path(self.user, "secrets", name)))

    # ---- jobs ----------------------------------------------------------------------------
    def jobs(self, state: str | None = None, limit: int | None = None) -> Operation[Any]:
        params = {"state": state, "limit": None if limit is None else str(limit)}
        request = Request(
            "GET",
            user_path(self.user, "jobs"),
            params={k: v for k, v in params.items() if v is not None},
        )
        return call(request)

    def record(self, job_id: str) -> Operation[dict[str, Any]]:
        return call(Request("GET", job_path(job_id, "record")))

    def result_text(self, job_id: str) -> Operation[Any]:
        return call(Request("GET", job_path(job_id, "res")))

    def logs(self, job_id: str) -> Operation[str]:
        return call(Request("GET", job_path(job_id, "logs")))

    def cancel(self, job_id: str) -> Operation[Any]:
        """Cancel the job (a running call is killed) and remove it."""
        return call(Request("DELETE", job_path(job_id)))

    # ---- maps ----------------------------------------------------------------------------
    def map_submit(
        self, function: str, items: Iterable[Sequence[Any]], *, idempotency_key: str
    ) -> Operation[dict[str, Any]]:
        """Queue one call per item as one group: ``{id, total, jobs}``."""
        request = Request(
            "POST",
            user_path(self.user, "fn", function, "map"),
            content=json_body([list(item) for item in items]),
            headers={"Idempotency-Key": idempotency_key, "Content-Type": "application/json"},
        )
        return call(request)

    def group(self, group_id: str, wait: float = 0.0) -> Operation[dict[str, Any]]:
        """The group's counts by state and timing (``wait``: until every item is final)."""
        params = {"wait": f"{wait:g}"} if wait > 0 else {}
        return call(Request("GET", _group_path(group_id), params=params, hold=wait))

    def group_results(
        self, group_id: str, offset: int = 0, limit: int = _PAGE
    ) -> Operation[list[dict[str, Any]]]:
        params = {"offset": str(offset), "limit": str(limit)}
        return call(Request("GET", _group_path(group_id, "results"), params=params))

    def cancel_group(self, group_id: str) -> Operation[Any]:
        return call(Request("DELETE", _group_path(group_id)))

    def groups(self) -> Operation[Any]:
        return call(Request("GET", user_path(self.user, "groups")))

    def map_results(
        self,
        group: dict[str, Any],
        *,
        ordered: bool = True,
        timeout: float | None = None,
        return_exceptions: bool = False,
    ) -> Stream:
        """Emit each item's value as items finish: in input order, or as they come.

        Reads the results in pages from the first item not yet emitted; when nothing new is
        final, long-polls that item's job. A failed item raises its JobError (or, with
        ``return_exceptions``, emits it).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        total = int(group["total"])
        job_ids: list[str] = list(group.get("jobs") or [])
        emitted = [False] * total
        first = 0  # every item before it was emitted
        while first < total:
            page = yield from self.group_results(group["id"], first, _PAGE)
            progress = False
            for index, item in enumerate(page, start=first):
                if index >= total:
                    break
                if emitted[index]:
                    continue
                if item.get("state") not in FINAL_STATES:
                    if ordered:
                        break
                    continue
                yield Emit(_item_value(item, return_exceptions))
                emitted[index] = progress = True
            while first < total and emitted[first]:
                first += 1
            if progress or first >= total:
                continue
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout("group", str(group["id"]), timeout or 0.0)
            left = POLL_CHUNK if deadline is None else deadline - time.monotonic()
            chunk = max(0.0, min(POLL_CHUNK, left))
            if first < len(job_ids):
                path = job_path(job_ids[first], "record")
                response = yield Request("GET", path, params={"wait": f"{chunk:.3f}"}, hold=chunk)
                assert response is not None
                decode(response)
            else:
                yield Sleep(min(0.2, chunk))
