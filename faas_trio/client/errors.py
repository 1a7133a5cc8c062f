"""Everything the client raises, and the one mapping from an HTTP answer to an error.

::

    FaasClientError                 every error of this package
    ├── ApiError                    the platform answered with an error (status, message)
    │   ├── BadRequest              400: the request was wrong (the message says how)
    │   ├── Unauthorized            401: no API key, or a wrong one
    │   ├── Forbidden               403: another user's resource
    │   ├── NotFound                404: no such user, function, job or group
    │   ├── Conflict                409: the resource is not in a state for this
    │   ├── PayloadTooLarge         413: the body is over the platform's limit
    │   ├── RateLimited             429: a per-user limit; ``retry_after`` seconds
    │   └── ServerError             5xx: the platform failed (503: a component unreachable)
    ├── Unreachable                 no answer from the URL (connection refused, reset, timed out)
    ├── ProtocolError               an answer that is not the platform's ``{error, res}``
    ├── WaitTimeout                 a job or group was not final within the caller's timeout
    ├── BuildFailed                 a function's requirements could not be installed
    └── JobError                    the job ended without a value; ``record`` is its record
        ├── JobFailed               the function raised, or its sandbox died
        ├── JobTimeout              the function ran past its timeout and was killed
        └── JobCancelled            the job was cancelled

:func:`error_for` is the only place a status becomes an exception class.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "BadRequest",
    "BuildFailed",
    "Conflict",
    "FaasClientError",
    "Forbidden",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobTimeout",
    "NotFound",
    "PayloadTooLarge",
    "ProtocolError",
    "RateLimited",
    "ServerError",
    "Unauthorized",
    "Unreachable",
    "WaitTimeout",
    "error_for",
    "job_error_for",
]


class FaasClientError(Exception):
    """Root of every error :mod:`faas_trio.client` raises."""


class ApiError(FaasClientError):
    """The platform answered ``{"error": true, "res": message}`` with ``status``."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        #: Seconds the platform asked to wait before trying again (``Retry-After``), if any.
        self.retry_after = retry_after


class BadRequest(ApiError):
    """400: the request was malformed or a value out of range; the message says which."""


class Unauthorized(ApiError):
    """401: keys mode, and the request had no API key or a wrong one."""


class Forbidden(ApiError):
    """403: the key is good but the resource belongs to another user."""


class NotFound(ApiError):
    """404: no such user, function, job, group or route."""


class Conflict(ApiError):
    """409: the resource exists but is not in a state that allows the request."""


class PayloadTooLarge(ApiError):
    """413: the request body is over the platform's limit (``FAAS_MAX_BODY``)."""


class RateLimited(ApiError):
    """429: a per-user limit was reached; ``retry_after`` says when to try again."""


class ServerError(ApiError):
    """5xx: the platform could not do it (503: one of its components did not answer)."""


class Unreachable(FaasClientError):
    """Nothing answered at ``url`` (refused, reset, or no answer in time), after retries."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}")
        self.url = url
        self.reason = reason


class ProtocolError(FaasClientError):
    """The answer was not the platform's JSON envelope (a proxy's page, a wrong URL...)."""


class WaitTimeout(FaasClientError, TimeoutError):
    """A job or group did not reach a final state within the caller's ``timeout``.

    The job goes on running; ``job_id`` (or ``group_id``) names it for a later look.
    """

    def __init__(self, what: str, ident: str, timeout: float) -> None:
        super().__init__(f"{what} {ident} is not finished after {timeout:g} s")
        self.ident = ident
        self.timeout = timeout


class JobError(FaasClientError):
    """The job is final but has no value; ``record`` is its whole record (a dict)."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        state = record.get("state")
        detail = record.get("error") or record.get("result") or state
        super().__init__(f"job {record.get('id')} {state}: {detail}")


class JobFailed(JobError):
    """The function raised (``record["error"]`` holds the message) or its sandbox died."""


class JobTimeout(JobError):
    """The function ran past its timeout and was killed."""


class JobCancelled(JobError):
    """The job was cancelled before it finished."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
}


def error_for(status: int, message: str, retry_after: float | None = None) -> ApiError:
    """The exception for an error answer: by status, ``ServerError`` for 5xx, else ``ApiError``."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if status >= 500 else ApiError
    return cls(status, message, retry_after)


_BY_STATE: dict[str, type[JobError]] = {
    "failed": JobFailed,
    "timeout": JobTimeout,
    "cancelled": JobCancelled,
}


def job_error_for(record: dict[str, Any]) -> JobError:
    """The exception for a final job ``record`` without a value (failed, timeout, cancelled)."""
    return _BY_STATE.get(str(record.get("state")), JobFailed)(record)


class BuildFailed(FaasClientError):
    """The function's environment could not be built; ``log`` is the build's output."""

    def __init__(self, function: str, log: str) -> None:
        super().__init__(f"the build of {function} failed:\n{log}")
        self.function = function
        self.log = log
