"""Checking a ``?callback=`` URL before a job that carries it is submitted.

jqmanager POSTs the finished record to the URL. So that nobody can make the platform send
requests into its own network, the URL's host (or ``host:port``) must be in
``FAAS_CALLBACK_ALLOW``; with the setting empty, callbacks are refused. This is the only place
a callback URL enters the system, so jqmanager delivers without checking again.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from ..core.errors import BadRequest

__all__ = ["MAX_CALLBACK_URL", "check_callback"]

#: Longest callback URL accepted, characters.
MAX_CALLBACK_URL = 2000

_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_callback(raw: str | None, allow: tuple[str, ...]) -> str | None:
    """``raw`` if it is an http(s) URL to an allowed host; None when absent.

    An entry of ``allow`` without a port allows the host on any port; with one, only there.

    Raises:
        BadRequest: malformed, not http(s), has credentials, too long, or the host is not
            allowed (the message names ``FAAS_CALLBACK_ALLOW``).
    """
    if raw is None or raw == "":
        return None
    if not allow:
        raise BadRequest("callbacks are disabled here (FAAS_CALLBACK_ALLOW is empty)")
    if len(raw) > MAX_CALLBACK_URL:
        raise BadRequest(f"callback URL is longer than {MAX_CALLBACK_URL} characters")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise BadRequest("callback is not a valid URL") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        raise BadRequest("callback must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise BadRequest("callback URL must not carry credentials")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in raw):
        raise BadRequest("callback URL contains spaces or control characters")
    shown = f"[{host}]" if ":" in host else host
    port = port if port is not None else _DEFAULT_PORTS[scheme]
    if shown not in allow and f"{shown}:{port}" not in allow:
        raise BadRequest(f"callback host {shown}:{port} is not allowed by FAAS_CALLBACK_ALLOW")
    return raw
