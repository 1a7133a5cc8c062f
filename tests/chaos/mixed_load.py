"""The soak's steady mixed load, and what each of its calls must end as.

Every call is one of :data:`OPS`: sync (``?wait=``) and async calls of a Python and a
JavaScript function, calls that fail, calls that time out, and calls cancelled (``DELETE``)
while queued or running. Each job's right outcome follows from its function and its
arguments alone (:func:`expected`), so any job found in a user's list can be checked, also
one whose submission was answered with an error but stored anyway.

Cancelled jobs are deleted (their time stays counted), so cancels go to a user of their own,
left out of the accounting check.
"""

from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

#: name -> (source, registration query).
FUNCTIONS: dict[str, tuple[str, str]] = {
    "double": ("def double(x):\n    import time\n    time.sleep(0.05)\n    return x * 2\n", ""),
    "add": ("async function add(a, b) { return a + b; }", ""),
    "boom": ("def boom(x):\n    raise ValueError(f'boom {x}')\n", ""),
    "nap": ("def nap(x):\n    import time\n    time.sleep(3)\n    return x\n", "?timeout=1"),
    # Only called to be cancelled (and deleted); may end cancelled but stored when the
    # DELETE was answered 503 between the cancel and the removal.
    "hold": ("def hold(x):\n    import time\n    time.sleep(1.5)\n    return x\n", ""),
}
#: Operation -> weight. ``cancel`` submits ``hold`` and deletes it 0-1 s later.
OPS = {
    "async double": 30,
    "sync double": 20,
    "sync add": 15,
    "async add": 5,
    "async boom": 10,
    "async nap": 5,
    "cancel": 10,
}
CANCEL_USER = "chaos-cancel"
#: Jobs a user may have before its list (at most 1000 entries) could miss some.
JOBS_PER_USER = 500
#: The error of a job whose every attempt lost its worker (FAAS_MAX_ATTEMPTS of them).
WORKER_LOST = "worker lost"


def users_for(rate: float, seconds: float) -> list[str]:
    """Enough load users that none gets more than :data:`JOBS_PER_USER` jobs."""
    count = max(3, math.ceil(rate * seconds / JOBS_PER_USER))
    return [f"chaos{i}" for i in range(count)]


def expected(function: str, args: list[Any]) -> tuple[str, str | None]:
    """The final state and result a job of ``function`` with ``args`` must end with (None:
    the result is not checked)."""
    if function == "double":
        return "succeeded", str(args[0] * 2)
    if function == "add":
        return "succeeded", str(args[0] + args[1])
    if function == "boom":
        return "failed", f"boom {args[0]}"
    if function == "nap":
        return "timeout", None
    if function == "hold":
        return "succeeded", str(args[0])
    raise ValueError(f"no function {function}")


def wrong_outcome(record: dict[str, Any]) -> str | None:
    """Why a final ``record`` is not its job's right outcome, or None when it is. A job that
    lost its worker on every attempt may end ``failed: worker lost``."""
    state, result = expected(record["function"], record["args"])
    if record["state"] == "failed" and WORKER_LOST in (record.get("error") or ""):
        return None
    if record["function"] == "hold" and record["state"] == "cancelled":
        return None  # its DELETE cancelled it, then failed to remove it (answered 503)
    if record["state"] != state:
        return f"{record['state']} (want {state}): {record.get('error')}"
    if result is None:
        return None
    if state == "succeeded" and record["result"] == result:
        return None
    if state != "succeeded" and result in f"{record['result']} {record.get('error')}":
        return None
    return f"result {record['result']!r} (want {result!r})"


async def register(http: httpx.AsyncClient, users: list[str]) -> None:
    """Create every user with every function."""
    for user in [*users, CANCEL_USER]:
        reply = await http.post(f"/u/{user}")
        assert reply.status_code == 200, reply.text
        for name, (source, query) in FUNCTIONS.items():
            reply = await http.post(f"/u/{user}/fn/{name}{query}", content=source)
            assert reply.status_code == 200, reply.text


