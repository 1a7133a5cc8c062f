"""Running one attempt of a job in a warm or new child, and describing what happened.

:func:`run_job` turns a :class:`~faas_trio.core.messages.Dispatch` into an
:class:`~faas_trio.core.messages.Outcome`: it never raises for anything the function or its
child does (errors, timeouts, crashes all become outcomes), only ``Cancelled`` when the
caller stops it, in which case the caller reports :func:`stopped_outcome`.

A result larger than the worker's ``FAAS_RESULT_CAP`` fails its call (``ResultTooLarge``)
rather than travel to jqmanager and the store: every job record stays small.

Nothing the runner says is taken on its word: the duration billed is measured here, on the
worker's clock, and a value that is not JSON a store can hold fails the call.
"""

from __future__ import annotations

import time

import trio

from ..core.bounds import JsonRefused, stored_json_text
from ..core.messages import Dispatch
from ..core.records import JobRecord, JobState, Outcome
from .pool import RUNNER_SLACK, Checkout, LoadFailed, WarmPool
from .sandbox.logbuffer import LogBuffer
from .sandbox.process import SandboxError, SandboxOutOfMemory, SandboxTimeout, SandboxUnused
from .sandbox.protocol import CallRequest, Reply

__all__ = ["run_job", "stopped_outcome"]


def _outcome(
    job: JobRecord,
    state: JobState,
    *,
    started_at: float,
    logs: LogBuffer | None = None,
    checkout: Checkout | None = None,
    cold_start: bool = False,
    result: str | None = None,
    value: str | None = None,
    error: str | None = None,
    duration_ms: float = 0.0,
) -> Outcome:
    return Outcome(
        job_id=job.id,
        attempt=job.attempts,
        state=state,
        result=result,
        value=value,
        error=error,
        logs=logs.take() if logs is not None else "",
        duration_ms=duration_ms,
        cold_start=checkout.cold if checkout is not None else cold_start,
        init_ms=checkout.init_ms if checkout is not None else 0.0,
        started_at=started_at,
        finished_at=time.time(),
    )


async def run_job(
    pool: WarmPool,
    dispatch: Dispatch,
    *,
    log_cap: int,
    result_cap: int,
) -> Outcome:
    """Run ``dispatch``'s job once and say how it went.

    The outcome's state is ``succeeded`` or ``failed`` (the function raised, did not load, its
    child crashed, or its result was over ``result_cap`` bytes), or ``timeout`` (it ran past
    ``function.timeout`` and was killed). A succeeded outcome's ``value`` and ``result`` are
    each at most ``result_cap`` bytes of UTF-8; an oversized result is dropped, not truncated.

    Cancellation: the child running the job is killed and reaped before ``Cancelled``
    propagates (never returned to the pool); see :meth:`Sandbox.request`.
    """
    job, function = dispatch.job, dispatch.function
    started_at = time.time()
    logs = LogBuffer(log_cap)
    call = CallRequest(args=job.args, timeout=function.timeout, result_cap=result_cap)
    checkout = await _acquire(pool, dispatch, logs, started_at)
    if isinstance(checkout, Outcome):
        return checkout
    reply, crash, duration_ms = await _call(pool, checkout, call)
    if isinstance(crash, SandboxUnused) and not checkout.cold:
        # A warm child that had died while idle never ran the call: once, use another.
        checkout = await _acquire(pool, dispatch, logs, started_at)
        if isinstance(checkout, Outcome):
            return checkout
        reply, crash, duration_ms = await _call(pool, checkout, call)
    sandbox = checkout.sandbox
    if reply is not None:
        logs.add(reply.logs)
    logs.add(sandbox.take_stderr())
    if crash is not None:
        return _outcome(
            job, JobState.FAILED, started_at=started_at, logs=logs, checkout=checkout,
            result=str(crash), error=_sandbox_error(crash), duration_ms=duration_ms,
        )  # fmt: skip
    if reply is None or reply.timeout:
        message = f"timed out after {function.timeout:g}s"
        return _outcome(
            job, JobState.TIMEOUT, started_at=started_at, logs=logs, checkout=checkout,
            result=message, error=f"TimeoutError: {message}", duration_ms=duration_ms,
        )  # fmt: skip
    if reply.ok and reply.text is not None and reply.value is not None:
        try:
            value = _kept_value(reply.text, reply.value, result_cap)
        except _Unkept as exc:
            return _outcome(
                job, JobState.FAILED, started_at=started_at, logs=logs, checkout=checkout,
                result=exc.message, error=f"{exc.name}: {exc.message}", duration_ms=duration_ms,
            )  # fmt: skip
        return _outcome(
            job, JobState.SUCCEEDED, started_at=started_at, logs=logs, checkout=checkout,
            result=reply.text, value=value, duration_ms=duration_ms,
        )  # fmt: skip
    error = reply.error or "Error: unknown failure"
    return _outcome(
        job, JobState.FAILED, started_at=started_at, logs=logs, checkout=checkout,
        result=reply.message or error, error=error, duration_ms=duration_ms,
    )  # fmt: skip


