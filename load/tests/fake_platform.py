"""A stand-in for the platform's REST API, served through ``httpx.MockTransport``.

It keeps users, functions and jobs in memory and finishes every job the moment it is
submitted (``add`` answers ``a + b``, ``nap`` answers its argument), so scenarios can be run
end to end without processes or sockets. ``refuse_runs`` makes every run answer 429.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["FakePlatform"]

_RUN = re.compile(r"^/u/([^/]+)/fn/([^/]+)/run$")
_FN = re.compile(r"^/u/([^/]+)/fn/([^/]+)$")
_USER = re.compile(r"^/u/([^/]+)$")
_JOB = re.compile(r"^/j/([0-9a-f]{24})(/record)?$")
_MAP = re.compile(r"^/u/([^/]+)/fn/([^/]+)/map$")
_GROUP = re.compile(r"^/g/([0-9a-f]{24})(/results)?$")


def _answer(res: Any, status: int = 200, *, error: bool = False) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "res": res})


@dataclass
class FakePlatform:
    """The fake's state; ``transport()`` serves it."""

    users: set[str] = field(default_factory=set)
    functions: dict[tuple[str, str], str] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Group id -> its items' values, in input order (every item finishes at once).
    groups: dict[str, list[Any]] = field(default_factory=dict)
    requests: int = 0
    refuse_runs: bool = False
    metrics: str | None = None

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _run(self, user: str, fn: str, body: bytes, wait: str | None) -> httpx.Response:
        if (user, fn) not in self.functions:
            return _answer("no such function", 404, error=True)
        if self.refuse_runs:
            return _answer("queue is full", 429, error=True)
        args = json.loads(body or b"[]")
        value = sum(args) if fn == "add" or fn.startswith("cold_") else args[0]
        now = time.time()
        job_id = f"{len(self.jobs) + 1:024x}"
        record = {
            "id": job_id,
            "state": "succeeded",
            "value": value,
            "result": str(value),
            "cold_start": fn.startswith("cold_"),
            "created_at": now,
            "finished_at": now + 0.001,
        }
        self.jobs[job_id] = record
        return _answer(record if wait is not None else job_id)

    def _map(self, user: str, fn: str, body: bytes) -> httpx.Response:
        if (user, fn) not in self.functions:
            return _answer("no such function", 404, error=True)
        items = json.loads(body)
        group = f"{len(self.groups) + 1:024x}"
        self.groups[group] = [sum(args) for args in items]
        return _answer({"id": group, "total": len(items), "jobs": []})

    def _group(self, group: str, results: bool, request: httpx.Request) -> httpx.Response:
        values = self.groups.get(group)
        if values is None:
            return _answer("no such group", 404, error=True)
        if request.method == "DELETE":
            return _answer(0)
        if not results:
            counts = {"queued": 0, "running": 0, "succeeded": len(values)}
            return _answer({"id": group, "total": len(values), "counts": counts,
                            "final": len(values), "done": True})  # fmt: skip
        lines = [
            {"index": i, "id": group, "state": "succeeded", "value": v, "result": str(v)}
            for i, v in enumerate(values)
        ]
        text = "".join(json.dumps(line) + "\n" for line in lines)
        return httpx.Response(200, text=text, headers={"Content-Type": "application/x-ndjson"})

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        path, method = request.url.path, request.method
        body = await request.aread()
        if path == "/metrics":
            if self.metrics is None:
                return _answer("no such route: GET /metrics", 404, error=True)
            return httpx.Response(200, text=self.metrics)
        if (match := _MAP.match(path)) and method == "POST":
            return self._map(match[1], match[2], body)
        if match := _GROUP.match(path):
            return self._group(match[1], bool(match[2]), request)
        if (match := _RUN.match(path)) and method == "POST":
            return self._run(match[1], match[2], body, request.url.params.get("wait"))
        if (match := _FN.match(path)) and method == "POST":
            if match[1] not in self.users:
                return _answer("no such user", 404, error=True)
            self.functions[(match[1], match[2])] = body.decode()
            return _answer(1)
        if (match := _USER.match(path)) and method in ("POST", "DELETE"):
            (self.users.add if method == "POST" else self.users.discard)(match[1])
            return _answer(1)
        if match := _JOB.match(path):
            job = self.jobs.get(match[1])
            if job is None:
                return _answer("no such job", 404, error=True)
            if method == "DELETE":
                del self.jobs[match[1]]
                return _answer(1)
            return _answer(job if match[2] else 1)
        return _answer(f"no such route: {method} {path}", 404, error=True)
