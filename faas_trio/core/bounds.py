"""What a value must be to enter a record: JSON nested no deeper than a store holds, numbers
that are finite and in range.

Records carry users' JSON (a job's arguments, a function's value) and numbers measured or
reported by other processes (durations, times). A store refuses what it cannot hold: MongoDB
nests documents at most 100 levels deep and keeps a job's arguments one level under it (its
``argv``); SQLite and msgpack have no NaN that survives a comparison. A write that fails for
such a value fails on every retry, so each boundary (the API, the worker, the jqmanager, the
store) checks or clamps with the helpers here, once, and says what was wrong.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec

from .records import JobRecord, JobState

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_DURATION_MS",
    "JsonRefused",
    "bounded_record",
    "clamp",
    "json_depth_exceeds",
    "stored_json_problem",
    "stored_json_text",
]

#: Levels of arrays and objects a stored JSON value may nest (MongoDB holds 100 in all).
MAX_JSON_DEPTH = 64
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
#: The longest duration a record holds, ms: a day, far over any timeout.
MAX_DURATION_MS = 86_400_000.0
#: The latest time a record holds, Unix seconds (the year 9999).
MAX_TIME = 253_402_300_799.0
#: The most attempts a record counts (SQLite and BSON hold 64-bit integers only).
MAX_ATTEMPTS = 1 << 31


class JsonRefused(ValueError):
    """A JSON text cannot be stored: not JSON, a number out of range, or nested too deep.
    Its message says which, for the client."""


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether decoded JSON ``value`` nests more than ``limit`` arrays or objects. Iterative:
    any depth is measured without recursion."""
    return stored_json_problem(value, limit, int64=False) is not None


def stored_json_problem(
    value: Any, limit: int = MAX_JSON_DEPTH, *, int64: bool = True
) -> str | None:
    """Why decoded JSON ``value`` cannot be stored as a document (nested deeper than
    ``limit``, or, with ``int64``, an integer outside 64 bits, which BSON cannot hold), or
    None. Iterative."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if int64 and isinstance(item, int) and not isinstance(item, bool):
            if not _INT64_MIN <= item <= _INT64_MAX:
                return f"an integer outside 64 bits ({str(item)[:24]}...)"
            continue
        if not isinstance(item, list | dict):
            continue
        if depth + 1 > limit:
            return _too_deep(limit)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return None


def stored_json_text(text: str, limit: int = MAX_JSON_DEPTH) -> str:
    """``text`` as a record may hold it: the same text when it is JSON nested at most
    ``limit`` deep, with finite numbers and valid strings; otherwise, when it is JSON the
    stdlib reads (a lone surrogate escape, as Python and Node write one), the same value
    written again with U+FFFD in place of lone surrogates.

    Raises:
        JsonRefused: not JSON, a non-finite number, or nested deeper than ``limit``.
    """
    # Nesting cannot exceed the number of openers: most texts skip the depth walk.
    shallow = text.count("[") + text.count("{") <= limit
    try:
        value = msgspec.json.decode(text)
    except RecursionError:
        raise JsonRefused(_too_deep(limit)) from None
    except msgspec.DecodeError:
        return _rewritten(text, limit)
    if not shallow and json_depth_exceeds(value, limit):
        raise JsonRefused(_too_deep(limit))
    return text


def _rewritten(text: str, limit: int) -> str:
    """The stdlib's reading of ``text`` written again as valid, finite JSON."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
        if json_depth_exceeds(value, limit):
            raise JsonRefused(_too_deep(limit))
        written = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except RecursionError:
        raise JsonRefused(_too_deep(limit)) from None
    except JsonRefused:
        raise
    except ValueError as exc:
        raise JsonRefused(f"not valid JSON or a number out of range ({exc})") from None
    fixed = written.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    try:
        msgspec.json.decode(fixed)
    except msgspec.DecodeError as exc:
        raise JsonRefused(f"not valid JSON ({exc})") from None
    return fixed


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep(limit: int) -> str:
    return f"nested deeper than {limit} levels of arrays and objects"


def clamp(value: float, low: float, high: float, default: float) -> float:
    """``value`` within ``[low, high]``; ``default`` when it is not a finite number (NaN,
    an infinity, or not a number at all)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    if not math.isfinite(value):
        return default
    return min(max(float(value), low), high)


def bounded_record(job: JobRecord) -> JobRecord:
    """``job`` as a store can hold it, unchanged when it already is: times within
    ``[0, MAX_TIME]`` and durations within ``[0, MAX_DURATION_MS]`` (a non-finite one is
    dropped: None, or 0 for ``created_at``), attempts within ``[0, MAX_ATTEMPTS]``, and a
    ``value`` that is not JSON a store holds (see :func:`stored_json_text`) replaced by a
    failure saying why. Used where records enter the jqmanager and the store, so a bad
    number fails no write."""
    changes: dict[str, Any] = {}
    for name, high in (
        ("started_at", MAX_TIME), ("finished_at", MAX_TIME),
        ("duration_ms", MAX_DURATION_MS), ("init_ms", MAX_DURATION_MS),
    ):  # fmt: skip
        value = getattr(job, name)
        if value is not None and not (math.isfinite(value) and 0 <= value <= high):
            changes[name] = clamp(value, 0.0, high, default=math.nan)
            if math.isnan(changes[name]):
                changes[name] = None
    if not (math.isfinite(job.created_at) and 0 <= job.created_at <= MAX_TIME):
        changes["created_at"] = clamp(job.created_at, 0.0, MAX_TIME, default=0.0)
    if not 0 <= job.attempts <= MAX_ATTEMPTS:
        changes["attempts"] = min(max(job.attempts, 0), MAX_ATTEMPTS)
    if job.value is not None:
        try:
            kept = stored_json_text(job.value)
        except JsonRefused as exc:
            message = f"the result cannot be stored: it is {exc}"
            changes.update(
                state=JobState.FAILED if job.is_final else job.state,
                value=None,
                result=message,
                error=f"InvalidResult: {message}",
            )
        else:
            if kept != job.value:
                changes["value"] = kept
    return msgspec.structs.replace(job, **changes) if changes else job
