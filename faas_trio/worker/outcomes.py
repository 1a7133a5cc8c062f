"""What happened to one attempt of a job, as the :class:`~faas_trio.core.records.Outcome` the
worker reports: made from the runner's reply (or its absence, or the crash), from a function
that did not load, or from a stop ordered from outside.

Nothing the runner says is taken on its word: the duration billed is measured by the caller
on the worker's clock, a value that is not JSON a store can hold fails the call, a result over
``FAAS_RESULT_CAP`` fails it (``ResultTooLarge``) rather than travel to the jqmanager and the
store, and logs are cut to ``FAAS_LOG_CAP`` bytes. Built once per job of a map, so the common
case (a small value, short logs) costs no more than the checks themselves.
"""

from __future__ import annotations

import time
from functools import partial

from ..core.bounds import JsonRefused, stored_json_text
from ..core.records import JobRecord, JobState, Outcome
from .pool import LoadFailed
from .sandbox.logbuffer import LogBuffer
from .sandbox.process import SandboxError, SandboxOutOfMemory, SandboxTimeout
from .sandbox.protocol import Reply

__all__ = [
    "acquire_failure", "capped_logs", "outcome", "reply_outcome", "sandbox_error",
    "stopped_outcome",
]  # fmt: skip

#: A UTF-8 character is at most this many bytes: text this many times shorter than a byte
#: cap fits it without being encoded to check.
_MAX_UTF8_BYTES = 4


def outcome(
    job: JobRecord,
    state: JobState,
    *,
    started_at: float,
    logs: str = "",
    result: str | None = None,
    value: str | None = None,
    error: str | None = None,
    duration_ms: float = 0.0,
    cold_start: bool = False,
    init_ms: float = 0.0,
) -> Outcome:
    """An outcome of ``job``'s current attempt that finished now."""
    return Outcome(
        job_id=job.id, attempt=job.attempts, state=state, result=result, value=value,
        error=error, logs=logs, duration_ms=duration_ms, cold_start=cold_start,
        init_ms=init_ms, started_at=started_at, finished_at=time.time(),
    )  # fmt: skip


def capped_logs(log_cap: int, *parts: str) -> str:
    """``parts`` joined and cut to ``log_cap`` bytes of UTF-8 (noted when cut)."""
    text = "".join(parts)
    if len(text) * _MAX_UTF8_BYTES <= log_cap:
        return text
    buffer = LogBuffer(log_cap)
    buffer.add(text)
    return buffer.take()


def reply_outcome(
    job: JobRecord,
    reply: Reply | None,
    crash: SandboxError | None,
    *,
    timeout: float,
    result_cap: int,
    logs: str,
    started_at: float,
    duration_ms: float,
    cold_start: bool = False,
    init_ms: float = 0.0,
) -> Outcome:
    """The outcome of a call that got ``reply`` (None: its deadline of ``timeout`` seconds
    passed) or broke its child (``crash``): ``succeeded``, ``failed`` or ``timeout``. A
    succeeded outcome's ``value`` and ``result`` are each at most ``result_cap`` bytes of
    UTF-8; an oversized result is dropped, not truncated."""
    made = partial(
        outcome, job, started_at=started_at, logs=logs, duration_ms=duration_ms,
        cold_start=cold_start, init_ms=init_ms,
    )  # fmt: skip
    if crash is not None:
        return made(JobState.FAILED, result=str(crash), error=sandbox_error(crash))
    if reply is None or reply.timeout:
        message = f"timed out after {timeout:g}s"
        return made(JobState.TIMEOUT, result=message, error=f"TimeoutError: {message}")
    if reply.ok and reply.text is not None and reply.value is not None:
        try:
            value = _kept_value(reply.text, reply.value, result_cap)
        except _Unkept as exc:
            return made(JobState.FAILED, result=exc.message, error=f"{exc.name}: {exc.message}")
        return made(JobState.SUCCEEDED, result=reply.text, value=value)
    error = reply.error or "Error: unknown failure"
    return made(JobState.FAILED, result=reply.message or error, error=error)


def acquire_failure(job: JobRecord, exc: Exception, *, logs: str, started_at: float) -> Outcome:
    """The outcome of a job whose child could not be had: the function did not load
    (:class:`.LoadFailed`), loading timed out, or the child could not start."""
    if isinstance(exc, LoadFailed):
        return outcome(job, JobState.FAILED, started_at=started_at, logs=logs, cold_start=True,
                       result=exc.message, error=exc.error)  # fmt: skip
    if isinstance(exc, SandboxTimeout):
        message = f"{exc} while loading"
        return outcome(job, JobState.TIMEOUT, started_at=started_at, logs=logs, cold_start=True,
                       result=message, error=f"TimeoutError: {message}")  # fmt: skip
    assert isinstance(exc, SandboxError)
    return outcome(job, JobState.FAILED, started_at=started_at, logs=logs, result=str(exc),
                   error=sandbox_error(exc))  # fmt: skip


def stopped_outcome(job: JobRecord, state: JobState, *, started_at: float) -> Outcome:
    """The outcome of a job stopped from outside: ``cancelled`` by its owner, or ``queued``
    (handed back unrun-for-good because the worker is draining)."""
    if state is JobState.CANCELLED:
        result, error = "cancelled", "Cancelled: the job was cancelled"
    else:
        result, error = None, "WorkerDraining: the worker shut down before the job finished"
    return outcome(job, state, started_at=started_at, result=result, error=error)


def sandbox_error(exc: SandboxError) -> str:
    """The outcome's error for a sandbox that broke: ``OutOfMemory: ...`` when its memory
    cgroup's limit killed it."""
    return f"{'OutOfMemory' if isinstance(exc, SandboxOutOfMemory) else 'SandboxError'}: {exc}"


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
    if (len(text) + len(value)) * _MAX_UTF8_BYTES > result_cap:  # else it surely fits
        size = max(len(text.encode()), len(value.encode()))
        if size > result_cap:
            message = f"the result is {size} bytes, over the FAAS_RESULT_CAP of {result_cap}"
            raise _Unkept("ResultTooLarge", message)
    try:
        return stored_json_text(value)
    except JsonRefused as exc:
        raise _Unkept("InvalidResult", f"the result cannot be stored: it is {exc}") from None
