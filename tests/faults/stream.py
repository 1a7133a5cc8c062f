"""A steady stream of jobs against a running platform, and the checks the fault tests share.

:class:`JobStream` submits ``double(i)`` (``i * 2`` after a 0.2 s sleep) at a fixed rate, each
submission in a task of its own so that a hung request cannot slow the stream, and sorts every
answer: *accepted* (200 with a job id; the job must then finish exactly once with ``2 * i``)
or *refused* (anything else: an error status, or no connection at all). A refusal must be
clear: an error envelope with a 429 or 5xx status, or a transport error while the frontend is
down; a 2xx without a job id is a false success and fails the test.
"""

from __future__ import annotations

import math
import os
import re
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio
from e2e.conftest import roles_running

USER = "load"
FUNCTION = "double"
SOURCE = "def double(x):\n    import time\n    time.sleep(0.2)\n    return x * 2\n"


def kill_role(home: Path, role: str) -> int:
    """SIGKILL one process of ``role`` (the first found); its pid."""
    pid = roles_running(home)[role][0]
    os.kill(pid, signal.SIGKILL)
    return pid


async def register(url: str) -> None:
    """Create the stream's user and function."""
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
        assert (await http.post(f"/u/{USER}")).status_code == 200
        reply = await http.post(f"/u/{USER}/fn/{FUNCTION}", content=SOURCE)
        assert reply.status_code == 200, reply.text


@dataclass
class JobStream:
    """Submissions of ``double(i)`` to the frontend at ``url``, sorted by their answer."""

    url: str
    #: Job id -> the ``i`` it doubles, for every submission answered 200 with an id.
    accepted: dict[str, int] = field(default_factory=dict)
    #: ``(seconds since the stream began, status code or exception name, seconds the answer
    #: took)`` of the refusals.
    refused: list[tuple[float, str, float]] = field(default_factory=list)
    #: Answers that claimed success without a job id, or an error without the envelope.
    unclear: list[str] = field(default_factory=list)
    began: float = 0.0
    _next: int = 0

    async def run(self, rate: float, seconds: float) -> None:
        """Submit ``rate`` jobs a second for ``seconds``; returns once every submission was
        answered (each is bounded by its client timeout).

        Cancellation: pending submissions are abandoned.
        """
        self.began = time.monotonic()
        limits = httpx.Limits(max_connections=256)
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=15.0, limits=limits) as http,
            trio.open_nursery() as nursery,
        ):
            start = trio.current_time()
            for n in range(math.ceil(rate * seconds)):
                await trio.sleep_until(start + n / rate)
                nursery.start_soon(self._submit, http)

    async def _submit(self, http: httpx.AsyncClient) -> None:
        """Cancellation: abandons the request."""
        i = self._next
        self._next += 1
        at = time.monotonic() - self.began
        try:
            reply = await http.post(f"/u/{USER}/fn/{FUNCTION}/run", content=f"[{i}]")
        except httpx.TransportError as exc:
            took = time.monotonic() - self.began - at
            self.refused.append((at, type(exc).__name__, took))
            return
        took = time.monotonic() - self.began - at
        try:
            body: Any = reply.json()
        except ValueError:
            self.unclear.append(f"{reply.status_code} {reply.text[:200]}")
            return
        if reply.status_code == 200 and body.get("error") is False:
            if isinstance(body.get("res"), str) and len(body["res"]) == 24:
                self.accepted[body["res"]] = i
            else:
                self.unclear.append(f"200 without a job id: {body}")
        elif body.get("error") is True and (reply.status_code == 429 or reply.status_code >= 500):
            self.refused.append((at, str(reply.status_code), took))
        else:
            self.unclear.append(f"{reply.status_code} {body}")


async def final_records(url: str, job_ids: list[str], bound: float) -> dict[str, Any]:
    """The final record of every job in ``job_ids``, waiting up to ``bound`` seconds for all
    of them; raises ``trio.TooSlowError`` naming the ones still unfinished.

    Cancellation: stops waiting.
    """
    records: dict[str, Any] = {}
    limiter = trio.CapacityLimiter(16)

    async def settle(http: httpx.AsyncClient, job_id: str) -> None:
        while True:
            async with limiter:
                try:
                    reply = await http.get(f"/j/{job_id}/record?wait=2")
                except httpx.TransportError:
                    reply = None
            if reply is not None and reply.status_code == 200:
                record = reply.json()["res"]
                if record["state"] not in ("queued", "running"):
                    records[job_id] = record
                    return
            elif reply is not None and reply.status_code < 500:
                raise AssertionError(f"job {job_id}: {reply.status_code} {reply.text}")
            await trio.sleep(0.2)

    try:
        with trio.fail_after(bound):
            async with (
                httpx.AsyncClient(base_url=url, timeout=10.0) as http,
                trio.open_nursery() as nursery,
            ):
                for job_id in job_ids:
                    nursery.start_soon(settle, http, job_id)
    except trio.TooSlowError:
        missing = [j for j in job_ids if j not in records]
        raise trio.TooSlowError(f"{len(missing)} jobs not final: {missing[:5]}") from None
    return records


