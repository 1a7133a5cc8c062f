"""The frontend's Quart application: the old REST API plus its extensions.

The app holds no connections of its own; it is built around :class:`~.peers.Peers` opened by
``serve`` (or by a test), so building one is cheap and every request reuses the same clients.

========================================  ==================================================
route                                     res on success
========================================  ==================================================
POST   /u/<user>                          1 (open mode); {user, api_key} (keys mode)
DELETE /u/<user>                          1
GET    /u/<user>/time                     execution time, ms
GET    /u/<user>/jobs                     recent job records, newest first (?state= ?limit=)
GET    /u/<user>/fn                       {name: source}
GET    /u/<user>/fn/<fn>                  {f_name, src, runtime, timeout, memory_mb, version}
POST   /u/<user>/fn/<fn>                  1   (?runtime= ?timeout= ?memory_mb=)
DELETE /u/<user>/fn/<fn>                  1
POST   /u/<user>/fn/<fn>/run              job id; with ?wait=S the record (200 / 202)
                                          (?callback=URL, rate limited per user)
GET    /j/<id>                            0 or 1
GET    /j/<id>/res                        result string (202 while not final; ?wait=S)
GET    /j/<id>/record                     the job record (?wait=S)
GET    /j/<id>/logs                       the job's output
POST   /u/<user>/fn/<fn>/map              {id, total, jobs} (?wait=S: + results, 200 / 202)
GET    /g/<id>                            the group, its counts by state, timing (?wait=S)
GET    /g/<id>/results                    items in input order (?offset= ?limit=; NDJSON)
DELETE /g/<id>                            items cancelled
GET    /u/<user>/groups                   the user's groups, newest first (?limit=)
DELETE /j/<id>                            1
GET    /healthz, /readyz                  "ok" (no key needed)
GET    /metrics                           Prometheus text (admin key in keys mode)
GET    /openapi.json                      the OpenAPI 3 document (no key needed)
GET    /ui, /ui/<file>                    the web console's page and files (no key needed)
========================================  ==================================================

Who may call what is decided by :mod:`.auth`; every route calls it before touching data.
"""

from __future__ import annotations

from quart import Response, request
from quart_trio import QuartTrio

from . import console, functions, groups, health, jobs, metrics, openapi, secrets, users
from .auth import Auth
from .config import FrontendConfig
from .peers import Peers
from .registration import Registration
from .responses import register_error_handlers

__all__ = ["create_app"]


def create_app(config: FrontendConfig, peers: Peers) -> QuartTrio:
    """A ready-to-serve app answering every route above through ``peers``."""
    app = QuartTrio("faas_trio.frontend")
    app.request_class = groups.request_class(app.request_class, config)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body
    # OPTIONS would answer an empty 200 outside the envelope; let it be a 405 instead.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    # The longest handler holds ?wait= plus an RPC deadline before it answers.
    app.config["RESPONSE_TIMEOUT"] = config.max_wait + config.rpc_timeout + 5.0
    register_error_handlers(app, max_body=config.max_body)

    @app.after_request
    async def read_unread_body(response: Response) -> Response:
        # An answer given before the body was read (a bad query, say) must still consume it:
        # a keep-alive connection with an unread body stalls the next request sent on it.
        if _body_arrived(request.body):
            return response
        try:
            await request.get_data()
        except Exception:
            response.headers["Connection"] = "close"
        return response

    auth = Auth(config, peers)
    users.register(app, peers, auth, Registration(config.registration, config.registration_rate))
    functions.register(app, peers, config, auth)
    secrets.register(app, peers, auth)
    jobs.register(app, peers, config, auth)
    groups.register(app, peers, config, auth)
    health.register(app, peers, config)
    metrics.register(app, peers, auth)
    openapi.register(app, config)
    console.register(app)
    return app


def _body_arrived(body: object) -> bool:
    """Whether Quart holds the whole body already (reading it again would cost a cancel scope
    and a checkpoint on every request). Quart has no public flag for it: its private ones are
    read, and a Quart without them gets the body read again, never an error."""
    complete = getattr(body, "_complete", None)
    return (
        complete is not None
        and complete.is_set()
        and getattr(body, "_must_raise", True) is None
    )
