"""Checking what a request carries: names, bodies and query parameters.

Each reader returns the checked value or raises :class:`~faas_trio.core.errors.BadRequest`
with a message that tells the client what to send instead. Bodies are taken raw whatever
their content type, as the old API did.
"""

from __future__ import annotations

import math
import re

import msgspec

from ..core.bounds import MAX_JSON_DEPTH, stored_json_problem
from ..core.errors import BadRequest
from ..core.ids import is_job_id
from ..core.records import JobState, Runtime

__all__ = [
    "args_text",
    "body_text",
    "check_job_id",
    "check_name",
    "idempotency_key",
    "is_name",
    "job_state",
    "list_limit",
    "memory_mb",
    "offset",
    "runtime",
    "timeout",
    "wait",
]

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_IDEMPOTENCY_KEY = 200
_NOT_AN_ARRAY = "arguments must be a JSON array, e.g. [4,7]"
_LONG_DIGITS = re.compile(r"\d{19}")


def is_name(name: str) -> bool:
    """Whether ``name`` is a valid user or function name (see :func:`check_name`)."""
    return _NAME.fullmatch(name) is not None


def check_name(kind: str, name: str) -> str:
    """``name`` if it is a valid user or function name: 1 to 64 of ``[A-Za-z0-9_.-]``."""
    if _NAME.fullmatch(name) is None:
        raise BadRequest(f"{kind} name must be 1 to 64 characters of A-Z a-z 0-9 _ . -")
    return name


def check_job_id(job_id: str, *, kind: str = "job") -> str:
    """``job_id`` (or a group's id, as ``kind`` says) if it is well formed (24 lowercase hex
    digits)."""
    if not is_job_id(job_id):
        raise BadRequest(f"malformed {kind} id {job_id[:64]!r}: expected 24 hex digits")
    return job_id


def body_text(body: bytes) -> str:
    """The body as text; it must be UTF-8."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8") from None


def args_text(body: bytes) -> str:
    """The call arguments in ``body`` as canonical JSON text (compact, object keys sorted).

    The body must be a JSON array. An empty (or blank) body means no arguments, ``[]``,
    so that ``curl -X POST .../run`` calls a function that takes none.
    """
    text = body_text(body)
    if not text.strip():
        return "[]"
    try:
        args = msgspec.json.decode(text)
    except RecursionError:
        raise BadRequest(_too_deep()) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"arguments are not valid JSON ({exc}); {_NOT_AN_ARRAY}") from None
    if not isinstance(args, list):
        raise BadRequest(_NOT_AN_ARRAY)
    # Only texts with many brackets or long digit runs can hold what a store cannot.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH or _LONG_DIGITS.search(text):
        problem = stored_json_problem(args)
        if problem is not None:
            raise BadRequest(
                f"arguments cannot be stored: they hold {problem}; pass that part as a"
                " JSON string instead"
            )
    return msgspec.json.encode(args, order="sorted").decode()


def _too_deep() -> str:
    return (
        f"arguments cannot be stored: they hold a value nested deeper than {MAX_JSON_DEPTH}"
        " levels of arrays and objects; pass that part as a JSON string instead"
    )


def _number(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name}={raw[:32]!r} is not a number") from None
    if not math.isfinite(value):
        raise BadRequest(f"{name}={raw[:32]!r} is not a finite number")
    return value


def wait(raw: str | None, max_wait: float) -> float:
    """Seconds to hold the request for the job to finish; 0 (absent) means answer at once."""
    if raw is None or raw == "":
        return 0.0
    value = _number("wait", raw)
    if not 0 <= value <= max_wait:
        raise BadRequest(f"wait must be between 0 and {max_wait:g} seconds")
    return value


def timeout(raw: str | None, default: float, max_timeout: float) -> float:
    """A function's timeout in seconds: ``default`` when absent, else in ``(0, max_timeout]``."""
    if raw is None or raw == "":
        return default
    value = _number("timeout", raw)
    if not 0 < value <= max_timeout:
        raise BadRequest(f"timeout must be more than 0 and at most {max_timeout:g} seconds")
    return value


def memory_mb(raw: str | None, default: int, max_memory_mb: int) -> int:
    """A function's memory limit in MiB: ``default`` when absent, else in ``[1, max]``."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"memory_mb={raw[:32]!r} is not a whole number") from None
    if not 0 < value <= max_memory_mb:
        raise BadRequest(f"memory_mb must be between 1 and {max_memory_mb}")
    return value


def runtime(raw: str | None) -> Runtime | None:
    """The runtime named by ``?runtime=``, or None when absent (detect it from the source)."""
    if raw is None or raw == "":
        return None
    try:
        return Runtime(raw)
    except ValueError:
        raise BadRequest("runtime must be python or node") from None


def idempotency_key(raw: str | None) -> str | None:
    """The ``Idempotency-Key`` header, if any (at most 200 characters)."""
    if raw is None or raw == "":
        return None
    if len(raw) > _MAX_IDEMPOTENCY_KEY:
        raise BadRequest(f"Idempotency-Key is longer than {_MAX_IDEMPOTENCY_KEY} characters")
    return raw


def job_state(raw: str | None) -> JobState | None:
    """The job state named by ``?state=``, or None when absent (every state)."""
    if raw is None or raw == "":
        return None
    try:
        return JobState(raw)
    except ValueError:
        names = ", ".join(state.value for state in JobState)
        raise BadRequest(f"state must be one of {names}") from None


def offset(raw: str | None) -> int:
    """``?offset=``: a whole number >= 0, 0 when absent."""
    if raw is None or raw == "":
        return 0
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"offset={raw[:32]!r} is not a whole number") from None
    if value < 0:
        raise BadRequest("offset must be 0 or more")
    if value >= 1 << 31:
        raise BadRequest(f"offset must be below {1 << 31}")
    return value


def list_limit(raw: str | None, default: int, most: int) -> int:
    """How many items a listing may answer: ``default`` when absent, else in ``[1, most]``."""
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"limit={raw[:32]!r} is not a whole number") from None
    if not 1 <= value <= most:
        raise BadRequest(f"limit must be between 1 and {most}")
    return value
