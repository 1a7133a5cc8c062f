"""Jobs of function versions whose package environment is still being built.

Such a job is accepted and stored like any other, and counts against its user, but waits here
instead of the dispatch queue: no worker can run it before its environment is resolved. One
task per waiting function version holds a ``WaitBuild`` at the dbmanager (renewed until the
build ends, so nothing polls); then the version's jobs join the head of the queue, oldest
first, with the built function, or all fail with the build's error. A function replaced or
removed while its build ran fails its waiting jobs, saying so.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import msgspec
import trio

from ..core.errors import FaasError, NotFound
from ..core.messages import WaitBuild
from ..core.records import BuildState, Function, JobRecord, JobState
from ..core.retry import Backoff
from .queue import FunctionKey

if TYPE_CHECKING:
    from .table import JobTable

__all__ = ["AwaitingBuilds", "await_build", "build_failure"]

log = logging.getLogger("faas.jqmanager")

#: How long one ``WaitBuild`` is held at the dbmanager before it is renewed, seconds.
HOLD = 30.0


class AwaitingBuilds:
    """The parked jobs, by function version, oldest first. Pure data."""

    def __init__(self) -> None:
        self._jobs: dict[FunctionKey, dict[str, JobRecord]] = {}
        self._functions: dict[FunctionKey, Function] = {}
        self._keys: dict[str, FunctionKey] = {}

    def park(self, job: JobRecord, function: Function) -> bool:
        """Add ``job`` (of ``function``'s shared copy); True when it is the version's first,
        so a task must start to wait for its build."""
        key = (function.user, function.name, function.version)
        first = key not in self._jobs
        self._jobs.setdefault(key, {})[job.id] = job
        self._functions.setdefault(key, function)
        self._keys[job.id] = key
        return first

    def get(self, job_id: str) -> JobRecord | None:
        key = self._keys.get(job_id)
        return None if key is None else self._jobs[key][job_id]

    def remove(self, job_id: str) -> tuple[JobRecord, Function] | None:
        """Take one job out (it stays counted), with its function; None if not parked."""
        key = self._keys.pop(job_id, None)
        if key is None:
            return None
        job = self._jobs[key].pop(job_id)
        function = self._functions[key]
        if not self._jobs[key]:
            del self._jobs[key], self._functions[key]
        return job, function

    def take(self, key: FunctionKey) -> tuple[Function, list[JobRecord]] | None:
        """Every job of ``key``, oldest first, and their function; None if none is left."""
        jobs = self._jobs.pop(key, None)
        if jobs is None:
            return None
        for job_id in jobs:
            del self._keys[job_id]
        return self._functions.pop(key), list(jobs.values())

    def waiting(self, key: FunctionKey) -> bool:
        return key in self._jobs

    def __len__(self) -> int:
        return len(self._keys)


def build_failure(job: JobRecord, reason: str) -> JobRecord:
    """``job`` failed because its function's environment cannot be had."""
    return msgspec.structs.replace(
        job,
        state=JobState.FAILED,
        result=reason,
        value=None,
        error=f"BuildFailed: {reason}",
        finished_at=time.time(),
    )


async def await_build(manager: JobTable, key: FunctionKey) -> None:
    """Wait for the build of ``key``, then release or fail its parked jobs.

    Cancellation: stops waiting; the jobs stay stored as queued and are parked again when
    the jqmanager next loads them.
    """
    user, name, version = key
    backoff = Backoff(0.1, 5.0)
    function: Function | None = None
    reason = ""
    while manager.awaiting.waiting(key):
        asked_at = trio.current_time()
        try:
            reply = await manager.db.client.call(
                WaitBuild(user, name, version, HOLD), timeout=HOLD + manager.db.timeout
            )
        except NotFound:
            reason = f"the function {name!r} was removed before its environment was built"
            break
        except FaasError as exc:
            log.warning("build of %s/%s v%d not heard of yet: %s", user, name, version, exc)
            await backoff.sleep()
            continue
        got = reply.function
        if got.version != version:
            reason = (
                f"the function {name!r} was registered again (version {got.version}) before the"
                f" environment of version {version} was built; call it again"
            )
            break
        if got.build is None or got.build.state is BuildState.READY:
            function = got
            break
        if got.build.state is BuildState.FAILED:
            reason = f"its environment did not build: {got.build.error}"
            break
        if trio.current_time() - asked_at < HOLD / 2:
            # Still building, yet answered well before the hold: the build is not getting
            # anywhere (e.g. the store refuses its writes); do not ask again at once.
            await backoff.sleep()
        else:
            backoff.reset()
    taken = manager.awaiting.take(key)
    if taken is None:
        return
    shared, jobs = taken
    if function is None:
        for job in jobs:
            manager.finals.store_later(job, build_failure(job, reason), shared)
        return
    built = msgspec.structs.replace(function, sealed=shared.sealed)
    for job in reversed(jobs):
        # Each job swaps its count of the pending copy for one of the built copy.
        manager.queue.push_front(job, manager.queue.sources.acquire(built))
        manager.queue.sources.release(shared)
    log.info("%d jobs of %s/%s v%d queued: its environment is built", len(jobs), *key)
    manager.dispatch()
