"""``GET /ui``: the web console, static files shipped in the package, no build step.

The files (``console/``: one HTML page, one style sheet, plain JavaScript modules) are read
once when the app is built and served from memory; only the names listed in :data:`FILES`
are served, so no path a request names ever reaches the file system.

Every answer carries a strict Content-Security-Policy: scripts and styles only from this
origin (no inline script or style, no ``eval``), requests only to this origin, no framing,
no plugins. With the console building its pages from text nodes only, a user's string
(a name, a source, a result, a log) cannot run in another user's (or the admin's) browser.

The console calls the REST API from the browser with the key the person types in, kept in
the tab's ``sessionStorage``; these routes themselves need no key (they hold no data).
"""

from __future__ import annotations

from importlib import resources

from quart_trio import QuartTrio
from quart_trio.wrappers import TrioResponse

from ..core.errors import NotFound

__all__ = ["CONTENT_SECURITY_POLICY", "FILES", "register"]

#: Served file -> its content type.
FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "dom.js": "text/javascript; charset=utf-8",
    "functions.js": "text/javascript; charset=utf-8",
    "jobs.js": "text/javascript; charset=utf-8",
    "groups.js": "text/javascript; charset=utf-8",
    "overview.js": "text/javascript; charset=utf-8",
}

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _load() -> dict[str, bytes]:
    folder = resources.files(__package__).joinpath("console")
    return {name: folder.joinpath(name).read_bytes() for name in FILES}


def register(app: QuartTrio) -> None:
    """Add ``GET /ui`` (the page) and ``GET /ui/<file>`` (its scripts and style)."""
    contents = _load()

    def serve(name: str) -> TrioResponse:
        response = TrioResponse(contents[name], content_type=FILES[name])
        response.headers.update(_HEADERS)
        return response

    @app.get("/ui")
    async def console_page() -> TrioResponse:
        """The console's page. Cancellation: answers at once."""
        return serve("index.html")

    @app.get("/ui/<name>")
    async def console_file(name: str) -> TrioResponse:
        """One of the console's files; 404 for any other name. Cancellation: at once."""
        if name not in FILES:
            raise NotFound(f"the console has no file {name!r}")
        return serve(name)
