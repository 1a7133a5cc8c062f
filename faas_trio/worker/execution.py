"""Running one attempt of a job in a warm or new child, and describing what happened.

:func:`run_job` turns a :class:`~faas_trio.core.messages.Dispatch` into an
:class:`~faas_trio.core.messages.Outcome`: it never raises for anything the function or its
child does (errors, timeouts, crashes all become outcomes), only ``Cancelled`` when the
caller stops it, in which case the caller reports :func:`stopped_outcome`.

A result larger than the worker's ``FAAS_RESULT_CAP`` fails its call (``ResultTooLarge``)
rather than travel to jqmanager and the store: every job record stays small.
"""

from __future__ import annotations

import time

import trio

from ..core.messages import Dispatch
from ..core.records import JobRecord, JobState, Outcome
from .pool import RUNNER_SLACK, Checkout, LoadFailed, WarmPool
from .sandbox.logbuffer import LogBuffer
from .sandbox.process import SandboxError, SandboxOutOfMemory, SandboxTimeout

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
    try:
        checkout = await pool.acquire(function)
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

    sandbox = checkout.sandbox
    if checkout.cold:
        logs.add(checkout.load_logs)
    else:
        sandbox.take_stderr()  # output between calls belongs to no call
    reply: dict[str, object] | None = None
    crash: SandboxError | None = None
    began = time.perf_counter()
    try:
        with trio.move_on_after(function.timeout + RUNNER_SLACK):
            reply = await sandbox.request(
                {"op": "call", "args": job.args, "timeout": function.timeout}
            )
    except SandboxError as exc:
        crash = exc
    finally:
        # A call the runner stopped at its deadline leaves suspect state: never reuse it.
        reusable = reply is not None and not reply.get("timeout")
        await pool.release(checkout, reusable=reusable)
    elapsed_ms = (time.perf_counter() - began) * 1000.0

    if reply is not None:
        logs.add(str(reply.get("logs", "")))
    logs.add(sandbox.take_stderr())
    if crash is not None:
        return _outcome(
            job, JobState.FAILED, started_at=started_at, logs=logs, checkout=checkout,
            result=str(crash), error=_sandbox_error(crash), duration_ms=elapsed_ms,
        )  # fmt: skip
    if reply is None or reply.get("timeout"):
        message = f"timed out after {function.timeout:g}s"
        return _outcome(
            job, JobState.TIMEOUT, started_at=started_at, logs=logs, checkout=checkout,
            result=message, error=f"TimeoutError: {message}", duration_ms=elapsed_ms,
        )  # fmt: skip
    duration_ms = _number(reply.get("duration_ms"), elapsed_ms)
    if reply.get("ok") is True:
        text, value = str(reply.get("text", "")), str(reply.get("value", "null"))
        size = max(_utf8_size(text), _utf8_size(value))
        if size > result_cap:
            message = f"the result is {size} bytes, over the FAAS_RESULT_CAP of {result_cap}"
            return _outcome(
                job, JobState.FAILED, started_at=started_at, logs=logs, checkout=checkout,
                result=message, error=f"ResultTooLarge: {message}", duration_ms=duration_ms,
            )  # fmt: skip
        return _outcome(
            job, JobState.SUCCEEDED, started_at=started_at, logs=logs, checkout=checkout,
            result=text, value=value, duration_ms=duration_ms,
        )  # fmt: skip
    error = str(reply.get("error", "Error: unknown failure"))
    return _outcome(
        job, JobState.FAILED, started_at=started_at, logs=logs, checkout=checkout,
        result=str(reply.get("message", error)), error=error, duration_ms=duration_ms,
    )  # fmt: skip


def stopped_outcome(dispatch: Dispatch, state: JobState, *, started_at: float) -> Outcome:
    """The outcome of a job stopped from outside: ``cancelled`` by its owner, or ``queued``
    (handed back unrun-for-good because the worker is draining)."""
    if state is JobState.CANCELLED:
        result, error = "cancelled", "Cancelled: the job was cancelled"
    else:
        result, error = None, "WorkerDraining: the worker shut down before the job finished"
    return _outcome(dispatch.job, state, started_at=started_at, result=result, error=error)


def _utf8_size(text: str) -> int:
    # surrogatepass: a lone surrogate from a JSON reply is counted, not an error.
    return len(text.encode("utf-8", "surrogatepass"))


def _number(raw: object, default: float) -> float:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else default


def _sandbox_error(exc: SandboxError) -> str:
    """The outcome's error for a sandbox that broke: ``OutOfMemory: ...`` when its memory
    cgroup's limit killed it."""
    return f"{'OutOfMemory' if isinstance(exc, SandboxOutOfMemory) else 'SandboxError'}: {exc}"
