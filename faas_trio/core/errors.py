"""The errors faas-trio raises, one tree rooted at :class:`FaasError`.

::

    FaasError
    ├── ProtocolError        a message could not be decoded, or speaks another version
    ├── PeerUnavailable      another process did not answer in time (down, restarting, slow)
    ├── BadRequest           the caller's input is wrong (malformed id, args not a JSON array…)
    ├── Unauthorized         no credentials, or wrong ones
    ├── Forbidden            valid credentials, but not for this resource
    ├── NotFound             no such user, function or job
    ├── Conflict             the resource is not in a state that allows this
    ├── PayloadTooLarge      a body or a field is over its limit
    ├── TooManyRequests      a queue or rate limit is full; ``retry_after`` says when to retry
    └── InternalError        a bug on our side; the message is safe to show

Every error has a stable ``code`` that travels in an ``ErrorReply`` between processes, so a
component raising ``NotFound`` makes its RPC caller raise ``NotFound`` too
(:func:`error_from_code`). The frontend maps codes to HTTP statuses in one place.
"""

from __future__ import annotations

__all__ = [
    "BadRequest",
    "Conflict",
    "FaasError",
    "Forbidden",
    "InternalError",
    "NotFound",
    "PayloadTooLarge",
    "PeerUnavailable",
    "ProtocolError",
    "TooManyRequests",
    "Unauthorized",
    "error_from_code",
]


class FaasError(Exception):
    """Root of every error faas-trio raises on purpose."""

    code = "error"
    #: The HTTP status the frontend answers with.
    http_status = 500

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class ProtocolError(FaasError):
    """Raised by the message codec when bytes are not a valid message of our version."""

    code = "protocol"
    http_status = 502


class PeerUnavailable(FaasError):
    """Raised by an RPC client when the peer did not answer within the deadline."""

    code = "unavailable"
    http_status = 503


class BadRequest(FaasError):
    """Raised when a request's content is invalid; the message says what is wrong."""

    code = "bad_request"
    http_status = 400


class Unauthorized(FaasError):
    """Raised by the frontend when credentials are missing or wrong."""

    code = "unauthorized"
    http_status = 401


class Forbidden(FaasError):
    """Raised by the frontend when valid credentials do not cover the resource."""

    code = "forbidden"
    http_status = 403


class NotFound(FaasError):
    """Raised by the store (through dbmanager) or jqmanager for an unknown user, function or job."""

    code = "not_found"
    http_status = 404


class Conflict(FaasError):
    """Raised when the target exists but its state forbids the operation."""

    code = "conflict"
    http_status = 409


class PayloadTooLarge(FaasError):
    """Raised when a body or a field is larger than its configured limit."""

    code = "too_large"
    http_status = 413


class TooManyRequests(FaasError):
    """Raised when a queue or a rate limit is full; ``retry_after`` is in seconds."""

    code = "too_many"
    http_status = 429


class InternalError(FaasError):
    """Raised in place of an unexpected exception, so that a peer gets a clean reply."""

    code = "internal"
    http_status = 500


_BY_CODE: dict[str, type[FaasError]] = {
    cls.code: cls
    for cls in (
        ProtocolError,
        PeerUnavailable,
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        TooManyRequests,
        InternalError,
    )
}


def error_from_code(code: str, message: str, retry_after: float | None = None) -> FaasError:
    """Rebuild the error a peer raised from its ``ErrorReply`` fields."""
    cls = _BY_CODE.get(code, InternalError)
    return cls(message, retry_after=retry_after)
