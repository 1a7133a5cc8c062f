"""How users see a job record over HTTP: the body of ``GET /j/<id>/record``, of a ``?wait=``
run, and of a callback POST. The frontend answers it and the jqmanager POSTs it to callbacks,
so it lives here once rather than in either; the records themselves
(:mod:`faas_trio.core.records`) know nothing of HTTP.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .records import JobRecord

__all__ = ["public_record"]


def public_record(record: JobRecord) -> dict[str, Any]:
    """Every field of ``record``, ``args`` and ``value`` as JSON values rather than texts, plus
    ``queue_ms`` (submission to start; None until it started)."""
    out: dict[str, Any] = msgspec.to_builtins(record)
    out["args"] = _json_value(record.args)
    out["value"] = _json_value(record.value)
    started = record.started_at
    out["queue_ms"] = (
        max(0.0, (started - record.created_at) * 1000.0)
        if started is not None and record.created_at > 0
        else None
    )
    return out


def _json_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        # A value that is not JSON is a bug upstream; show it as the text it is, not fail.
        return text