async def recovery_time(url: str, since: float, bound: float) -> float:
    """Seconds from ``since`` (``time.monotonic()``) until a fresh call runs end to end
    (``double(-1)`` answered 200 and succeeded, with ``?wait``), probing every 0.1 s for up
    to ``bound`` seconds.

    Cancellation: stops probing.
    """
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
        with trio.fail_after(bound):
            while True:
                try:
                    reply = await http.post(f"/u/{USER}/fn/{FUNCTION}/run?wait=5", content="[-1]")
                    if reply.status_code == 200 and reply.json()["res"]["result"] == "-2":
                        return time.monotonic() - since
                except httpx.TransportError:
                    pass
                await trio.sleep(0.1)


async def check_exactly_once(url: str, stream: JobStream, bound: float) -> dict[str, Any]:
    """Check that every job the stream had accepted succeeded with its own result, and that
    its user's execution time is the sum of those jobs' durations (plus the probes'), which
    holds only if each final record was written once. Returns the records.

    Cancellation: stops waiting.
    """
    assert not stream.unclear, stream.unclear
    records = await final_records(url, list(stream.accepted), bound)
    wrong = {
        job_id: (record["state"], record["result"], record.get("error"))
        for job_id, record in records.items()
        if record["state"] != "succeeded" or record["result"] != str(2 * stream.accepted[job_id])
    }
    assert not wrong, f"{len(wrong)} of {len(records)} jobs went wrong: {list(wrong.items())[:5]}"
    spent, everything = await _time_and_jobs(url, bound)
    durations = sum(r["duration_ms"] or 0.0 for r in everything.values())
    assert math.isclose(spent, durations, rel_tol=1e-6, abs_tol=1e-3), (spent, durations)
    return records


async def _time_and_jobs(url: str, bound: float) -> tuple[float, dict[str, Any]]:
    """The user's counted time and the final records of all its jobs, read so that the time
    covers exactly those jobs: every job of the user (probes, and submissions answered 503
    that were stored anyway, included) is listed and waited for until final, the time read,
    and the list read again; a job that appeared meanwhile (a 503-refused submission whose
    creation the jqmanager resends until the dbmanager answers can be created that late, and
    its time counted before the time is read) means reading it all again.

    Cancellation: stops waiting.
    """

    async def job_ids(http: httpx.AsyncClient) -> set[str]:
        listed = (await http.get(f"/u/{USER}/jobs?limit=1000")).json()["res"]
        return {job["id"] for job in listed}

    with trio.fail_after(bound):
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
            listed = await job_ids(http)
            while True:
                everything = await final_records(url, sorted(listed), bound)
                spent = float((await http.get(f"/u/{USER}/time")).json()["res"])
                again = await job_ids(http)
                if again == listed:
                    return spent, everything
                listed = again


_README = Path(__file__).resolve().parents[2] / "README.md"
#: How much slower than the README's figure a recovery may be here (times it, plus seconds):
#: those figures come from an idle machine, and the suite runs on shared, busy ones, where
#: starting a Python process alone can take seconds. A recovery past it is a regression (or a
#: stale README), not noise.
RECOVERY_SLACK = (3.0, 5.0)


def readme_recovery(fault: str) -> float:
    """The longest recovery time, seconds, the README's fault table gives for ``fault`` (the
    row starting ``| fault |``): the largest number in its recovery column."""
    for line in _README.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"| {fault} |"):
            recovery = line.rstrip(" |").rsplit("|", 1)[1]
            figures = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", recovery)]
            if figures:
                return max(figures)
    raise LookupError(f"README.md has no recovery time for {fault!r}")


def assert_recovery(fault: str, measured: float) -> None:
    """``measured`` is within the README's recovery time for ``fault`` (times the slack)."""
    factor, extra = RECOVERY_SLACK
    bound = readme_recovery(fault) * factor + extra
    assert measured <= bound, (
        f"{fault}: recovered in {measured:.2f} s, README says {readme_recovery(fault):g} s"
        f" (bound here {bound:g} s)"
    )