@dataclass
class MixedLoad:
    """Calls at a steady rate until stopped; every answer sorted."""

    url: str
    users: list[str]
    rng: random.Random
    #: Job id -> user, for every call answered with a job id.
    accepted: dict[str, str] = field(default_factory=dict)
    #: Jobs whose DELETE was answered 200: they must be gone.
    cancelled: set[str] = field(default_factory=set)
    #: Refusals by status code or exception name.
    refused: Counter[str] = field(default_factory=Counter)
    #: Answers that were neither a job nor a clear refusal.
    unclear: list[str] = field(default_factory=list)
    ops: Counter[str] = field(default_factory=Counter)
    _n: int = 0

    async def run(self, rate: float, stop: trio.Event) -> None:
        """Start ``rate`` calls a second, each in its own task, until ``stop`` is set; then
        wait for those in flight (each bounded by its client's timeout).

        Cancellation: abandons the calls in flight.
        """
        names = list(OPS)
        weights = [OPS[n] for n in names]
        limits = httpx.Limits(max_connections=128)
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=30.0, limits=limits) as http,
            trio.open_nursery() as nursery,
        ):
            start = trio.current_time()
            n = 0
            while not stop.is_set():
                n += 1
                with trio.move_on_at(start + n / rate):
                    await stop.wait()
                if stop.is_set():
                    break
                op = self.rng.choices(names, weights)[0]
                user = self.rng.choice(self.users)
                self.ops[op] += 1
                nursery.start_soon(self._call, http, op, user, self.rng.random())

    async def _call(self, http: httpx.AsyncClient, op: str, user: str, r: float) -> None:
        """Cancellation: abandons the call."""
        self._n += 1
        i = self._n
        mode, _, function = op.partition(" ")
        if op == "cancel":
            user, function, mode = CANCEL_USER, "hold", "async"
        args = f"[{i}, {i % 7}]" if function == "add" else f"[{i}]"
        query = "?wait=5" if mode == "sync" else ""
        try:
            reply = await http.post(f"/u/{user}/fn/{function}/run{query}", content=args)
        except httpx.TransportError as exc:
            self.refused[type(exc).__name__] += 1
            return
        job = self._job_of(reply)
        if job is None:
            return
        self.accepted[job] = user
        if op == "cancel":
            await trio.sleep(r)
            try:
                reply = await http.delete(f"/j/{job}")
            except httpx.TransportError:
                return
            if reply.status_code == 200:
                self.cancelled.add(job)

    def _job_of(self, reply: httpx.Response) -> str | None:
        try:
            body: Any = reply.json()
        except ValueError:
            self.unclear.append(f"{reply.status_code} {reply.text[:200]}")
            return None
        if reply.status_code in (200, 202) and body.get("error") is False:
            res = body.get("res")
            job = res.get("id") if isinstance(res, dict) else res
            if isinstance(job, str) and len(job) == 24:
                return job
        elif body.get("error") is True and (reply.status_code == 429 or reply.status_code >= 500):
            self.refused[str(reply.status_code)] += 1
            return None
        self.unclear.append(f"{reply.status_code} {str(body)[:200]}")
        return None


async def probe(url: str, since: float, bound: float) -> float:
    """Seconds from ``since`` (``time.monotonic()``) until a call runs end to end (``double``
    of the probe user, ``?wait``), trying every 0.1 s for up to ``bound`` seconds.

    Raises:
        trio.TooSlowError: no call ran within ``bound``.

    Cancellation: stops probing.
    """
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
        with trio.fail_after(bound):
            while True:
                try:
                    reply = await http.post("/u/chaos0/fn/double/run?wait=5", content="[-1]")
                    if reply.status_code == 200 and reply.json()["res"]["result"] == "-2":
                        return time.monotonic() - since
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)
