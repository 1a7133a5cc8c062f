"""Every HTTP answer the frontend gives: the envelope, and errors mapped to statuses.

Every body is the old API's envelope ``{"error": bool, "res": ...}``: successes, our own
errors, and the framework's (unknown route 404, wrong method 405, body too large 413), so a
client never sees an HTML error page. This module is the one place that decides a status:

- a :class:`~faas_trio.core.errors.FaasError` answers its ``http_status`` with its message in
  ``res`` (and ``Retry-After`` when it carries ``retry_after``; ``WWW-Authenticate`` on 401);
- a framework ``HTTPException`` answers its own status with a short message;
- anything else is a bug: it is logged and answered 500 ``"internal error"``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import msgspec
from quart import request
from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse
from werkzeug.exceptions import HTTPException

from ..core.errors import FaasError, Unauthorized

__all__ = ["envelope", "error_response", "register_error_handlers"]

_log = logging.getLogger("faas.frontend")
_encoder = msgspec.json.Encoder()


def envelope(res: Any, status: int = 200, *, error: bool = False) -> TrioResponse:
    """A JSON response holding ``{"error": error, "res": res}``."""
    body = _encoder.encode({"error": error, "res": res})
    return TrioResponse(body, status=status, content_type="application/json")


def error_response(exc: FaasError) -> TrioResponse:
    """The answer to ``exc``: its ``http_status``, with its message in ``res``."""
    response = envelope(exc.message, exc.http_status, error=True)
    if exc.retry_after is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if isinstance(exc, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="faas-trio"'
    return response


def _http_error_message(exc: HTTPException, max_body: int) -> str:
    if exc.code == 404:
        return f"no such route: {request.method} {request.path}"
    if exc.code == 405:
        return f"method {request.method} is not allowed on {request.path}"
    if exc.code == 413:
        return f"request body is larger than {max_body} bytes"
    return f"{exc.code} {exc.name}"


def register_error_handlers(app: QuartTrio, *, max_body: int) -> None:
    """Make every error ``app`` can raise answer with the envelope (see the module doc)."""

    async def on_faas_error(exc: FaasError) -> TrioResponse:
        return error_response(exc)

    async def on_http_error(exc: HTTPException) -> TrioResponse:
        return envelope(_http_error_message(exc, max_body), exc.code or 500, error=True)

    async def on_unexpected(exc: Exception) -> TrioResponse:
        _log.error("%s %s failed", request.method, request.path, exc_info=exc)
        return envelope("internal error", 500, error=True)

    app.register_error_handler(FaasError, on_faas_error)
    app.register_error_handler(HTTPException, on_http_error)
    app.register_error_handler(Exception, on_unexpected)