async def _acquire(
    pool: WarmPool, dispatch: Dispatch, logs: LogBuffer, started_at: float
) -> Checkout | Outcome:
    """A child for ``dispatch`` (its load output added to ``logs``), or the outcome of a
    function that could not be loaded.

    Cancellation: see :meth:`WarmPool.acquire` (a child being started is killed).
    """
    job = dispatch.job
    try:
        checkout = await pool.acquire(dispatch.function)
    except LoadFailed as exc:
        logs.add(exc.logs)
        return _outcome(
            job, JobState.FAILED, started_at=started_at, logs=logs, cold_start=True,
            result=exc.message, error=exc.error,
        )  # fmt: skip
    except SandboxTimeout as exc:
        message = f"{exc} while loading"
        return _outcome(
            job, JobState.TIMEOUT, started_at=started_at, logs=logs, cold_start=True,
            result=message, error=f"TimeoutError: {message}",
        )  # fmt: skip
    except SandboxError as exc:
        return _outcome(
            job, JobState.FAILED, started_at=started_at, logs=logs,
            result=str(exc), error=_sandbox_error(exc),
        )  # fmt: skip
    if checkout.cold:
        logs.add(checkout.load_logs)
    else:
        checkout.sandbox.take_stderr()  # output between calls belongs to no call
    return checkout


async def _call(
    pool: WarmPool, checkout: Checkout, call: CallRequest
) -> tuple[Reply | None, SandboxError | None, float]:
    """Run ``call`` in the checked-out child and give the child back: the reply (None when the
    deadline passed), the crash if it broke, and the duration in ms on the worker's clock
    (request sent to reply read): the one that is billed.

    Cancellation: the child is killed and reaped before ``Cancelled`` propagates.
    """
    reply: Reply | None = None
    crash: SandboxError | None = None
    began = time.perf_counter()
    try:
        with trio.move_on_after(call.timeout + RUNNER_SLACK):
            reply = await checkout.sandbox.request(call)
    except SandboxError as exc:
        crash = exc
    finally:
        duration_ms = (time.perf_counter() - began) * 1000.0
        # A call the runner stopped at its deadline leaves suspect state: never reuse it.
        reusable = reply is not None and not reply.timeout
        await pool.release(checkout, reusable=reusable)
    return reply, crash, duration_ms


def stopped_outcome(dispatch: Dispatch, state: JobState, *, started_at: float) -> Outcome:
    """The outcome of a job stopped from outside: ``cancelled`` by its owner, or ``queued``
    (handed back unrun-for-good because the worker is draining)."""
    if state is JobState.CANCELLED:
        result, error = "cancelled", "Cancelled: the job was cancelled"
    else:
        result, error = None, "WorkerDraining: the worker shut down before the job finished"
    return _outcome(dispatch.job, state, started_at=started_at, result=result, error=error)


class _Unkept(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _kept_value(text: str, value: str, result_cap: int) -> str:
    """The value a record keeps for a reported result (see :func:`.stored_json_text`).

    Raises:
        _Unkept: it is over ``result_cap`` or cannot be stored; the error's name and message.
    """
    size = max(len(text.encode()), len(value.encode()))
    if size > result_cap:
        message = f"the result is {size} bytes, over the FAAS_RESULT_CAP of {result_cap}"
        raise _Unkept("ResultTooLarge", message)
    try:
        return stored_json_text(value)
    except JsonRefused as exc:
        raise _Unkept("InvalidResult", f"the result cannot be stored: it is {exc}") from None


def _sandbox_error(exc: SandboxError) -> str:
    """The outcome's error for a sandbox that broke: ``OutOfMemory: ...`` when its memory
    cgroup's limit killed it."""
    return f"{'OutOfMemory' if isinstance(exc, SandboxOutOfMemory) else 'SandboxError'}: {exc}"
